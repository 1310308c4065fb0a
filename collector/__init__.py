"""The service: OTLP receivers, the query API, alert delivery, the CLI.

Subpackages, in the order data flows through them:
- `ingest`: OTLP/HTTP and OTLP/gRPC receivers for traces, logs and metrics; decode, normalize,
  and the group-commit writers that own every write of ingested rows.
- `api`: the query API under `/api/v1` (FastAPI routers that translate HTTP to `warehouse`).
- `alerting`: the dispatcher that sends the incident outbox to Slack, PagerDuty and webhooks.
- `cli`: the `spendscope` command line.
Modules: `service` (the app factory and its lifespan), `settings` (the one settings object),
`auth` (bearer tokens and tenant scopes), `service_metrics` (Prometheus), `logging_setup`.

`collector` imports `warehouse`; `warehouse` never imports `collector` (`make lint` checks it).
"""
