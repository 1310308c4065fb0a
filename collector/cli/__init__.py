"""The `spendscope` command line: `main` (serve, migrate, demo, jobs, dashboard) and
`prices` (`spendscope prices list|check`).
"""
