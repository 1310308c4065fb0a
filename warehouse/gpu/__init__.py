"""Self-hosted inference: `prices` (USD per GPU-hour), `config`, `metric_points` (stored
metrics), `efficiency` (per hour and GPU, what it cost and did), `allocation` (GPU cost
spread over the calls it served).
"""
