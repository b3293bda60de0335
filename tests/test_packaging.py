"""Packaging: LICENSE, `--version`, and the container files checked without a Docker engine.

The Dockerfile's health check and start command are run for real against a real server;
the rest is parsed (non-root user, slim base, no dev extras, volume, ports) and linted.
"""

from __future__ import annotations

import os
import re
import shlex
import socket
import subprocess
import sys
import time
import tomllib
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
import yaml

import router
from router.cli.main import main
from tests.tools import REPO_ROOT, require_tool

PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
STATE_DIR = "/var/lib/westward"


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs: comments dropped, continuation lines joined."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for line in path.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        pending += stripped
        if pending.endswith("\\"):
            pending = pending[:-1].rstrip() + " "
            continue
        keyword, _, rest = pending.partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"
    return instructions


DOCKERFILE = dockerfile_instructions(REPO_ROOT / "Dockerfile")


def last(keyword: str) -> str:
    found = [rest for key, rest in DOCKERFILE if key == keyword]
    assert found, f"the Dockerfile has no {keyword}"
    return found[-1]


def exec_form(text: str) -> list[str]:
    """A JSON-array (exec form) instruction argument as a list."""
    value = yaml.safe_load(text)  # JSON arrays are YAML flow sequences
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), text
    return value


def healthcheck_command() -> list[str]:
    options, _, command = last("HEALTHCHECK").partition("CMD ")
    assert "--interval=" in options and "--timeout=" in options
    return exec_form(command)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def on_port(command: list[str], port: int) -> list[str]:
    """The container's command aimed at a local port instead of 50051."""
    return [part.replace("50051", str(port)).replace("0.0.0.0", "127.0.0.1") for part in command]


def test_license_is_the_apache_2_text_pyproject_names() -> None:
    text = (REPO_ROOT / "LICENSE").read_text(encoding="utf-8")
    assert PYPROJECT["project"]["license"] == "Apache-2.0"  # an SPDX expression
    assert PYPROJECT["project"]["license-files"] == ["LICENSE"]
    assert metadata.metadata("westward")["License-Expression"] == "Apache-2.0"
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text
    assert len(text.splitlines()) > 190  # the full text, not a pointer to it


def test_version_flag_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    version = PYPROJECT["project"]["version"]
    assert router.__version__ == version  # the fallback for an uninstalled tree agrees
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out == f"westward {version}\n"


def test_version_flag_works_from_the_command_line() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "router.cli", "--version"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert re.fullmatch(r"westward \d+\.\d+\.\d+\S*\n", done.stdout)


def test_dockerfile_is_slim_non_root_and_installs_no_dev_extras() -> None:
    assert DOCKERFILE[0] == ("FROM", "python:3.11-slim")
    user = last("USER").split(":")[0]
    assert user not in ("root", "0"), "the container must not run as root"
    assert re.search(rf"useradd\b.*--uid {user}\b", " ".join(r for _, r in DOCKERFILE))
    installs = [rest for key, rest in DOCKERFILE if key == "RUN" and "pip install" in rest]
    assert len(installs) == 1
    words = shlex.split(installs[0].split("&&")[0])
    assert words[-1] == ".", "installs the project itself"
    assert "-e" not in words and "[" not in installs[0], "no editable install, no extras"
    assert exec_form(last("VOLUME")) == [STATE_DIR]
    assert last("EXPOSE") == "50051"


def test_dockerfile_copies_only_what_the_dockerignore_lets_in() -> None:
    allowed = {
        line[1:].rstrip("/")
        for line in (REPO_ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.startswith("!")
    }
    copied = set()
    for key, rest in DOCKERFILE:
        if key == "COPY":
            copied |= {source.rstrip("/") for source in rest.split()[:-1]}
    assert copied == allowed
    for name in copied:
        assert (REPO_ROOT / name).exists(), name


def test_dockerfile_start_command_and_health_check_work_on_a_real_server(
    tmp_path: Path,
) -> None:
    entrypoint, command = exec_form(last("ENTRYPOINT")), exec_form(last("CMD"))
    assert entrypoint == ["westward"]
    state = command[command.index("--state") + 1]
    assert state.startswith(STATE_DIR + "/"), "the ledger must live on the volume"
    port = free_port()
    serve = on_port(command, port)
    serve[serve.index("--state") + 1] = str(tmp_path / Path(state).name)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    health = on_port(healthcheck_command(), port)
    health[0] = sys.executable
    server = subprocess.Popen(
        [sys.executable, "-m", "router.cli", *serve],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            done = subprocess.run(health, env=env, capture_output=True, timeout=30)
            if done.returncode == 0:
                break
            assert server.poll() is None, f"serve exited: {server.communicate()[1]}"
            assert time.monotonic() < deadline, "the health check never passed"
            time.sleep(0.5)
    finally:
        server.terminate()
        _, err = server.communicate(timeout=30)
    assert server.returncode == 0, err
    assert (tmp_path / Path(state).name).exists()
    # With the server gone, the same check fails (so it can tell the difference).
    assert subprocess.run(health, env=env, capture_output=True, timeout=30).returncode != 0


def test_dockerfile_passes_hadolint() -> None:
    hadolint = require_tool("hadolint")
    done = subprocess.run(
        [hadolint, "--no-color", str(REPO_ROOT / "Dockerfile")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def compose(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((REPO_ROOT / name).read_text(encoding="utf-8"))
    return loaded


def test_compose_runs_one_replica_on_sqlite_with_the_image_health_check() -> None:
    file = compose("compose.yaml")
    assert list(file["services"]) == ["router"]
    router_service = file["services"]["router"]
    assert router_service["build"] == "."
    command = router_service["command"]
    assert command == exec_form(last("CMD")), "compose and the image start the same server"
    assert router_service["healthcheck"]["test"] == ["CMD", *healthcheck_command()]
    assert router_service["volumes"] == [f"state:{STATE_DIR}"]
    assert "state" in file["volumes"]
    assert router_service["ports"] == ["127.0.0.1:50051:50051"]


def test_compose_postgres_runs_three_replicas_on_one_database() -> None:
    file = compose("compose.postgres.yaml")
    services = file["services"]
    postgres = services.pop("postgres")
    assert "pg_isready" in postgres["healthcheck"]["test"]
    assert any(v.startswith("pgdata:") for v in postgres["volumes"])
    assert len(services) == 3
    host_ports = set()
    for service in services.values():
        state = service["command"][service["command"].index("--state") + 1]
        assert state.startswith("postgresql://") and "@postgres:5432/" in state
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert service["healthcheck"]["test"] == ["CMD", *healthcheck_command()]
        host_ports |= {p.rsplit(":", 1)[0] for p in service["ports"]}
    assert len(host_ports) == 3, "each replica needs its own host port"
