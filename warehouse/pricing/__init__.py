"""Pricing: `pricebook` (which price applies to a model as seen in spans, and when; its value
types in `periods`, the genai-prices side in `catalog`) and `job` (exact cost per model call,
re-priced when prices change; its steps in `keys` and `calls`).
"""
