"""The user's configuration files and the rows that mirror them: `price_file`
(`prices.toml`), `detection_file` (`detection.toml`), `file_rows` (keep a file's rows in sync),
`sync` (the operations that load them, store the GPU settings and the alert policy, and add or
delete prices; each in its own transaction).
"""
