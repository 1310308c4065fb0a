"""A runaway agent stopped by the budget check: `python -m sample_data.runaway_agent`
(docs/budgets.md)."""
