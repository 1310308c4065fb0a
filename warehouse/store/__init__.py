"""Storage: `database` (open, migrate, the one connection of the process), `migrate`
(Alembic), `transaction`, `staging` (many rows in one statement), `scope` (tenant scope),
`schema` (the SQLAlchemy models the migrations are checked against).
"""
