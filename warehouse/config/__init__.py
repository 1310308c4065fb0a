"""The user's configuration files and the rows that mirror them: `price_file`
(`prices.toml`), `detection_file` (`detection.toml`), `file_rows` (keep a file's rows in sync).
"""
