"""Hand-written Alembic migrations of the warehouse schema (see warehouse/store/migrate.py)."""
