"""Metrics: GPU and serving metrics. `signals` (which metrics are kept and what they mean),
`decode` (OTLP metrics -> points), `receiver` (`POST /v1/metrics`, `MetricsService/Export`),
`writer` (points by group commit).
"""
