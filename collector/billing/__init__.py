"""Pulling the providers' own usage and cost records from their admin APIs (httpx), for the
reconciliation with the bill (`warehouse.reconciliation`). Surface: `admin_api.pull`."""
