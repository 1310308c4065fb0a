"""Alert delivery: `dispatcher` sends the warehouse's outbox to the channels, in a thread of
its own, with retries; `channel` says what a channel is and what every alert says;
`channels/` holds Slack, PagerDuty and the generic webhook; `wiring` builds the channels and
the alert policy from the settings.
"""
