"""Outcomes (the business results value units count): `records` (validation and storage)
and `extraction` (the job that takes outcomes reported inside spans).
"""
