"""Traces: `decode` (OTLP protobuf/JSON -> span columns, with the bulk `otlp_views`),
`http_receiver` (`POST /v1/traces`), `grpc_receiver` (`TraceService/Export`), `writer` (spans
into DuckDB by group commit).
"""
