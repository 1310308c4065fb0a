"""The one settings object: `SPENDSCOPE_*` environment variables and CLI flags.

Parsed once in the CLI and passed down; nothing reads the environment at import time.
Every field carries a description: `docs/configuration.md` lists them and a test checks it.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

MIB = 1024 * 1024

CommaList = Annotated[list[str], NoDecode]


class SettingsError(ValueError):
    """A combination of settings that the service refuses to run with."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SPENDSCOPE_", extra="ignore")

    data_dir: Path = Field(
        Path("data"),
        description="Directory that holds the DuckDB database (spendscope.duckdb).",
    )
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
        200_000,
        gt=0,
        description="Spans waiting for the writer before ingest answers 503 with Retry-After.",
    )
    max_commit_spans: int = Field(
        100_000, gt=0, description="Most spans the writer puts in one group commit."
    )
    retry_after_seconds: int = Field(
        2, ge=1, description="Retry-After sent with 503 when the ingest queue is full."
    )
    feature_attributes: CommaList = Field(
        default_factory=lambda: [
            "spendscope.feature",
            "app.feature",
            "feature",
            "traceloop.association.properties.feature",
            "ai.telemetry.metadata.feature",
            "gen_ai.workflow.name",
            "traceloop.workflow.name",
            "ai.telemetry.functionId",
            "langfuse.trace.name",
        ],
        description="Span or resource attributes naming the product feature, first found wins.",
    )
    tenant_attributes: CommaList = Field(
        default_factory=lambda: [
            "spendscope.tenant",
            "tenant.id",
            "traceloop.association.properties.customer_id",
            "traceloop.association.properties.tenant_id",
            "ai.telemetry.metadata.tenantId",
            "metadata.user_api_key_team_id",
            "metadata.user_api_key_org_id",
        ],
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
    attribution_interval_seconds: float = Field(
        1.0, gt=0, description="How often the attribution job resolves newly ingested traces."
    )
    detection_interval_seconds: float = Field(
        60.0,
        gt=0,
        description="How often the spend-anomaly and budget detectors run (docs/anomalies.md).",
    )
    runaway_interval_seconds: float = Field(
        10.0,
        gt=0,
        description="How often the runaway-session detector checks the freshly priced calls.",
    )
    shutdown_timeout_seconds: float = Field(
        15.0, ge=0, description="Deadline for flushing accepted spans at shutdown."
    )
    log_format: Literal["json", "text"] = Field("json", description="Log line format.")
    log_level: str = Field("INFO", description="Python logging level.")

    @field_validator(
        "ingest_tokens", "api_tokens", "feature_attributes", "tenant_attributes", mode="before"
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


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
