"""The jobs: `incremental` (a pure step over a range of ingest batches, plus its
bookkeeping, and the registry of jobs) and `scheduler` (APScheduler in the serving process).
"""
