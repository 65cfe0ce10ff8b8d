"""Run the molecule scenario of every role (or of the roles named).

Each role gets container and network names of its own (sc-<role>-bookworm,
sc-<role>-trixie, sc-<role>-net; underscores become hyphens) and an IPv6
subnet of its own, so scenarios can run side by side; whatever a scenario
leaves behind, even after a failure or Ctrl-C, is removed by name
afterwards. Prints one line per role
as it finishes and a table of wall times at the end.

Every scenario runs with .config/molecule/config.yml; a scenario that
applies the role docker (its instance runs a dockerd) also with
.config/molecule/nested-docker.yml, the platform a nested dockerd needs.
For `test`, scenarios that import tests/molecule/docker_host.yml share one
buildset registry for the run (sctools.buildset_registry): it is started
before the first scenario and given the images all of them name in
docker_host_images (built first when this checkout's are not: under `tox
p` molecule starts beside the short environments, not after the images
one) while the scenarios that need no images run; those that pull ours
start once the push is done. The registry is stopped at the end, also
after a failure or Ctrl-C.
Other commands keep their instances, so they use the default registry
that outlives the run.

Exit codes (sctools.cli, the table in README.md): 0 every scenario
passed; 1 at least one failed, or the buildset registry could not be set
up; 2 bad usage (unknown role, no scenario found, a YAML file that cannot
be parsed); 5 docker unusable; 130 interrupted (Ctrl-C, SIGTERM), after
removing what the scenarios left behind.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sctools import REPO_ROOT, buildset_registry, docker_cli
from sctools.analysis.loader import DepsError
from sctools.analysis.playbooks import Analyzer
from sctools.analysis.result import Deps
from sctools.cli import Exit, ToolError, command, interrupt

ROLES_DIR = REPO_ROOT / "roles"
LOG_DIR = REPO_ROOT / ".tox" / "molecule-logs"
REGISTRY_LOG = LOG_DIR / "buildset-registry.log"
# Figures of the last run (sctools.ci_stages reads them for CI's stage table).
SUMMARY_FILE = LOG_DIR / "summary.json"
PLATFORMS = ("bookworm", "trixie")
MOLECULE = "molecule"  # by name, from this interpreter's venv (run_role's PATH)
BASE_CONFIG = REPO_ROOT / ".config" / "molecule" / "config.yml"
NESTED_DOCKER_CONFIG = REPO_ROOT / ".config" / "molecule" / "nested-docker.yml"
# A scenario that applies this role runs a dockerd in its instance.
DOCKER_ROLE = "roles/docker"
# The shared prepare that points an instance at the buildset registry.
DOCKER_HOST_PREPARE = "tests/molecule/docker_host.yml"
IMPORT_PLAYBOOK = ("import_playbook", "ansible.builtin.import_playbook")


@dataclass
class Result:
    role: str
    ok: bool
    seconds: float
    log: Path
    # molecule's steps in the order they ran, with their seconds (create,
    # prepare, converge, ...; destroy twice): where a scenario's time went.
    phases: list[tuple[str, float]] = field(default_factory=list)


# The line molecule prints as it starts a step: "INFO     [default > converge] Executing".
PHASE_START = re.compile(r"\[\S+ > (\w+)\] Executing\s*$")


def phase_times(starts: list[tuple[str, float]], end: float) -> list[tuple[str, float]]:
    """Each step's seconds, from the times the steps started and the time the run ended."""
    ends = [t for _, t in starts[1:]] + [end] if starts else []
    return [
        (name, round(stop - start, 1)) for (name, start), stop in zip(starts, ends, strict=True)
    ]


@dataclass(frozen=True)
class Scenario:
    """What a role's default scenario needs from the machine."""

    role: str
    nested_docker: bool  # a dockerd runs in its instance
    registry_images: tuple[str, ...] | None  # None: no buildset registry


def describe(role: str, analyzer: Analyzer) -> Scenario:
    """Read from the scenario's playbooks (nothing is kept by hand).

    nested_docker: the scenario applies the role docker (in its playbooks,
    through roles that depend on it, or through docker_host.yml).
    registry_images: a play imports docker_host.yml; the images its
    docker_host_images name.
    """
    directory = analyzer.root / "roles" / role / "molecule" / "default"
    deps = analyzer.scenario_deps(f"roles/{role}")
    images: set[str] | None = None
    for path in sorted(directory.glob("*.y*ml")):
        plays = analyzer.load_yaml(str(path.relative_to(analyzer.root)))
        for play in plays if isinstance(plays, list) else []:
            target = (
                next((v for k, v in play.items() if k in IMPORT_PLAYBOOK), None)
                if isinstance(play, dict)
                else None
            )
            if target is None:
                continue
            if (path.parent / target).resolve() == analyzer.root.resolve() / DOCKER_HOST_PREPARE:
                names = (play.get("vars") or {}).get("docker_host_images") or []
                images = (images or set()) | set(names)
    return Scenario(
        role,
        nested_docker=runs_dockerd(deps),
        registry_images=None if images is None else tuple(sorted(images)),
    )


def runs_dockerd(deps: Deps) -> bool:
    """Whether a scenario (its Deps) runs a dockerd: it applies the role docker."""
    return DOCKER_ROLE in deps.roles


def base_configs(scenario: Scenario) -> list[Path]:
    """molecule's --base-config files for a scenario, in merge order."""
    return [BASE_CONFIG, *([NESTED_DOCKER_CONFIG] if scenario.nested_docker else [])]


# The scenarios that took longest in CI's stage table (December 2026: 838,
# 542, 403 and 296 s; every other one 110-240 s), longest first. Only the
# start order depends on it: a stale entry costs minutes, never a result.
LONGEST = ("zuul_service", "mirror", "internal_ca", "zookeeper")


def longest_first(scenarios: list[Scenario]) -> list[Scenario]:
    """Start order: the known long scenarios, then those that run our images.

    Two run at a time; one long scenario started last leaves a slot idle
    for most of its length (the mirror, started twelfth of fourteen, ended
    the stage about 200 s after the other slot was done).
    """

    def rank(s: Scenario) -> tuple[int, int, bool, str]:
        known = LONGEST.index(s.role) if s.role in LONGEST else len(LONGEST)
        return (known, -len(s.registry_images or ()), not s.nested_docker, s.role)

    return sorted(scenarios, key=rank)


def registry_images(scenarios: list[Scenario]) -> list[str] | None:
    """The images a run's buildset registry needs; None: no scenario uses one."""
    users = [s.registry_images for s in scenarios if s.registry_images is not None]
    return sorted({name for names in users for name in names}) if users else None


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
    docker_cli.remove(containers, network)


def run_role(scenario: Scenario, command: str, extra_env: dict[str, str]) -> Result:
    role = scenario.role
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
        **extra_env,
    )
    configs = [arg for config in base_configs(scenario) for arg in ("--base-config", str(config))]
    start = time.monotonic()
    starts: list[tuple[str, float]] = []
    if command == "test":  # a fresh start; other commands reuse instances
        cleanup(role)
    try:
        with log.open("w") as out:
            proc = subprocess.Popen(
                [MOLECULE, *configs, command],
                cwd=ROLES_DIR / role,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                text=True,
                errors="replace",
            )
            assert proc.stdout is not None
            with proc:
                for line in proc.stdout:
                    out.write(line)
                    if match := PHASE_START.search(line):
                        starts.append((match.group(1), time.monotonic()))
        ok = proc.returncode == 0
    finally:
        if command == "test":
            cleanup(role)
    end = time.monotonic()
    return Result(role, ok, end - start, log, phase_times(starts, end))


def needs_images(scenario: Scenario) -> bool:
    """Whether a scenario pulls our images from the run's buildset registry."""
    return bool(scenario.registry_images)


def run_scenarios(
    scenarios: list[Scenario],
    jobs: int,
    run_one: Callable[[Scenario], Result],
    on_result: Callable[[Result], None],
    images_ready: Future[None] | None = None,
) -> list[Result]:
    """run_one for each scenario, `jobs` at a time, in order; results as they come.

    A scenario that pulls our images starts only once images_ready is done
    (the run's push, which builds them first: minutes on a cold machine):
    until then a free slot takes the next scenario that needs no images,
    instead of waiting in the scenario's prepare for the push. A push that
    failed also opens the gate: those scenarios then fail on their own
    `buildset_registry ensure`, naming the reason.

    An interrupt (Ctrl-C, or SIGTERM through `interrupt`) starts no other
    scenario: the running ones end (their molecule got the signal too) and
    clean up, then the interrupt goes on.
    """
    results: list[Result] = []
    pending = list(scenarios)
    running: dict[Future[Result], Scenario] = {}

    def startable() -> Scenario | None:
        gate_open = images_ready is None or images_ready.done()
        return next((s for s in pending if gate_open or not needs_images(s)), None)

    pool = ThreadPoolExecutor(max_workers=jobs)
    try:
        while pending or running:
            while len(running) < jobs and (scenario := startable()) is not None:
                pending.remove(scenario)
                running[pool.submit(run_one, scenario)] = scenario
            waiting_for: set[Future[Any]] = set(running)
            if images_ready is not None and not images_ready.done():
                waiting_for.add(images_ready)
            done, _ = wait(waiting_for, return_when=FIRST_COMPLETED)
            for future in done:
                if future in running:
                    del running[future]
                    result = future.result()
                    on_result(result)
                    results.append(result)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return results


@contextlib.contextmanager
def run_registry(
    images: list[str] | None,
) -> Iterator[tuple[dict[str, str], Future[None] | None]]:
    """The run's buildset registry, holding images; yields the scenarios' environment
    and the push's future.

    Yields ({}, None) when no scenario needs a registry (images is None).
    The registry answers before this yields; the build of the images (when
    the checkout's are not built yet: minutes on a cold machine) and their
    push go on in the background beside the scenarios that need no images
    (run_scenarios holds the others back until the future is done). A
    scenario's own `buildset_registry ensure` (docker_host.yml) takes the
    same push lock and then finds the images current. The registry is stopped afterwards, whatever
    happened; raises BuildsetRegistryError when it cannot be set up or the
    push failed (details in its log).
    """
    if images is None:
        yield {}, None
        return
    directory = buildset_registry.STATE_ROOT / f"run-{os.getpid()}"
    start = time.monotonic()
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    with REGISTRY_LOG.open("w") as out, ThreadPoolExecutor(max_workers=1) as pusher:
        try:
            found, _ = buildset_registry.ensure(directory, owner=os.getpid())
            out.write(f"buildset registry {found.url} in {directory}\n")
            out.flush()

            def push() -> None:
                buildset_registry.push(found, images, out)
                print(
                    f"buildset registry {found.url}: {', '.join(images) or 'no images'} "
                    f"pushed in {time.monotonic() - start:.0f} s (log: {REGISTRY_LOG})",
                    flush=True,
                )

            pushed = pusher.submit(push)
            yield {buildset_registry.ENV_DIR: str(directory)}, pushed
            pushed.result()
        finally:
            pusher.shutdown(wait=True)
            buildset_registry.stop(directory)


def write_summary(results: list[Result], wall: float, path: Path | None = None) -> None:
    """The run's figures as JSON (SUMMARY_FILE), for .ci/run's stage table."""
    path = path or SUMMARY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    scenarios = [
        {
            "role": r.role,
            "ok": r.ok,
            "seconds": round(r.seconds, 1),
            "phases": [list(phase) for phase in r.phases],
        }
        for r in sorted(results, key=lambda r: r.role)
    ]
    path.write_text(json.dumps({"wall_seconds": round(wall, 1), "scenarios": scenarios}) + "\n")


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


@command("molecule-all")
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    known = roles_with_scenario()
    if not known:
        raise ToolError(f"no role under {ROLES_DIR} has molecule/default/molecule.yml", Exit.USAGE)
    unknown = sorted(set(args.roles) - set(known))
    if unknown:
        raise ToolError(
            f"no molecule scenario for role(s) {', '.join(unknown)}; "
            f"roles with one: {', '.join(known)}",
            Exit.USAGE,
        )
    if args.jobs < 1:
        raise ToolError("--jobs must be at least 1", Exit.USAGE)
    roles = args.roles or known
    print(
        f"molecule {args.command}: {len(roles)} role(s), {args.jobs} at a time: {', '.join(roles)}",
        flush=True,
    )
    start = time.monotonic()
    analyzer = Analyzer(REPO_ROOT)
    try:
        scenarios = longest_first([describe(role, analyzer) for role in roles])
    except DepsError as exc:  # a file of a scenario or of a role it applies
        raise ToolError(str(exc), Exit.USAGE) from exc
    docker_cli.ensure_daemon()
    # SIGTERM (a CI timeout, tox stopped) cleans up as Ctrl-C does.
    signal.signal(signal.SIGTERM, interrupt)
    # Only `test` removes its instances at the end: other commands use the
    # default registry, which outlives the run as the instances do.
    images = registry_images(scenarios) if args.command == "test" else None
    try:
        with run_registry(images) as (env, pushed):
            results = run_scenarios(
                scenarios,
                args.jobs,
                lambda scenario: run_role(scenario, args.command, env),
                lambda result: report(result, args.tail),
                images_ready=pushed,
            )
    except buildset_registry.BuildsetRegistryError as exc:
        raise ToolError(f"buildset registry: {exc} (log: {REGISTRY_LOG})") from exc
    failed = [r.role for r in results if not r.ok]
    print("\nrole                 result   seconds")
    for r in sorted(results, key=lambda r: r.role):
        print(f"{r.role:<20} {'passed' if r.ok else 'FAILED':<8} {r.seconds:7.0f}")
    wall = time.monotonic() - start
    print(f"wall time {wall:.0f} s")
    write_summary(results, wall)
    # The closing line, in the plain form CI and humans read.
    print(f"molecule: {len(results) - len(failed)} passed, {len(failed)} failed")
    return Exit.FAILED if failed else Exit.OK


if __name__ == "__main__":
    sys.exit(main())
