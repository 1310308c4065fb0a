"""Traces: `decode` (OTLP protobuf/JSON -> span columns, with the attributes of a request
decoded in bulk by `bulk` through the `otlp_views`),
`grpc_receiver` (the gRPC server, `TraceService/Export` beside the other signals' services),
`writer` (spans into DuckDB by group commit). `POST /v1/traces` is served from the ingest
path's signal (`collector.ingest.pipeline`, `collector.ingest.otlp_http`).
"""
