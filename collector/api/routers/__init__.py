"""One router per resource under `/api/v1`: alerts, costs (with latency beside cost, and its
OpenAPI examples), detection, export (FOCUS files), forecast (the month-end forecast and the
projections), gpu, outcomes, prices, reconciliation, search, value_units.
"""
