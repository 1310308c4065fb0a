"""The alert lifecycle: `lifecycle` (signals -> incidents -> notices), `policy` (severity,
quiet times, cooldowns, routes), `mutes`, `outbox` (what must be sent, and every attempt).
"""
