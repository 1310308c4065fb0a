"""The CI cost gate: a *run* is every model call a test suite made, with its critical path,
tokens and cost (`run`: read from the warehouse, kept as a JSON file); `compare` measures
what changed per path between a base and a head run, with a bootstrap interval and the change
split into calls, tokens, price and cache; `policy` holds the thresholds (a TOML file) and
gives each path its verdict; `report` writes it for a terminal, a pull-request comment and
machines. See docs/gate.md.
"""
