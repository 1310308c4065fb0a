"""Read models behind the API, each in the caller's tenant scope: `calls`, `costs`,
`unit_economics`, `outcomes`, `alerts`, `anomalies`, `gpu`, `prices`, `search` (sessions,
traces and users by id).
"""
