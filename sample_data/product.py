"""The sample product: an AI help desk and writing suite sold to a handful of tenants.

Its features, their value units, who uses it, and the models behind each feature. The
traffic generator (`sample_data.traffic`) emits it; `spendscope demo` configures the value
units below so the dashboard shows cost per value unit from the first minute.
"""

from __future__ import annotations

import random

SUPPORT = "support-agent"
SEARCH = "search"
WRITING = "writing-assistant"
SUMMARIZER = "summarizer"
CLASSIFICATION = "classification"

# The value unit of each sample feature, as `spendscope demo` configures it.
VALUE_UNITS = {
    SUPPORT: "ticket_resolved",
    SEARCH: "search_succeeded",
    WRITING: "draft_saved",
    SUMMARIZER: "summary_accepted",
    CLASSIFICATION: "ticket_classified",
}

# Interactive features and their share of the sessions (the classification batch job runs
# on a schedule of its own).
SESSION_MIX = {SUPPORT: 0.30, SEARCH: 0.35, WRITING: 0.15, SUMMARIZER: 0.20}

# Tenants and their relative size: a few large customers and a long tail.
TENANT_WEIGHTS = {
    "acme": 0.34,
    "globex": 0.22,
    "initech": 0.16,
    "umbrella": 0.12,
    "hooli": 0.09,
    "stark": 0.07,
}
USERS = [f"user-{n:03d}" for n in range(120)]
TENANTS = list(TENANT_WEIGHTS)

PRODUCTION = "production"
STAGING = "staging"
STAGING_SHARE = 0.06

# The self-hosted deployment: a vLLM server on the team's own GPUs.
VLLM_ADDRESS = "vllm-llama.gpu.internal"
VLLM_PORT = 8000
VLLM_MODEL = "meta-llama/Llama-3.1-8B-Instruct"


def tenant_of(user: str) -> str:
    """Each user belongs to one tenant, the same one for every seed."""
    rng = random.Random(f"tenant-of-{user}")
    return rng.choices(TENANTS, weights=list(TENANT_WEIGHTS.values()))[0]
