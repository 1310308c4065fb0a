"""The live ledger behind the budget check: spend per session and per budget period, kept in
memory as spans are committed, so an agent or gateway can ask allow / deny before a model
call without waiting for the jobs (docs/budgets.md).

- `ledger`: the counters (`LiveLedger`), `check` against the limits, `CheckResult`;
- `limits`: the detection file's `[budget_check]` section (`CheckLimits`, `load_limits`);
- `feed`: credits committed spans, priced and attributed in memory (`LedgerFeed`);
- `call_price`: one call's cost from the price book's periods;
- `seed`: fills the ledger at start-up from what the jobs priced and what they have not.
"""
