"""Logs: outcome log records. `decode` (OTLP logs -> outcome rows), `receiver`
(`POST /v1/logs`, `LogsService/Export`), `outcome_writer` (outcomes by group commit).
"""
