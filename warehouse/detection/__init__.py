"""Detection: each detector turns data into `signals` for the alert lifecycle.
`anomalies` (spend anomalies, with `series`, `baseline`, `state` and `explain`), `budgets`,
`runaway` (runaway sessions); `config` holds the detectors' thresholds.
"""
