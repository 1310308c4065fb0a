"""The dashboard's settings: where the API is, the token to send, where to serve.

Read from `SPENDSCOPE_*` environment variables (and the flags of `spendscope dashboard`),
documented in docs/configuration.md like the service's own settings.
"""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class DashboardSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SPENDSCOPE_", extra="ignore")

    api_url: str = Field(
        "http://127.0.0.1:4318",
        description="Base URL of the spendscope API the dashboard reads (it reads nothing else).",
    )
    api_token: SecretStr | None = Field(
        None,
        description="Bearer token the dashboard sends to the API, when the API needs one.",
    )
    api_timeout_seconds: float = Field(
        15.0, gt=0, description="How long the dashboard waits for one API answer."
    )
    dashboard_host: str = Field("127.0.0.1", description="Address the dashboard binds to.")
    dashboard_port: int = Field(8501, ge=1, le=65535, description="Port of the dashboard.")
