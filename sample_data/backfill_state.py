"""How far the demo's backfill got, kept beside the data (`<data dir>/demo-backfill.json`).

Written when a backfill starts, updated as sessions are sent, marked complete once every
span, GPU scrape and outcome of it was acknowledged. A later demo on the same data finds an
incomplete one and sends the same window again: its ids come from the window, so the
collector stores only what was missing (`sample_data.sender.SampleSender.backfill`).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path

FILE_NAME = "demo-backfill.json"


@dataclass(frozen=True)
class BackfillState:
    """One backfill: its window and seed, and its progress."""

    days: float
    end: str  # ISO 8601, UTC
    seed: int
    sessions_sent: int = 0
    sessions_total: int = 0
    complete: bool = False

    @classmethod
    def new(cls, days: float, seed: int, end: dt.datetime | None = None) -> BackfillState:
        return cls(days, (end or dt.datetime.now(dt.UTC)).isoformat(), seed)

    @property
    def end_at(self) -> dt.datetime:
        return dt.datetime.fromisoformat(self.end)

    @property
    def start_at(self) -> dt.datetime:
        """As `SampleSender.backfill` computes it from the same days and end."""
        return self.end_at - dt.timedelta(days=self.days)

    def progressed(self, sent: int, total: int, complete: bool = False) -> BackfillState:
        return replace(self, sessions_sent=sent, sessions_total=total, complete=complete)

    def describe(self) -> str:
        """`12,345 of 30,000 sessions of 28 days up to 2026-11-23 14:05 UTC`."""
        total = f"{self.sessions_total:,}" if self.sessions_total else "?"
        return (
            f"{self.sessions_sent:,} of {total} sessions of {self.days:g} days up to "
            f"{self.end_at:%Y-%m-%d %H:%M} UTC"
        )


def load(data_dir: Path) -> BackfillState | None:
    """The data directory's backfill, or None (none yet, or a file not understood)."""
    try:
        fields = json.loads((data_dir / FILE_NAME).read_text())
        return BackfillState(**fields)
    except (FileNotFoundError, ValueError, TypeError):
        return None


def save(data_dir: Path, state: BackfillState) -> None:
    """Replaces the file whole (write, then rename), so it is never half-written."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / FILE_NAME
    partial = path.with_suffix(".json.partial")
    partial.write_text(json.dumps(asdict(state), indent=2) + "\n")
    os.replace(partial, path)
