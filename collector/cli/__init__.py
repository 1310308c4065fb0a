"""The `spendscope` command line: `main` (serve, migrate, demo, jobs, dashboard) and
`prices` (`spendscope prices list|check`), `planning` (`spendscope forecast`, `project`),
`client` (the running service's API and the options that name it).
"""
