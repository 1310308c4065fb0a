"""One router per resource under `/api/v1`: alerts, costs (with its OpenAPI examples),
detection, gpu, outcomes, prices, reconciliation, search, value_units.
"""
