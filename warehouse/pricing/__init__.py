"""Pricing: `pricebook` (which price applies to a model as seen in spans, and when) and
`job` (exact cost per model call, re-priced when prices change).
"""
