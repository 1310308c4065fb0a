"""The warehouse: schema, prices, jobs, detection and the read models behind the API.

Subpackages:
- `core`: the leaf (UTC boundary, row helper, error base).
- `store`: opening and migrating the DuckDB database, transactions, staging, tenant scope.
- `spans`: writing ingested spans; attribution across the trace.
- `pricing`: the price book and the pricing job.
- `config`: the user's files (prices, detection) and the rows that mirror them.
- `outcomes`: value-unit outcomes, reported or extracted from spans.
- `rollups`: cost and usage per hour, day and session.
- `gpu`: GPU prices, efficiency and allocation of self-hosted inference.
- `forecast`: the one month-end forecast and its prediction interval.
- `detection`: spend anomalies, budgets and runaway sessions, as signals.
- `incidents`: the alert lifecycle, policy, mutes and outbox.
- `queries`: typed read models behind the API.
- `jobs`: the incremental job machinery and its scheduler.
- `projections`: spend at 10x and 100x the traffic from measured drivers.

`warehouse` never imports `collector`, FastAPI or httpx (`make lint` checks it).
"""
