"""Traces: `decode` (OTLP protobuf/JSON -> span columns, with the attributes of a request
decoded in bulk by `bulk` through the `otlp_views`),
`http_receiver` (`POST /v1/traces`), `grpc_receiver` (`TraceService/Export`), `writer` (spans
into DuckDB by group commit).
"""
