"""Spans shaped exactly as OpenLIT 1.45.0 emits them for the scenarios of
tests/support/provider_stub.py, for tests/e2e/test_billed_as_priced.py.

Why shaped and not real: openlit 1.45.0 requires `openai>=1.92,<3` and `anthropic>=0.42,<1`,
and the project's test client is `openai>=3.54,<4` (pyproject.toml), so pip cannot install
it beside the others ("ResolutionImpossible: openlit 1.45.0 depends on openai<3.0.0 and
>=1.92.0"). The shapes below were read in the source (openlit/openlit@1.45.0:
sdk/python/src/openlit/instrumentation/openai/utils.py l.740-760, 840-916, 964-975,
1059-1062, 1330-1355; openai.py l.72, 299-301; anthropic/utils.py l.496-550, 686-710,
891-896) and
checked against real openlit 1.45.0 (with openai 2.54.0 and anthropic 0.125.0 in a scratch
venv) calling the same stub: every usage attribute below is what it set, value for value.
"""

from __future__ import annotations

from typing import Any

from tests.support.provider_stub import Scenario

SCOPES = {
    "openai": "openlit.instrumentation.openai",
    "anthropic": "openlit.instrumentation.anthropic",
}


def _openai_usage(scenario: Scenario) -> dict[str, Any]:
    usage = scenario.usage
    if scenario.api == "chat":
        prompt, completion = usage["prompt_tokens"], usage["completion_tokens"]
        details = usage["prompt_tokens_details"]
        reasoning = 0  # chat spans carry no reasoning attribute
    else:
        prompt, completion = usage["input_tokens"], usage["output_tokens"]
        details = usage["input_tokens_details"]
        reasoning = usage["output_tokens_details"]["reasoning_tokens"]
    attributes: dict[str, Any] = {
        "gen_ai.usage.input_tokens": prompt,
        "gen_ai.usage.output_tokens": completion,
        "gen_ai.client.token.usage": prompt + completion,
        # OpenLIT prices with its pricing JSON, fetched from GitHub at init: 0 offline.
        "gen_ai.usage.cost": 0,
        "gen_ai.usage.cache_read.input_tokens": details.get("cached_tokens", 0),
        "gen_ai.usage.cache_creation.input_tokens": details.get("cache_write_tokens", 0),
    }
    if reasoning:  # set only when > 0 (utils.py l.1059)
        attributes["gen_ai.usage.reasoning_tokens"] = reasoning
    # No audio attribute at all: `gen_ai.output.type` stays "text" for an audio answer.
    return attributes


def _openai_tiers(scenario: Scenario) -> dict[str, Any]:
    """`openai.response.service_tier`: what the response said, except for a streamed
    Responses call, where OpenLIT keeps its initial "default" (openai.py l.301: the
    handler of `response.completed`, utils.py l.840-870, does not read the tier). The
    request tier only when not "auto"."""
    response_tier = scenario.service_tier
    if scenario.api == "responses" and scenario.stream:
        response_tier = "default"
    tiers = {"openai.response.service_tier": response_tier}
    if scenario.request_tier != "auto":
        tiers["openai.request.service_tier"] = scenario.request_tier
    return tiers


def _anthropic_usage(scenario: Scenario) -> dict[str, Any]:
    """The raw, exclusive `input_tokens`; cache attributes always set, writes without TTL."""
    usage = scenario.usage
    return {
        "gen_ai.usage.input_tokens": usage["input_tokens"],
        "gen_ai.usage.output_tokens": usage["output_tokens"],
        "gen_ai.client.token.usage": usage["input_tokens"] + usage["output_tokens"],
        "gen_ai.usage.cost": 0,
        "gen_ai.usage.cache_read.input_tokens": usage["cache_read_input_tokens"],
        "gen_ai.usage.cache_creation.input_tokens": usage["cache_creation_input_tokens"],
    }


def request_model(scenario: Scenario) -> str:
    """The alias the application asked for (tests/support/instrumented_calls.py does too)."""
    if scenario.provider == "anthropic":
        return "claude-sonnet-4-5"
    return "gpt-5" if scenario.api == "responses" else scenario.model.split("-20")[0]


def openlit_span(scenario: Scenario) -> tuple[str, str, dict[str, Any]]:
    """(scope name, span name, attributes) of OpenLIT's CLIENT span for the scenario's call."""
    model = request_model(scenario)
    attributes: dict[str, Any] = {
        "telemetry.sdk.name": "openlit",
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": scenario.provider,
        "server.address": "127.0.0.1",
        "gen_ai.request.model": model,
        "gen_ai.response.model": scenario.model,
        "gen_ai.request.stream": scenario.stream,
        "gen_ai.response.id": f"stub-{scenario.name}",
        "gen_ai.output.type": "text",
    }
    if scenario.provider == "anthropic":
        attributes |= {"gen_ai.request.max_tokens": 1024} | _anthropic_usage(scenario)
    else:
        api_type = "chat_completions" if scenario.api == "chat" else "responses"
        attributes |= {"openai.api.type": api_type}
        attributes |= _openai_tiers(scenario) | _openai_usage(scenario)
    return SCOPES[scenario.provider], f"chat {model}", attributes
