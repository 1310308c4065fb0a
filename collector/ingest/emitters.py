"""How each instrumentation counts tokens, as a table: the emitter, keyed by its
instrumentation scope name (and, where it matters, the provider or the attribute family),
and the rule it follows.

Instrumentations disagree on what `input_tokens` and `output_tokens` contain: OpenLIT's
Anthropic spans carry the uncached input only, the Vercel AI SDK v5 carries Anthropic cache
writes only in `ai.response.providerMetadata`, OpenLIT and Vercel report Gemini thinking
beside the answer, OpenLLMetry drops it. Each row below was read in the emitter's own source
(the research is in docs/normalization.md, "Conventions by instrumentation"); the test named
in the row builds a span shaped as that source emits it. `collector.ingest.usage` applies the
rule. A span whose scope no row names is read by the most likely rule, and the record says so
in `pricing_assumption`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# What `input_tokens` holds: every input token (the OTel rule), the uncached ones only, or
# unknown (guessed from the counts, and flagged).
InputRule = Literal["inclusive", "exclusive", "guess"]
# Where reasoning tokens are: inside `output_tokens`, reported beside it (to be added), not
# reported at all (recovered from a provider total where one is sent), or unknown.
ReasoningRule = Literal["inside", "beside", "dropped", "guess"]
# Which raw provider JSON the emitter sends (cache TTL split, service tier, fees): Logfire's
# usage object, Vercel's provider metadata, OpenInference's response body and request
# parameters (`output.value`, `llm.invocation_parameters`).
RawUsage = Literal["none", "logfire", "vercel", "openinference"]
# Which service tier is the served one: the response's beats the request's; or, for a
# streamed Responses API call, the request's when the two differ (OpenLIT writes its
# placeholder "default" as the response's there, whatever the response said).
TierRule = Literal["response", "request-when-streamed"]

# `pricing_assumption` codes set by the normalizer (docs/pricing.md lists them all).
INPUT_GUESSED = "input_inclusion_guessed"
INPUT_CONTRADICTED = "input_inclusion_contradicted"
REASONING_GUESSED = "reasoning_inclusion_guessed"
REASONING_FROM_TOTAL = "reasoning_from_total"
REASONING_NOT_REPORTED = "reasoning_not_reported"
CACHE_NOT_REPORTED = "cache_not_reported"
TIER_UNKNOWN = "service_tier_unknown"
TIER_FROM_REQUEST = "service_tier_from_request"


@dataclass(frozen=True)
class Emitter:
    """One row: an instrumentation, the spans it matches, its rule and the proving test."""

    instrumentation: str
    scope: str  # the scope name, or its dotted prefix (`logfire` matches `logfire.openai`)
    providers: tuple[str, ...]  # canonical providers this row is for; () = any
    input: InputRule
    reasoning: ReasoningRule
    raw: RawUsage = "none"
    tier: TierRule = "response"
    version: str = ""  # '' any; Vercel: 'v5' (no `ai.usage.*TokenDetails.*`) or 'v6+'
    provider: str | None = None  # the provider the scope implies, over what the span says
    flag: str | None = None  # a standing assumption for every call of this emitter
    test: str = ""  # the test case id in tests/collector/ingest/test_conventions.py


GEMINI = ("gcp.gemini", "gcp.vertex_ai", "gcp.gen_ai")
ANTHROPIC_LIKE = ("anthropic", "aws.bedrock")
TL = "opentelemetry.instrumentation"  # OpenLLMetry and the OTel contrib packages share it
OI = "openinference.instrumentation"
OL = "openlit.instrumentation"

# First matching row wins: provider-specific rows come before the row for any provider.
EMITTERS: tuple[Emitter, ...] = (
    Emitter("OpenLLMetry", f"{TL}.openai", (), "inclusive", "inside", test="openllmetry-openai"),
    Emitter(
        "OpenLLMetry", f"{TL}.anthropic", (), "inclusive", "inside", test="openllmetry-anthropic"
    ),
    Emitter(
        "OpenLLMetry",
        f"{TL}.google_generativeai",
        (),
        "inclusive",
        "dropped",
        test="openllmetry-gemini",
    ),
    Emitter(
        "OpenLLMetry, OTel contrib",
        f"{TL}.vertexai",
        (),
        "inclusive",
        "dropped",
        provider="gcp.vertex_ai",
        test="openllmetry-vertexai",
    ),
    Emitter("OpenLLMetry", f"{TL}.bedrock", (), "exclusive", "inside", test="openllmetry-bedrock"),
    Emitter(
        "OpenLLMetry", f"{TL}.langchain", (), "inclusive", "inside", test="openllmetry-langchain"
    ),
    Emitter(
        "OTel contrib",
        f"{TL}.openai_v2",
        (),
        "inclusive",
        "inside",
        flag=CACHE_NOT_REPORTED,
        test="otel-openai-v2",
    ),
    Emitter(
        "OTel contrib", f"{TL}.google_genai", (), "inclusive", "inside", test="otel-google-genai"
    ),
    Emitter(
        "OTel python-genai", f"{TL}.genai", (), "inclusive", "inside", test="otel-genai-anthropic"
    ),
    # OpenInference has no tier or cache TTL attribute: both only in the JSON it records.
    Emitter(
        "OpenInference",
        f"{OI}.openai",
        (),
        "inclusive",
        "inside",
        raw="openinference",
        test="oi-openai",
    ),
    Emitter(
        "OpenInference",
        f"{OI}.anthropic",
        (),
        "inclusive",
        "inside",
        raw="openinference",
        test="oi-anthropic",
    ),
    Emitter(
        "OpenInference",
        f"{OI}.langchain",
        GEMINI,
        "inclusive",
        "dropped",
        test="oi-langchain-gemini",
    ),
    Emitter("OpenInference", f"{OI}.langchain", (), "inclusive", "inside", test="oi-langchain"),
    Emitter("OpenInference", f"{OI}.llama_index", (), "inclusive", "inside", test="oi-llama-index"),
    Emitter("OpenInference", f"{OI}.litellm", (), "inclusive", "inside", test="oi-litellm"),
    Emitter(
        "OpenLIT",
        f"{OL}.openai",
        (),
        "inclusive",
        "inside",
        tier="request-when-streamed",
        test="openlit-openai",
    ),
    Emitter("OpenLIT", f"{OL}.anthropic", (), "exclusive", "inside", test="openlit-anthropic"),
    Emitter("OpenLIT", f"{OL}.google_ai_studio", (), "inclusive", "beside", test="openlit-gemini"),
    Emitter(
        "OpenLIT",
        f"{OL}.vertexai",
        (),
        "inclusive",
        "dropped",
        provider="gcp.vertex_ai",
        test="openlit-vertexai",
    ),
    Emitter("OpenLIT", f"{OL}.litellm", (), "inclusive", "inside", test="openlit-litellm"),
    Emitter("Pydantic AI", "pydantic-ai", (), "inclusive", "inside", test="pydantic-ai"),
    Emitter(
        "Logfire", "logfire", (), "inclusive", "inside", raw="logfire", test="logfire-anthropic"
    ),
    Emitter(
        "Vercel AI SDK",
        "ai",
        ANTHROPIC_LIKE,
        "exclusive",
        "inside",
        raw="vercel",
        version="v5",
        test="vercel-v5-anthropic",
    ),
    Emitter(
        "Vercel AI SDK",
        "ai",
        GEMINI,
        "inclusive",
        "beside",
        raw="vercel",
        version="v5",
        test="vercel-v5-google",
    ),
    Emitter(
        "Vercel AI SDK",
        "ai",
        (),
        "inclusive",
        "inside",
        raw="vercel",
        version="v5",
        test="vercel-v5-openai",
    ),
    Emitter(
        "Vercel AI SDK",
        "ai",
        (),
        "inclusive",
        "inside",
        raw="vercel",
        version="v6+",
        test="vercel-v6",
    ),
    Emitter(
        "Vercel AI SDK v7 (@ai-sdk/otel)", "gen_ai", (), "inclusive", "inside", test="vercel-v7"
    ),
    # LiteLLM's Anthropic `prompt_tokens` adds cache reads, and cache writes only in newer
    # releases; no cache attribute is sent, so cached input is priced as input.
    Emitter(
        "LiteLLM",
        "litellm",
        (),
        "inclusive",
        "inside",
        flag=CACHE_NOT_REPORTED,
        test="litellm-proxy",
    ),
)

# A span from a scope no row names: the counts decide, and the record is flagged.
UNKNOWN = Emitter("(unknown scope)", "", (), "guess", "guess", test="unknown-scope-guessed")


def _scope_matches(row_scope: str, scope: str) -> bool:
    return scope == row_scope or scope.startswith(row_scope + ".")


def find_emitter(scope: str | None, provider: str | None, version: str) -> Emitter:
    """The first row for the scope, provider and version; `UNKNOWN` when none."""
    if scope:
        for row in EMITTERS:
            if not _scope_matches(row.scope, scope):
                continue
            if row.providers and provider not in row.providers:
                continue
            if row.version and row.version != version:
                continue
            return row
    return UNKNOWN


class EmitterMemo:
    """`find_emitter` memoized per (scope, provider, version): bounded, for the hot path."""

    def __init__(self, limit: int = 4096) -> None:
        self._memo: dict[tuple[str | None, str | None, str], Emitter] = {}
        self._limit = limit

    def find(self, scope: str | None, provider: str | None, version: str) -> Emitter:
        key = (scope, provider, version)
        row = self._memo.get(key)
        if row is None:
            row = find_emitter(scope, provider, version)
            if len(self._memo) < self._limit:
                self._memo[key] = row
        return row
