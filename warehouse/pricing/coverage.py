"""Which span models an override covers: its exact name, the family the name stands for, or
its pattern. The rules are in `docs/pricing.md` ("Which models an override covers").

An exact override names a model `F`. It covers a span's model `m` (its provider matching):

- `exact`: `m` is `F` (case-insensitive);
- `family`, when `F` is a family name (it carries no date, `-latest` or Bedrock `-vN:M`
  suffix itself) and one of:
  1. `m` without its routing prefix (`openai/gpt-4o`) or Bedrock region and vendor prefixes
     (`us.anthropic.claude-...`) is `F`;
  2. the catalog (genai-prices' `find_model`, under the span's provider) resolves both `m`
     and `F`, to the same catalog model (`gpt-4o-2024-11-20` is `gpt-4o`);
  3. the catalog does not resolve both, and `m` (prefixes removed) is `F` followed by a date
     suffix (`-2024-08-06`, `-20250929`, `@20250929`, `-0613`) or `-latest`, then optionally a
     Bedrock version (`-v1:0`). When the catalog resolves both to *different* models
     (`gpt-4o-2024-05-13` has its own list price) it is not the family's.

A glob or regex override covers the names its pattern matches (`pattern`). Precedence among
overrides in effect: exact, then family, then pattern (`RANKS`).
"""

from __future__ import annotations

import functools
import re
from typing import Literal, Protocol

Coverage = Literal["exact", "family", "pattern"]
RANKS: dict[Coverage, int] = {"pattern": 0, "family": 1, "exact": 2}

_DATE = r"(?:[-@](?:\d{4}-\d{2}-\d{2}|\d{8}|(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01]))|-latest)"
_VERSION = r"(?:-v\d+:\d+)"
_SNAPSHOT = re.compile(rf".*(?:{_DATE}{_VERSION}?|{_VERSION})")
# Bedrock ids: `[region.]vendor.model`; a name segment with a digit (`gpt-4.1`) is the model.
_DOTTED_PREFIX = re.compile(r"^(?:[a-z][a-z-]*\.)+(?=[a-z])")


class ModelResolver(Protocol):
    """The catalog's side of coverage: the catalog model a (provider, model) resolves to."""

    def model_key(self, provider: str, model: str) -> object | None: ...


def is_family_name(name: str) -> bool:
    """A name without a snapshot suffix (`gpt-4o`, not `gpt-4o-2024-08-06` or `...-latest`)."""
    return _SNAPSHOT.fullmatch(name.lower()) is None


def stripped_names(model: str) -> list[str]:
    """`model` without a routing prefix (up to the last `/`), then without Bedrock region and
    vendor prefixes; each form once, lower-cased, the model itself excluded."""
    lowered = model.lower()
    names: list[str] = []
    base = lowered.rsplit("/", 1)[-1]
    for name in (base, _DOTTED_PREFIX.sub("", base)):
        if name and name != lowered and name not in names:
            names.append(name)
    return names


@functools.lru_cache(maxsize=4096)
def _snapshot_of(family: str) -> re.Pattern[str]:
    return re.compile(rf"{re.escape(family)}(?:{_DATE}{_VERSION}?|{_VERSION})")


def family_covers(
    family: str, provider: str, model: str, catalog: ModelResolver | None = None
) -> bool:
    """Whether `model` (as seen in spans, under `provider`) is of the family `family`."""
    family, lowered = family.lower(), model.lower()
    if not is_family_name(family) or lowered == family:
        return False
    names = stripped_names(lowered)
    if family in names:
        return True
    if catalog is not None:
        own = catalog.model_key(provider, lowered)
        of_family = catalog.model_key(provider, family) if own is not None else None
        if own is not None and of_family is not None:
            return own == of_family
    pattern = _snapshot_of(family)
    return any(pattern.fullmatch(name) for name in (lowered, *names))
