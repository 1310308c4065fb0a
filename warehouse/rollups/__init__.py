"""Rollups: `job` (cost and usage per hour and day x dimensions, and per session)."""
