"""The user's configuration files and the rows that mirror them: `price_file`
(`prices.toml`), `detection_file` (`detection.toml`), `file_rows` (keep a file's rows in sync),
`value_units_file` (`value_units.toml`, each feature's value unit, changed at run time),
`sync` (the operations that load the files and add or delete prices, each in its own
transaction).
"""
