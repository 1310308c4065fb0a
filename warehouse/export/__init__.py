"""Exports of the warehouse in standard formats: FOCUS 1.2 (`focus`: the rows, from the
priced calls; `files`: as CSV or Parquet)."""
