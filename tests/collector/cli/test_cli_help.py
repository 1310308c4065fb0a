"""The command line as a user meets it, through a subprocess: every option's help shows its
default and, for a setting, its environment variable; `--version`; and one clear line with
exit status 2 (never a traceback) for a busy port or an unknown migration revision."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
import typer.main

from collector.cli.main import DEMO_DATA, cli
from collector.cli.options import env_var, shown_default
from collector.settings import Settings
from dashboard.settings import DashboardSettings


def spendscope(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPENDSCOPE_")}
    env["COLUMNS"] = "300"  # one line per option in the help
    return subprocess.run(
        [sys.executable, "-m", "collector", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )


def commands() -> Iterator[tuple[list[str], Any]]:
    """(path, command) of every command (typer's own click objects)."""

    def walk(path: list[str], command: Any) -> Iterator[tuple[list[str], Any]]:
        if hasattr(command, "commands"):  # a group
            for name, sub in command.commands.items():
                yield from walk([*path, name], sub)
        else:
            yield path, command

    yield from walk([], typer.main.get_command(cli))


COMMANDS = {" ".join(path): command for path, command in commands()}


def expected_default(command: str, name: str) -> tuple[str | None, str | None]:
    """(environment variable, default) a setting's flag must show; (None, None) otherwise."""
    for model in (Settings, DashboardSettings):
        if name in model.model_fields:
            if command == "demo" and name == "data_dir":
                return env_var(model, name), str(DEMO_DATA)
            default = model.model_fields[name].get_default(call_default_factory=True)
            return env_var(model, name), shown_default(default)
    return None, None


def test_every_command_is_checked() -> None:
    assert {"serve", "migrate", "demo", "dashboard", "jobs run", "prices check"} <= set(COMMANDS)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_option_shows_its_default_and_its_environment_variable(name: str) -> None:
    result = spendscope(*name.split(), "--help")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    for param in COMMANDS[name].params:
        if param.param_type_name != "option" or param.name == "help":
            continue
        flag = param.opts[0]
        line = next((text for text in lines if f" {flag} " in text), None)
        assert line is not None, f"{name}: {flag} is not in the help:\n{result.stdout}"
        env, default = expected_default(name, str(param.name))
        assert "[default: " in line, f"{name} {flag} shows no default: {line}"
        if env is not None:
            assert f"[env var: {env}]" in line, f"{name} {flag} hides {env}: {line}"
            assert f"[default: {default}]" in line, f"{name} {flag}: {line}"


def test_version() -> None:
    result = spendscope("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"spendscope {version('spendscope')}"


@pytest.fixture
def held_port() -> Iterator[int]:
    """A port another process listens on."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        yield held.getsockname()[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("flag", ["--grpc-port", "--http-port"])
def test_a_busy_port_is_one_line_and_exit_2(tmp_path: Path, held_port: int, flag: str) -> None:
    ports = {"--http-port": str(free_port()), "--grpc-port": str(free_port())}
    ports[flag] = str(held_port)
    args = [item for pair in ports.items() for item in pair]
    result = spendscope("serve", "--data-dir", str(tmp_path), "--log-format", "text", *args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr + result.stdout
    errors = [line for line in result.stderr.splitlines() if " ERROR " in line]
    assert len(errors) == 1, result.stderr
    assert f"127.0.0.1:{held_port}" in errors[0]
    assert flag in errors[0]
    assert not (tmp_path / "spendscope.duckdb").exists()  # stopped before touching the data


def test_an_unknown_revision_is_one_line_and_exit_2(tmp_path: Path) -> None:
    assert spendscope("migrate", "--data-dir", str(tmp_path)).returncode == 0
    result = spendscope("migrate", "--data-dir", str(tmp_path), "--revision", "nonsense")
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert "'nonsense'" in result.stderr
    assert "0001" in result.stderr  # the revisions it knows
