"""Ingest: OTLP in, rows committed. Receivers only validate, decode off the event loop,
enqueue and await the commit (200 means durable).

- `otlp_http`, `otlp_grpc`: the transport rules shared by every signal (bodies, limits,
  status codes, Retry-After); `partial_success`, `rejections`: what a response says was
  rejected. Each receiver names its signal once (`otlp_http.OtlpSignal`) for both.
- `traces`, `logs`, `metrics`: one subpackage per signal (decode, receiver, writer).
- `bodies`: content types, undecodable and oversized bodies, gzip / deflate within a limit.
- `anyvalue`: OTLP attribute values and OTLP/JSON fields as Python values (every signal).
- `normalize`: attribute names of the GenAI conventions and instrumentations -> one record,
  with the key tables of `conventions` and the token and cost arithmetic of `usage`.
- `columns`: decoded items as column lists -> one Arrow table per request.
- `group_commit`: one writer thread per kind of row, concurrent requests in one transaction.
- `pipeline`: the one ingest path shared by the HTTP and gRPC trace receivers.
"""
