"""How many tokens a target model would count for the text a recorded call's model counted.

Only a published figure is used. The one this module knows is that two models share a
tokenizer: OpenAI's own tokenizer library, tiktoken, publishes which encoding each OpenAI
model uses (`tiktoken/model.py`, `MODEL_PREFIX_TO_ENCODING` and `MODEL_TO_ENCODING`), so
two models with the same encoding count the same text in exactly the same tokens: ratio
1.0, stated as such. For any other pair (another provider, or two OpenAI encodings) no
provider publishes a ratio for arbitrary text, so the ratio is 1.0 by assumption and the
answer says so: the savings then assume the target counts as many tokens as the source.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

# Model name prefixes -> tiktoken encoding (tiktoken/model.py, as published by OpenAI),
# longest prefix first when looked up.
TIKTOKEN_ENCODINGS: dict[str, str] = {
    "gpt-5": "o200k_base",
    "gpt-4.1": "o200k_base",
    "gpt-4.5": "o200k_base",
    "gpt-4o": "o200k_base",
    "chatgpt-4o": "o200k_base",
    "o1": "o200k_base",
    "o3": "o200k_base",
    "o4-mini": "o200k_base",
    "gpt-4": "cl100k_base",
    "gpt-3.5-turbo": "cl100k_base",
    "gpt-35-turbo": "cl100k_base",
    "text-embedding-3": "cl100k_base",
    "text-embedding-ada-002": "cl100k_base",
}
OPENAI_PROVIDERS = frozenset({"openai", "azure.ai.openai", "azure"})


@dataclass(frozen=True)
class TokenizerRatio:
    """Target tokens per source token, and on what it rests (`published` false: assumed)."""

    ratio: Decimal
    published: bool
    basis: str


def encoding(provider: str, model: str) -> str | None:
    """The tiktoken encoding of an OpenAI model (None: not an OpenAI model it lists)."""
    if provider.lower() not in OPENAI_PROVIDERS:
        return None
    name = model.lower().rsplit("/", 1)[-1]
    for prefix in sorted(TIKTOKEN_ENCODINGS, key=len, reverse=True):
        if name.startswith(prefix):
            return TIKTOKEN_ENCODINGS[prefix]
    return None


def tokenizer_ratio(source: tuple[str, str], target: tuple[str, str]) -> TokenizerRatio:
    """The ratio from the source (provider, model) to the target's, with its basis."""
    if source == target:
        return TokenizerRatio(Decimal(1), True, "the same model")
    ours, theirs = encoding(*source), encoding(*target)
    if ours is not None and ours == theirs:
        return TokenizerRatio(
            Decimal(1), True, f"the same tokenizer ({ours}, tiktoken's published model table)"
        )
    return TokenizerRatio(
        Decimal(1),
        False,
        f"assumed 1.0: no published token ratio between {source[1]} and {target[1]}",
    )
