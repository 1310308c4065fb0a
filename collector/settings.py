"""The one settings object: `SPENDSCOPE_*` environment variables and CLI flags.

Parsed once in the CLI and passed down; nothing reads the environment at import time.
Every field carries a description: `docs/configuration.md` lists them and a test checks it.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    ByteSize,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from collector.alerting.channels import pagerduty
from collector.ingest.limits import DEFAULT_ITEM_CHARS
from collector.ingest.normalize import DEFAULT_RULES
from warehouse.gpu import config as gpu_config
from warehouse.incidents import policy as alert_policy
from warehouse.store.lake import LakeSettingsError, LakeTarget, parse_target

MIB = 1024 * 1024
GIB = 1024 * MIB
# The default memory limit: this share of the machine's memory (or cgroup's), at most the cap.
DEFAULT_MEMORY_SHARE = 0.25
DEFAULT_MEMORY_CAP = 4 * GIB
# The response header naming the serving process (`instance_id`).
INSTANCE_HEADER = "X-Spendscope-Instance"

CommaList = Annotated[list[str], NoDecode]


class SettingsError(ValueError):
    """A combination of settings that the service refuses to run with."""


class Settings(BaseSettings):
    # hide_input_in_errors: a rejected value may be a token, and errors are printed and logged.
    model_config = SettingsConfigDict(
        env_prefix="SPENDSCOPE_", extra="ignore", hide_input_in_errors=True
    )

    data_dir: Path = Field(
        Path("data"),
        description="Directory that holds the DuckDB database (spendscope.duckdb).",
    )
    warehouse: str = Field(
        "file",
        description="Where the warehouse is: `file` (the DuckDB file in data_dir), or a DuckLake "
        "shared by many nodes, `ducklake:postgres:dbname=... host=... port=... user=...` (its "
        "catalog in that PostgreSQL database; docs/scale.md).",
    )
    lake_data_path: str | None = Field(None, description="Where a lake's data files go: a "
        "directory every node shares, or an s3:// prefix. Required with a lake.")  # fmt: skip
    lake_compaction_interval_seconds: float = Field(
        300.0,
        gt=0,
        description="How often the job-running node compacts a lake (flush inlined rows, "
        "merge small files, expire snapshots older than an hour, delete unneeded files).",
    )
    node_id: str | None = Field(None, description="This node's name among the nodes of one "
        "lake (leader election); unset: <hostname>-<pid>.")  # fmt: skip
    host: str = Field(
        "127.0.0.1",
        description="Address the HTTP and gRPC receivers bind to. Loopback by default.",
    )
    http_port: int = Field(
        4318, ge=1, le=65535, description="OTLP/HTTP, the /api/v1 query API, health and /metrics."
    )
    grpc_port: int = Field(
        4317, ge=0, le=65535, description="OTLP/gRPC receiver port; 0 disables it."
    )
    instance_id: str | None = Field(
        None,
        description=f"Id of this process, sent in the `{INSTANCE_HEADER}` header of every HTTP "
        "response; unset: a new random one at each start.",
    )
    ingest_tokens: CommaList = Field(
        default_factory=list,
        description="Bearer tokens accepted on OTLP ingest (comma-separated). Empty: no auth.",
    )
    api_tokens: CommaList = Field(
        default_factory=list,
        description="Bearer tokens accepted on /api/v1 (comma-separated). Empty: no auth.",
    )
    tenant_tokens: Annotated[list[tuple[str, str]], NoDecode] = Field(
        default_factory=list,
        description="Tenant-scoped bearer tokens for /api/v1, as `tenant:token` pairs, "
        "comma-separated (`acme:tok1,globex:tok2`): their holders only ever see that tenant. "
        "Once set, the API needs a token even when SPENDSCOPE_API_TOKENS is empty.",
    )
    allow_unauthenticated_public: bool = Field(
        False,
        description="Serve on a non-loopback address without tokens. Off: refuse to start.",
    )
    max_body_bytes: int = Field(
        64 * MIB,
        gt=0,
        description="Largest OTLP request body accepted, after gzip decompression (413 above).",
    )
    max_queued_spans: int = Field(
        10_000,
        gt=0,
        description="Spans waiting for the writer before ingest answers 503 with Retry-After. "
        "A full queue makes a request wait about this many spans / the server's rate: keep "
        "it under the exporters' 10 s timeout (docs/reliability.md, Overload).",
    )
    max_queued_metric_points: int = Field(
        1_000_000,
        gt=0,
        description="OTLP metric data points waiting for the writer before ingest answers "
        "503 with Retry-After.",
    )
    max_item_attribute_chars: int = Field(
        DEFAULT_ITEM_CHARS,
        ge=1024,
        description="Characters of JSON one span stores for its attributes, events and links "
        "together (a log record or metric data point: for its attributes); past them the "
        "rest is dropped and counted in spendscope.dropped_attributes_count (_events_, "
        "_links_). See docs/ingest.md.",
    )
    max_commit_spans: int = Field(
        100_000, gt=0, description="Most spans the writer puts in one group commit."
    )
    retry_after_seconds: int = Field(
        2, ge=1, description="Retry-After sent with 503 when the ingest queue is full."
    )
    feature_attributes: CommaList = Field(
        default_factory=lambda: list(DEFAULT_RULES.feature_keys),
        description="Span or resource attributes naming the product feature, first found wins.",
    )
    tenant_attributes: CommaList = Field(
        default_factory=lambda: list(DEFAULT_RULES.tenant_keys),
        description="Span or resource attributes naming the tenant (customer), first found wins.",
    )
    feature_from_service: bool = Field(
        False,
        description="When no feature attribute is set anywhere in a trace, use service.name.",
    )
    feature_span_name_pattern: str | None = Field(
        None,
        description="Regex on the span name whose first group names the feature when no "
        "attribute does (applied before feature_from_service).",
    )
    value_units: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict,
        description="Each feature's value unit: the outcome name that counts one unit of value "
        "for it, as `feature=outcome` pairs, comma-separated "
        "(`support-agent=ticket_resolved,search=search_succeeded`). See docs/value-units.md.",
    )
    gpu_deployment_attributes: CommaList = Field(
        default_factory=lambda: list(gpu_config.DEFAULT_DEPLOYMENT_KEYS),
        description="Metric, span or resource attributes naming the self-hosted deployment "
        "(GPU metrics, vLLM metrics and the spans it served), first found wins.",
    )
    gpu_match: CommaList = Field(
        default_factory=lambda: list(gpu_config.MATCH_RULES),
        description="How a model-call span is matched to the deployment that served it, in "
        "order: deployment (attribute), server_address, model. See docs/gpu.md.",
    )
    gpu_max_sample_gap_seconds: float = Field(
        gpu_config.DEFAULT_MAX_SAMPLE_GAP_SECONDS,
        gt=0,
        description="Longest gap between two GPU utilization samples that still counts as "
        "GPU time; longer gaps are time the GPU was not there.",
    )
    catalog_file: Path | None = Field(
        None,
        description="A genai-prices data file (data.json as genai-prices publishes it) that "
        "prices instead of the catalog bundled with the package; checked before use, re-read "
        "when it changes. See docs/pricing.md.",
    )
    catalog_url: str | None = Field(
        None,
        description="Opt-in network access: fetch the genai-prices data file from this http(s) "
        "URL at start and every catalog_refresh_seconds. Not with catalog_file.",
    )
    catalog_refresh_seconds: float = Field(
        3600.0,
        gt=0,
        description="How often the catalog file is checked for changes, or the catalog URL "
        "fetched again.",
    )
    catalog_fetch_timeout_seconds: float = Field(
        10.0, gt=0, description="Timeout of one catalog fetch (connect, send and answer)."
    )
    attribution_interval_seconds: float = Field(
        1.0, gt=0, description="How often the attribution job resolves newly ingested traces."
    )
    detection_interval_seconds: float = Field(
        60.0,
        gt=0,
        description="How often the spend-anomaly, budget and bill-reconciliation detectors run "
        "(docs/anomalies.md, docs/reconciliation.md).",
    )
    runaway_interval_seconds: float = Field(
        10.0,
        gt=0,
        description="How often the runaway-session detector checks the freshly priced calls.",
    )
    shutdown_timeout_seconds: float = Field(
        15.0, ge=0, description="Deadline for flushing accepted spans at shutdown."
    )
    memory_limit: ByteSize | None = Field(
        None,
        ge=32 * MIB,
        description="Most memory DuckDB holds for the whole process (`2GB`, `512MiB`, bytes); "
        "unset: a quarter of the machine's memory, at most 4 GiB.",
    )
    job_quarantine_after_failures: int = Field(
        3,
        ge=1,
        description="Failures in a row of a job on the same input range after which it is "
        "narrowed down and the failing batch quarantined (skipped, listed in /api/v1/jobs).",
    )
    alert_warning_usd: Decimal = Field(
        Decimal(10),
        ge=0,
        description="Projected dollar impact from which an incident is a warning (below: info, "
        "recorded but sent nowhere by default).",
    )
    alert_critical_usd: Decimal = Field(
        Decimal(250),
        ge=0,
        description="Projected dollar impact from which an incident is critical.",
    )
    alert_routes: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=lambda: {
            "warning": "slack+webhook",
            "critical": "pagerduty+slack+webhook",
        },
        description="Which channels each severity goes to, as `severity=channel+channel` pairs, "
        "comma-separated; channels: slack, pagerduty, webhook (only configured ones are used).",
    )
    alert_quiet_minutes: Annotated[dict[str, int], NoDecode] = Field(
        default_factory=lambda: dict(alert_policy.DEFAULT_QUIET_MINUTES),
        description="Minutes without a signal after which an incident resolves, per kind "
        "(`kind=minutes` pairs; kinds not given keep their default).",
    )
    alert_cooldown_minutes: Annotated[dict[str, int], NoDecode] = Field(
        default_factory=lambda: dict(alert_policy.DEFAULT_COOLDOWN_MINUTES),
        description="Minutes after resolving during which the series firing again reopens "
        "the incident instead of paging anew, per kind (`kind=minutes` pairs).",
    )
    slack_webhook_url: SecretStr | None = Field(
        None, description="Slack incoming webhook URL (a secret: never logged or shown)."
    )
    pagerduty_routing_key: SecretStr | None = Field(
        None, description="PagerDuty Events API v2 integration (routing) key; a secret."
    )
    pagerduty_events_url: str = Field(
        pagerduty.EVENTS_URL, description="PagerDuty Events API v2 endpoint."
    )
    alert_webhook_url: SecretStr | None = Field(
        None, description="Generic webhook receiving every notice as JSON; a secret."
    )
    dashboard_url: str | None = Field(
        None,
        description="Public URL of the dashboard: every alert links to its incident there "
        "(`<url>/alerts?incident=<id>`); unset: alerts carry no link.",
    )
    alert_dashboard_url: str | None = Field(
        None, description="Older name of SPENDSCOPE_DASHBOARD_URL, used when that is unset."
    )
    alert_source: str | None = Field(
        None, description="PagerDuty `payload.source`; the host name when unset."
    )
    alert_delivery_poll_seconds: float = Field(
        1.0, gt=0, description="How often the alert dispatcher looks for notices to send."
    )
    alert_delivery_timeout_seconds: float = Field(
        10.0, gt=0, description="Timeout of one delivery attempt (connect, send and answer)."
    )
    alert_retry_initial_seconds: float = Field(
        1.0, gt=0, description="Backoff before the first retry of a delivery; it doubles."
    )
    alert_retry_max_seconds: float = Field(
        300.0, gt=0, description="Longest backoff between retries of a dead channel."
    )
    log_format: Literal["json", "text"] = Field("json", description="Log line format.")
    log_level: str = Field("INFO", description="Python logging level.")

    @field_validator(
        "ingest_tokens",
        "api_tokens",
        "feature_attributes",
        "tenant_attributes",
        "gpu_deployment_attributes",
        "gpu_match",
        mode="before",
    )
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("value_units", mode="before")
    @classmethod
    def _parse_value_units(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        pairs: dict[str, str] = {}
        for item in value.split(","):
            if not item.strip():
                continue
            feature, sep, outcome = (part.strip() for part in item.partition("="))
            if not sep or not feature or not outcome:
                raise ValueError(f"value unit {item.strip()!r} is not `feature=outcome`")
            if feature in pairs:
                raise ValueError(f"feature {feature!r} has more than one value unit")
            pairs[feature] = outcome
        return pairs

    @field_validator("alert_routes", mode="before")
    @classmethod
    def _parse_routes(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        routes = parse_pairs(value, "route", "severity=channel+channel")
        for severity, channels in routes.items():
            if severity not in alert_policy.SEVERITIES:
                raise ValueError(f"unknown severity {severity!r} in alert routes")
            unknown = {c for c in channels.split("+") if c} - set(alert_policy.CHANNELS)
            if unknown:
                raise ValueError(f"unknown alert channels {sorted(unknown)}")
        return routes

    @field_validator("alert_quiet_minutes", "alert_cooldown_minutes", mode="before")
    @classmethod
    def _parse_minutes(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        given = parse_pairs(value, "entry", "kind=minutes")
        unknown = set(given) - set(alert_policy.KINDS)
        if unknown:
            raise ValueError(f"unknown alert kinds {sorted(unknown)}")
        return given

    @field_validator("alert_quiet_minutes", "alert_cooldown_minutes", mode="after")
    @classmethod
    def _with_defaults(cls, value: dict[str, int], info: ValidationInfo) -> dict[str, int]:
        defaults = (
            alert_policy.DEFAULT_QUIET_MINUTES
            if info.field_name == "alert_quiet_minutes"
            else alert_policy.DEFAULT_COOLDOWN_MINUTES
        )
        if any(minutes < 0 for minutes in value.values()):
            raise ValueError("minutes must not be negative")
        return {**defaults, **value}

    @field_validator("tenant_tokens", mode="before")
    @classmethod
    def _parse_tenant_tokens(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        pairs: list[tuple[str, str]] = []
        for item in value.split(","):
            if not item.strip():
                continue
            # The last colon separates: a tenant id may contain colons, a token may not.
            tenant, sep, token = (part.strip() for part in item.rpartition(":"))
            if not sep or not tenant or not token:
                raise ValueError("a tenant token is not `tenant:token`")  # never echo a token
            pairs.append((tenant, token))
        return pairs

    @model_validator(mode="after")
    def _tokens_are_unambiguous(self) -> Settings:
        tenant_tokens = [token for _, token in self.tenant_tokens]
        if len(set(tenant_tokens)) != len(tenant_tokens):
            raise ValueError("the same tenant token is given twice")
        if set(tenant_tokens) & set(self.api_tokens):
            raise ValueError("a token is both an API token and a tenant token")
        if self.alert_warning_usd > self.alert_critical_usd:
            raise ValueError("alert_warning_usd is above alert_critical_usd")
        if self.catalog_file is not None and self.catalog_url is not None:
            raise ValueError("catalog_file and catalog_url are both set: use one")
        return self

    @field_validator("feature_span_name_pattern")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a regular expression: {exc}") from None
        return value

    @field_validator("catalog_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"https?://[^/\s]+", value):
            raise ValueError(f"must be an http:// or https:// URL, got {value!r}")
        return value

    @field_validator("gpu_match")
    @classmethod
    def _known_rules(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(gpu_config.MATCH_RULES))
        if unknown:
            raise ValueError(
                f"unknown rule(s) {', '.join(unknown)}; use {', '.join(gpu_config.MATCH_RULES)}"
            )
        return value

    @model_validator(mode="after")
    def _known_warehouse(self) -> Settings:
        try:
            self.lake  # noqa: B018 (parsed to be checked)
        except LakeSettingsError as exc:
            raise ValueError(str(exc)) from None
        return self

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in logging.getLevelNamesMapping():
            raise ValueError(f"unknown logging level {value!r}")
        return level

    @property
    def database_path(self) -> Path:
        return self.data_dir / "spendscope.duckdb"

    @property
    def lake(self) -> LakeTarget | None:
        """The lake the warehouse is on (None: the file); `LakeSettingsError` if misnamed."""
        if self.warehouse == "file":
            return None
        return parse_target(self.warehouse, self.lake_data_path)

    @property
    def memory_limit_bytes(self) -> int:
        """`memory_limit`, or the default share of the memory this process may use."""
        if self.memory_limit is not None:
            return int(self.memory_limit)
        return min(int(available_memory() * DEFAULT_MEMORY_SHARE), DEFAULT_MEMORY_CAP)

    def check_exposure(self) -> None:
        """Refuse to listen beyond loopback without tokens unless explicitly told to."""
        if self.allow_unauthenticated_public or is_loopback(self.host):
            return
        if not self.ingest_tokens or not (self.api_tokens or self.tenant_tokens):
            raise SettingsError(
                f"refusing to listen on {self.host} without ingest and API tokens: set "
                "SPENDSCOPE_INGEST_TOKENS and SPENDSCOPE_API_TOKENS, or "
                "SPENDSCOPE_ALLOW_UNAUTHENTICATED_PUBLIC=true to accept the risk"
            )


def parse_pairs(text: str, what: str, shape: str) -> dict[str, str]:
    """`a=b,c=d` into {a: b, c: d}; each key once."""
    pairs: dict[str, str] = {}
    for item in text.split(","):
        if not item.strip():
            continue
        key, sep, value = (part.strip() for part in item.partition("="))
        if not sep or not key:
            raise ValueError(f"{what} {item.strip()!r} is not `{shape}`")
        if key in pairs:
            raise ValueError(f"{key!r} is given twice")
        pairs[key] = value
    return pairs


def available_memory() -> int:
    """The machine's physical memory, or the cgroup (v2) limit when it is lower."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
    except OSError:
        return total
    return min(total, int(limit)) if limit.isdigit() else total


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
