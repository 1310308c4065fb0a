"""Test and benchmark harness shared by `tests/` and `bench/` (bench never imports tests):
`server` (a spendscope subprocess), `child_process` (start, wait, kill), `otlp` (OTLP request
builders), `payloads` (realistic export bodies), `alert_receivers` (loopback Slack, PagerDuty
and webhook receivers), `overload` (the overload measurement `bench.overload` prints and a
test asserts on).
"""
