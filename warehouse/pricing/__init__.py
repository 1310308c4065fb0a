"""Pricing: `pricebook` (which price applies to a model as seen in spans, and when; its value
types in `periods`, the genai-prices side in `catalog`, which models an override covers in
`coverage`) and `job` (exact cost per model call, re-priced when prices change; its steps in
`keys` and `calls`). The catalog in force is the bundled genai-prices data or a data file the
user supplies: checked in `catalog_file`, kept in the database by `catalog_store`.
"""
