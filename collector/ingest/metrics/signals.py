"""Which OTLP metrics spendscope keeps, and what each one means (docs/gpu.md).

A recognized metric maps to a *signal*: a concept the GPU efficiency job reads, whatever
exporter named it. NVIDIA's DCGM exporter (scraped by the OTel Collector's Prometheus
receiver), the OTel hardware conventions (`hw.gpu.*`), vLLM's Prometheus metrics and the
OTel GenAI client token metrics are recognized. Every other metric is acknowledged,
counted as ignored and not stored: it cannot break ingest and takes no room.

Prometheus counters reach OTLP with or without their `_total` suffix (the Collector's name
normalization trims it); both spellings are recognized, in any letter case (OTel SDKs
lower-case instrument names).
"""

from __future__ import annotations

from dataclasses import dataclass

from warehouse.gpu import config as gpu_config


@dataclass(frozen=True, slots=True)
class Signal:
    name: str
    family: str
    # Multiplies the value into the signal's unit (DCGM's GPU_UTIL is a percentage).
    scale: float = 1.0


_SIGNALS: dict[str, Signal] = {
    # NVIDIA DCGM exporter
    "DCGM_FI_PROF_GR_ENGINE_ACTIVE": Signal("gpu_engine_active", "dcgm"),
    "DCGM_FI_DEV_GPU_UTIL": Signal("gpu_utilization", "dcgm", 0.01),
    "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE": Signal("gpu_tensor_active", "dcgm"),
    "DCGM_FI_DEV_FB_USED": Signal("gpu_memory_used_mib", "dcgm"),
    "DCGM_FI_DEV_POWER_USAGE": Signal("gpu_power_watts", "dcgm"),
    "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION": Signal("gpu_energy_mj", "dcgm"),
    # OTel hardware semantic conventions
    "hw.gpu.utilization": Signal("gpu_utilization", "hw.gpu"),
    "hw.gpu.memory.usage": Signal("gpu_memory_used_bytes", "hw.gpu"),
    # vLLM (V1 engine)
    "vllm:prompt_tokens": Signal("vllm_prompt_tokens", "vllm"),
    "vllm:generation_tokens": Signal("vllm_generation_tokens", "vllm"),
    "vllm:num_requests_running": Signal("vllm_requests_running", "vllm"),
    "vllm:num_requests_waiting": Signal("vllm_requests_waiting", "vllm"),
    "vllm:kv_cache_usage_perc": Signal("vllm_kv_cache_usage", "vllm"),
    "vllm:gpu_cache_usage_perc": Signal("vllm_kv_cache_usage", "vllm"),  # before 0.9
    "vllm:num_preemptions": Signal("vllm_preemptions", "vllm"),
    # OTel GenAI client metrics (v1.41 histogram and the newer counters)
    "gen_ai.client.token.usage": Signal("genai_token_usage", "genai"),
    "gen_ai.client.inference.usage.input_tokens": Signal("genai_input_tokens", "genai"),
    "gen_ai.client.inference.usage.output_tokens": Signal("genai_output_tokens", "genai"),
}

# hw.gpu.utilization is per task: only the general (compute) task is GPU utilization.
GENERAL_TASKS = ("", "general")


# OTel instrument names are case-insensitive (the Python SDK lower-cases them).
_BY_NAME = {name.lower(): signal for name, signal in _SIGNALS.items()}


def recognize(name: str) -> Signal | None:
    """The signal a metric name stands for, or None (the metric is ignored)."""
    name = name.lower()
    signal = _BY_NAME.get(name)
    if signal is None and name.endswith("_total"):
        signal = _BY_NAME.get(name[: -len("_total")])
    return signal


# Attribute keys (point first, then resource) each dimension is read from, first found wins.
DEFAULT_DEPLOYMENT_KEYS = gpu_config.DEFAULT_DEPLOYMENT_KEYS
GPU_ID_KEYS = ("UUID", "gpu_uuid", "hw.id", "gpu.id")
GPU_INDEX_KEYS = ("gpu", "device")
HOST_KEYS = ("Hostname", "hostname", "host.name", "k8s.node.name")
GPU_MODEL_KEYS = ("modelName", "hw.model", "gpu.model", "gpu_model")
NODE_POOL_KEYS = (
    "spendscope.node_pool", "node_pool", "nodepool", "cloud.google.com/gke-nodepool",
    "eks.amazonaws.com/nodegroup", "karpenter.sh/nodepool", "kubernetes.azure.com/agentpool",
)  # fmt: skip
SERVED_MODEL_KEYS = ("model_name", "gen_ai.response.model", "gen_ai.request.model")
SERVER_ADDRESS_KEYS = ("server.address", "net.host.name")
TOKEN_TYPE_KEYS = ("gen_ai.token.type",)
