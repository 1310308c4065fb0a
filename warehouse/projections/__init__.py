"""Projections of spend at launch, 10x and 100x the traffic, from measured drivers:
`drivers` (per feature: sessions or requests a day, calls per session, tokens and cost per
call per model), `mix` (a share of one model's calls moved to another, priced with the price
book), `selfhosted` (GPU cost against the API price of the same tokens, and the break-even
multiplier, from the GPU page's figures), `project` (the projection itself).
"""

from warehouse.projections.mix import Swap, parse_swap
from warehouse.projections.project import (
    DAYS,
    LEVELS,
    MONTH_DAYS,
    FeatureProjection,
    Projection,
    project,
)
from warehouse.projections.selfhosted import Deployment

__all__ = [
    "DAYS",
    "LEVELS",
    "MONTH_DAYS",
    "Deployment",
    "FeatureProjection",
    "Projection",
    "Swap",
    "parse_swap",
    "project",
]
