"""Command-line options that set a setting, and the version flag.

A flag that sets a setting defaults to None (so the environment variable, then the
setting's own default, applies when the flag is not given); its help names that variable
and shows that default, both read from the settings model so they cannot drift from it.
The help is rendered with Rich markup, so brackets are escaped.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

import typer
from pydantic_settings import BaseSettings
from rich.markup import escape


def env_var(model: type[BaseSettings], field: str) -> str:
    return f"{model.model_config.get('env_prefix', '')}{field}".upper()


def shown_default(value: Any) -> str:
    """A setting's default as the help and docs/configuration.md write it."""
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list | tuple):
        return ",".join(str(item) for item in value) if value else "empty"
    if isinstance(value, dict):
        return ",".join(f"{k}={v}" for k, v in value.items()) if value else "empty"
    return str(value)


def option_help(text: str, default: str, env: str | None = None) -> str:
    """`text [env var: X] [default: Y]`, escaped for Rich."""
    suffix = f" [env var: {env}]" if env else ""
    return escape(f"{text}{suffix} [default: {default}]")


def setting_option(
    model: type[BaseSettings],
    field: str,
    *flags: str,
    text: str,
    default: str | None = None,
) -> Any:
    """A `typer.Option` for a flag that sets `model.field`. `default` replaces the
    setting's own default in the help when the command uses another one."""
    if default is None:
        info = model.model_fields[field]
        default = shown_default(info.get_default(call_default_factory=True))
    return typer.Option(
        *flags, help=option_help(text, default, env_var(model, field)), show_default=False
    )


def package_version() -> str:
    try:
        return version("spendscope")
    except PackageNotFoundError:  # a source tree that was never installed
        return "unknown (not installed)"


def print_version(value: bool) -> None:
    """The eager `--version` callback: prints `spendscope <version>` and exits 0."""
    if value:
        typer.echo(f"spendscope {package_version()}")
        raise typer.Exit()
