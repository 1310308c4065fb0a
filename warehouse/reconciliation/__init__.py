"""Reconciliation with the bill: the providers' own usage and cost records against the
span-derived cost, per day x provider x model, the gap split into named causes.

Surface: `formats.parse_bill` (any bill file -> `ParsedBill`, or `BillFileError` naming the
rows), `store.import_bill` / `store.list_imports`, `load.reconciliation` (the rows of a
window, `compute.Row`), `detector` (the `reconciliation_gap` job), `config`
(`ReconciliationConfig`, the `[reconciliation]` table of the detection file).
"""
