"""What-if savings from recorded calls (docs/savings.md): what the calls spendscope already
holds would have cost under another model or routing rule, with prompt caching, or at batch
prices, per feature per month with a bootstrap interval over days.

Modules: `reprice` (the recorded token counts priced under a target model by the price
book: the one function the what-ifs share, reusable by projections), `tokenizers` (token
count ratios between models, only where published), `recorded` (the recorded calls of a
window, in the caller's tenant scope), `interval` (a monthly figure and its interval from
daily amounts), `quality` (value-unit success and error rates per model within a feature),
`whatif` (a routing rule), `caching` and `batch` (their opportunities) and `opportunities`
(all of them, ranked by dollars per month).
"""
