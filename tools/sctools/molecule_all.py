"""Run the molecule scenario of every role (or of the roles named).

Each role gets container and network names of its own (sc-<role>-bookworm,
sc-<role>-trixie, sc-<role>-net; underscores become hyphens) and an IPv6
subnet of its own, so scenarios can run side by side; whatever a scenario
leaves behind, even after a failure or Ctrl-C, is removed by name
afterwards. Prints one line per role
as it finishes and a table of wall times at the end.

Exit codes: 0 every scenario passed; 1 at least one failed;
2 bad usage (unknown role, no scenario found).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from sctools import REPO_ROOT

ROLES_DIR = REPO_ROOT / "roles"
LOG_DIR = REPO_ROOT / ".tox" / "molecule-logs"
PLATFORMS = ("bookworm", "trixie")


@dataclass
class Result:
    role: str
    ok: bool
    seconds: float
    log: Path


def roles_with_scenario(roles_dir: Path = ROLES_DIR) -> list[str]:
    """Names of the roles that have molecule/default/molecule.yml, sorted."""
    return sorted(
        p.parent.parent.parent.name for p in roles_dir.glob("*/molecule/default/molecule.yml")
    )


def ipv6_subnet(role: str) -> str:
    """A stable ULA /64 per role, away from the local fleet's subnet."""
    digest = hashlib.sha256(role.encode()).hexdigest()[:4]
    return f"fd42:5c10:{digest}::/64"


def instance_prefix(role: str) -> str:
    """sc-<role> with hyphens: instance names become host names."""
    return "sc-" + role.replace("_", "-")


def resource_names(role: str) -> tuple[list[str], str]:
    prefix = instance_prefix(role)
    return [f"{prefix}-{p}" for p in PLATFORMS], f"{prefix}-net"


def cleanup(role: str) -> None:
    """Remove the role's containers and network by name; absent is fine."""
    containers, network = resource_names(role)
    subprocess.run(["docker", "rm", "-f", "-v", *containers], capture_output=True, check=False)
    subprocess.run(["docker", "network", "rm", network], capture_output=True, check=False)


def run_role(role: str, command: str) -> Result:
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log = LOG_DIR / f"{role}.log"
    # molecule calls ansible-* by name: find them in this interpreter's venv.
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    env = dict(
        os.environ,
        PATH=path,
        SC_MOLECULE_ROLE=instance_prefix(role),
        SC_MOLECULE_IPV6_SUBNET=ipv6_subnet(role),
        ANSIBLE_FORCE_COLOR="0",
        PY_COLORS="0",
    )
    start = time.monotonic()
    if command == "test":  # a fresh start; other commands reuse instances
        cleanup(role)
    try:
        with log.open("w") as out:
            proc = subprocess.run(
                ["molecule", command],
                cwd=ROLES_DIR / role,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                check=False,
            )
        ok = proc.returncode == 0
    finally:
        if command == "test":
            cleanup(role)
    return Result(role, ok, time.monotonic() - start, log)


def converge_instance(
    scenario_dir: Path, hostname: str, extra_vars: dict, timeout: int = 600
) -> subprocess.CompletedProcess:
    """converge.yml of a scenario on one of its instances, with extra variables.

    For testinfra tests that converge again with other values (a changed
    setting, a broken config); run from `molecule verify`, which sets
    MOLECULE_INVENTORY_FILE. The caller judges the exit code and output.
    """
    return subprocess.run(
        [
            str(Path(sys.executable).with_name("ansible-playbook")),
            "-i",
            os.environ["MOLECULE_INVENTORY_FILE"],
            str(scenario_dir / "converge.yml"),
            "--limit",
            hostname,
            "-e",
            json.dumps(extra_vars),
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=scenario_dir,
        env=dict(
            os.environ,
            ANSIBLE_ROLES_PATH=str(ROLES_DIR),
            ANSIBLE_NOCOLOR="1",
            ANSIBLE_FORCE_COLOR="0",
        ),
    )


def report(result: Result, tail: int) -> None:
    status = "PASSED" if result.ok else "FAILED"
    print(
        f"molecule {result.role}: {status} in {result.seconds:.0f} s (log: {result.log})",
        flush=True,
    )
    if not result.ok:
        lines = result.log.read_text(errors="replace").splitlines()
        print(f"---- last {tail} lines of {result.log} ----")
        print("\n".join(lines[-tail:]))
        print("----", flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="molecule-all",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "roles", nargs="*", help="roles to test (default: every role with a scenario)"
    )
    parser.add_argument(
        "-j", "--jobs", type=int, default=2, help="scenarios run at the same time (default: 2)"
    )
    parser.add_argument(
        "--command",
        default="test",
        choices=["test", "converge", "verify", "destroy"],
        help="molecule command to run (default: test; the others keep "
        "the containers for debugging)",
    )
    parser.add_argument(
        "--tail", type=int, default=120, help="log lines shown for a failed scenario (default: 120)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    known = roles_with_scenario()
    if not known:
        print(
            f"error: no role under {ROLES_DIR} has molecule/default/molecule.yml", file=sys.stderr
        )
        return 2
    unknown = sorted(set(args.roles) - set(known))
    if unknown:
        print(
            f"error: no molecule scenario for role(s) {', '.join(unknown)}; "
            f"roles with one: {', '.join(known)}",
            file=sys.stderr,
        )
        return 2
    if args.jobs < 1:
        print("error: --jobs must be at least 1", file=sys.stderr)
        return 2
    roles = args.roles or known
    print(
        f"molecule {args.command}: {len(roles)} role(s), {args.jobs} at a time: {', '.join(roles)}",
        flush=True,
    )
    start = time.monotonic()
    results: list[Result] = []
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = [pool.submit(run_role, role, args.command) for role in roles]
        for future in as_completed(futures):
            result = future.result()
            report(result, args.tail)
            results.append(result)
    failed = [r.role for r in results if not r.ok]
    print("\nrole                 result   seconds")
    for r in sorted(results, key=lambda r: r.role):
        print(f"{r.role:<20} {'passed' if r.ok else 'FAILED':<8} {r.seconds:7.0f}")
    print(f"wall time {time.monotonic() - start:.0f} s")
    # The closing line, in the plain form CI and humans read.
    print(f"molecule: {len(results) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
