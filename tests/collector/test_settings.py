"""Settings refuse values the service cannot run with, at start-up and with the setting named,
rather than failing later deep inside uvicorn, logging or the scheduler."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from collector.settings import Settings


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SPENDSCOPE_HTTP_PORT", "70000"),
        ("SPENDSCOPE_HTTP_PORT", "0"),
        ("SPENDSCOPE_GRPC_PORT", "-1"),
        ("SPENDSCOPE_MAX_BODY_BYTES", "0"),
        ("SPENDSCOPE_MAX_QUEUED_SPANS", "0"),
        ("SPENDSCOPE_MAX_COMMIT_SPANS", "-5"),
        ("SPENDSCOPE_RETRY_AFTER_SECONDS", "0"),
        ("SPENDSCOPE_ATTRIBUTION_INTERVAL_SECONDS", "0"),
        ("SPENDSCOPE_SHUTDOWN_TIMEOUT_SECONDS", "-1"),
        ("SPENDSCOPE_LOG_LEVEL", "LOUD"),
        ("SPENDSCOPE_FEATURE_SPAN_NAME_PATTERN", "(unclosed"),
        ("SPENDSCOPE_LOG_FORMAT", "xml"),
    ],
)
def test_invalid_values_are_refused_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError) as error:
        Settings()
    field = variable.removeprefix("SPENDSCOPE_").lower()
    assert [e["loc"] for e in error.value.errors()] == [(field,)]


def test_environment_values_are_parsed_and_normalized(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPENDSCOPE_LOG_LEVEL", "debug")
    monkeypatch.setenv("SPENDSCOPE_INGEST_TOKENS", " a, b ,,")
    monkeypatch.setenv("SPENDSCOPE_FEATURE_SPAN_NAME_PATTERN", r"^(\w+)\.")
    monkeypatch.setenv("SPENDSCOPE_GRPC_PORT", "0")
    monkeypatch.setenv("SPENDSCOPE_ALLOW_UNAUTHENTICATED_PUBLIC", "yes")
    settings = Settings()
    assert settings.log_level == "DEBUG"
    assert settings.ingest_tokens == ["a", "b"]
    assert settings.feature_span_name_pattern == r"^(\w+)\."
    assert settings.grpc_port == 0
    assert settings.allow_unauthenticated_public is True


def test_flags_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPENDSCOPE_HTTP_PORT", "5000")
    assert Settings(http_port=6000).http_port == 6000
    assert Settings().http_port == 5000


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SPENDSCOPE_TENANT_TOKENS", "acme-s3cr3t-t0ken"),
        ("SPENDSCOPE_TENANT_TOKENS", "acme:s3cr3t-t0ken"),  # also an API token below
    ],
)
def test_a_refused_value_is_never_echoed(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    """A refused value may be a token: the error names the setting, never the value."""
    monkeypatch.setenv(variable, value)
    monkeypatch.setenv("SPENDSCOPE_API_TOKENS", "s3cr3t-t0ken")
    with pytest.raises(ValidationError) as error:
        Settings()
    assert "s3cr3t-t0ken" not in str(error.value)


def test_the_cli_names_an_invalid_setting_in_one_line_and_exits_2(tmp_path: Path) -> None:
    """`spendscope serve` with a bad value: one line per setting, no traceback, no value."""
    env = os.environ | {
        "SPENDSCOPE_HTTP_PORT": "not-a-port",
        "SPENDSCOPE_TENANT_TOKENS": "acme-s3cr3t-t0ken",
    }
    result = subprocess.run(
        [sys.executable, "-m", "collector", "serve", "--data-dir", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert any(
        line.startswith("spendscope: invalid setting SPENDSCOPE_HTTP_PORT:") for line in lines
    )
    assert any("SPENDSCOPE_TENANT_TOKENS" in line for line in lines)
    assert "Traceback" not in result.stderr
    assert "s3cr3t" not in result.stderr + result.stdout
    assert not (tmp_path / "spendscope.duckdb").exists()  # refused before touching the data
