"""One router per resource under `/api/v1`: alerts, costs (with latency beside cost, and its
OpenAPI examples), detection, export (FOCUS files), gpu, outcomes, prices, reconciliation,
search, value_units.
"""
