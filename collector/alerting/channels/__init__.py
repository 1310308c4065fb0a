"""The alert channels: `slack` (incoming webhooks, Block Kit), `pagerduty` (Events API v2),
`webhook` (the incident snapshot as JSON).
"""
