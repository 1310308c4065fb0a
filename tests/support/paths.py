"""Where the checkout is, for the tests that read its docs or sources or run a command in it,
wherever the test module sits under tests/."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "tests" / "artifacts"  # not committed (.gitignore)
