"""Self-hosting against an API model: what the reference model would charge per million
tokens of the same mix, and the throughput (and utilization) at which the GPUs would cost
the same. GPU cost is fixed per GPU-hour, so cost per token falls as throughput rises."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

MILLION = Decimal(1_000_000)


@dataclass(frozen=True)
class BreakEven:
    reference_per_mtok: Decimal  # the reference model's price for this token mix, per MTok
    ratio: Decimal  # self-hosted cost / reference cost: below 1 self-hosting is cheaper
    tokens_per_gpu_second: float | None  # the throughput at which both cost the same
    utilization: float | None  # the utilization at which both cost the same (may exceed 1)

    @property
    def cheaper(self) -> bool:
        return self.ratio < 1


def break_even(figures: dict[str, Any]) -> BreakEven | None:
    """From `/gpu/efficiency` figures asked with a `reference`; None without a reference,
    priced GPU time or tokens."""
    tokens = int(figures["prompt_tokens"]) + int(figures["generation_tokens"])
    if figures.get("reference_cost_usd") is None or not tokens:
        return None
    reference = Decimal(figures["reference_cost_usd"])
    cost = Decimal(figures["cost_usd"])
    if reference <= 0 or cost <= 0:
        return None
    ratio = cost / reference
    throughput, utilization = figures["tokens_per_gpu_second"], figures["utilization"]
    return BreakEven(
        reference_per_mtok=reference * MILLION / tokens,
        ratio=ratio,
        tokens_per_gpu_second=throughput * float(ratio) if throughput else None,
        utilization=utilization * float(ratio) if utilization else None,
    )
