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
# Its GPU, as the DCGM exporter names it, and what the team pays for it: the only price of
# the self-hosted calls, which GPU allocation charges their share of each GPU-hour.
VLLM_DEPLOYMENT = "vllm-llama"
VLLM_GPU_MODEL = "NVIDIA L4"
VLLM_GPU_UUID = "GPU-5f1d2c3e-8a9b-4c7d-9e0f-1a2b3c4d5e6f"
VLLM_GPU_HOST = "gpu-node-1"
# A negotiated rate, as a price override: the writing assistant's model at 20 % off list.
NEGOTIATED_PRICE = {
    "provider": "anthropic",
    "model": "claude-3-5-sonnet-latest",
    "input_mtok": "2.40",
    "output_mtok": "12.00",
    "note": "negotiated: 20 % off list",
}
VLLM_GPU_PRICE = {
    "deployment": VLLM_DEPLOYMENT,
    "pricing": "on_demand",
    "usd_per_gpu_hour": "0.71",
    "note": "one on-demand L4 for the classification batch job",
}


def tenant_of(user: str) -> str:
    """Each user belongs to one tenant, the same one for every seed."""
    rng = random.Random(f"tenant-of-{user}")
    return rng.choices(TENANTS, weights=list(TENANT_WEIGHTS.values()))[0]
