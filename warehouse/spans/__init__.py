"""Spans: `insert` (decoded spans into `spans`, idempotent on (trace_id, span_id)) and
`attribution` (model calls inherit dimensions from their ancestors).
"""
