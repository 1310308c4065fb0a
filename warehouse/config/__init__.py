"""The user's configuration files and the rows that mirror them: `price_file`
(`prices.toml`), `detection_file` (`detection.toml`), `file_rows` (keep a file's rows in sync),
`sync` (the operations that load the files and add or delete prices, each in its own
transaction).
"""
