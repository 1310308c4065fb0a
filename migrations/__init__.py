"""Hand-written Alembic migrations of the warehouse schema (see warehouse/migrate.py)."""
