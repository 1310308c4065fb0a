"""One router per resource under `/api/v1`: alerts, costs (with its OpenAPI examples),
detection, forecast (the month-end forecast and the projections), gpu, outcomes, prices,
reconciliation, search, value_units.
"""
