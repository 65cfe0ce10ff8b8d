"""The one way sctools runs the docker CLI (fleet, images, molecule-all, buildset registry).

Every call returns a subprocess.CompletedProcess with text output; with
check=True (the default) a failure raises ToolError (exit 1) naming the
command and docker's own message. A missing docker binary or a daemon that
does not answer is Exit.UNAVAILABLE (5): the machine, not the work, is the
problem (tools/prepare-host.sh installs and starts docker).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from typing import IO, Any

from sctools.cli import Exit, ToolError

PREPARE_HINT = "tools/prepare-host.sh installs and starts it"


def run(
    *args: str,
    check: bool = True,
    input: str | None = None,
    log: IO[str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """docker ARGS, its output captured as text, or written to log (stdout and stderr).

    With check=False the caller judges the exit code; with log, a check
    failure refers to the log's file.
    """
    streams: dict[str, Any] = (
        {"stdout": log, "stderr": subprocess.STDOUT} if log else {"capture_output": True}
    )
    try:
        proc = subprocess.run(["docker", *args], text=True, input=input, check=False, **streams)
    except FileNotFoundError as exc:
        raise ToolError(f"docker: command not found ({PREPARE_HINT})", Exit.UNAVAILABLE) from exc
    if check and proc.returncode != 0:
        detail = f"see {log.name}" if log else (proc.stderr or proc.stdout or "").strip()
        raise ToolError(f"docker {' '.join(args[:3])} failed: {detail}")
    return proc


def stream(*args: str, env: Mapping[str, str] | None = None) -> subprocess.Popen[str]:
    """docker ARGS started with its stdout and stderr on one text pipe, to read as it runs."""
    try:
        return subprocess.Popen(
            ["docker", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            env=env,
        )
    except FileNotFoundError as exc:
        raise ToolError(f"docker: command not found ({PREPARE_HINT})", Exit.UNAVAILABLE) from exc


def output(*args: str) -> str:
    """The stripped standard output of a docker command that must succeed."""
    return run(*args).stdout.strip()


def succeeds(*args: str) -> bool:
    """Whether a docker command exits 0 (its output is discarded)."""
    return run(*args, check=False).returncode == 0


def ensure_daemon() -> None:
    """Raise Exit.UNAVAILABLE unless the CLI is there and the daemon answers."""
    if shutil.which("docker") is None:
        raise ToolError(f"docker: command not found ({PREPARE_HINT})", Exit.UNAVAILABLE)
    proc = run("version", "--format", "{{.Server.Version}}", check=False)
    if proc.returncode != 0:
        detail = (proc.stderr.strip().splitlines() or ["no error output"])[-1]
        raise ToolError(
            f"docker daemon does not answer ({PREPARE_HINT}): {detail}", Exit.UNAVAILABLE
        )


def inspect(kind: str, name: str) -> dict[str, Any] | None:
    """`docker <kind> inspect NAME` (kind: image, container, network), None if absent."""
    proc = run(kind, "inspect", name, check=False)
    if proc.returncode != 0:
        return None
    found: list[dict[str, Any]] = json.loads(proc.stdout)
    return found[0]


def container_state(name: str) -> str | None:
    """running, exited, ... or None when there is no such container."""
    info = inspect("container", name)
    return str(info["State"]["Status"]) if info else None


def remove(containers: Sequence[str] = (), network: str | None = None) -> None:
    """Remove containers (and their volumes) and a network by name; absent is fine."""
    if containers:
        run("rm", "-f", "-v", *containers, check=False)
    if network:
        run("network", "rm", network, check=False)
