"""Storage: `database` (open, migrate, the one connection of the process), `migrate`
(Alembic), `transaction`, `staging` (many rows in one statement), `scope` (tenant scope),
`schema` (the SQLAlchemy models the migrations are checked against).

The lake backend (a DuckLake shared by many nodes): `lake` (attach it, migrate it, its read
views and statistics), `lake_ddl` (the migrations' DDL in the form a lake takes),
`extensions` (ducklake and postgres loaded offline from their wheels), `upsert` and
`numbering` (upserts and sequences in one form for both backends), `retry` (commits run
again after a conflict), `leadership` (the lease that elects the node running the jobs) and
`compaction` (small files and old snapshots).
"""
