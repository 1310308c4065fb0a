"""The leaf every other package may import: exact money, the one UTC boundary, the error base.

Public surface: `clock.utc` and `clock.naive_utc`, `rows.fetch_dicts` and `rows.dicts`,
`errors.SpendscopeError` and its kinds. Nothing here imports another spendscope module.
"""
