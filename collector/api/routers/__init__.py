"""One router per resource under `/api/v1`: alerts, costs (with its OpenAPI examples),
detection, gpu, latency (beside cost), outcomes, prices,
reconciliation, search, value_units.
"""
