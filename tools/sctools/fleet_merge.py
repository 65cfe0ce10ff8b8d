"""`fleet merge`: act as a contributor whose change merged, and watch Zuul deploy it.

    fleet merge [--message MSG] PATH...      the working tree's state of PATHs
    fleet merge --cherry-pick REV            one commit of this checkout

The change becomes one commit on the master branch of the stand-in git
server's copy of this repository (namespaces/_infra.yaml: metadata-project),
made on top of what that branch holds now: a push, as Gerrit makes when it
merges. Zuul's git driver sees the ref move and enqueues it in the deploy
tenant's `deploy` pipeline (docs/zuul-cd.md). `merge` then follows that
buildset in zuul-web until it reports, printing each job's result as it
ends, and exits 0 only when the buildset succeeded (1 otherwise; 2 for bad
usage or a change that changes nothing).

    --no-wait     push, print the new commit, do not follow the buildset
    --timeout S   give up following after S seconds (default 3600)
"""

from __future__ import annotations

import argparse
import functools
import json
import re
import shlex
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sctools import REPO_ROOT, docker_cli, strict_yaml
from sctools.cli import Exit, ToolError
from sctools.fleet import STATE_DIR, Fleet, inventory_group, say

STANDINS_HOST = "standins01.fleet.test"
STANDIN_GIT_ROOT = "/srv/git"
# Not /tmp: a tmpfs in the host containers, which `docker cp` does not see.
STANDIN_BUNDLE = "/var/lib/standins/fleet-merge.bundle"
BRANCH = "master"
POLL_SECONDS = 2  # zuul-web asked twice per poll, from bridge
# The fleet-only config project with the deploy tenant's pipelines
# (tests/standins/zuul-cd-tenant.yaml) and the seed the stand-in starts from.
PIPELINES_PROJECT = "fleet/zuul-cd"
PIPELINES_SEED = REPO_ROOT / "tests/standins/git/fleet/zuul-cd/zuul.d/pipelines.yaml"
EXECUTOR_CONTAINER = "zuul-executor-executor-1"
AUTHOR = ["-c", "user.name=fleet merge", "-c", "user.email=fleet-merge@fleet.test"]


def infra() -> dict[str, str]:
    """namespaces/_infra.yaml: the metadata project and the deploy tenant."""
    return strict_yaml.load(REPO_ROOT / "namespaces" / "_infra.yaml")


def git(*args: str, cwd: Path) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise ToolError(f"git {' '.join(args)}: {(proc.stderr or proc.stdout).strip()[-1500:]}")
    return proc.stdout.strip()


def on_standins(script: str) -> str:
    proc = docker_cli.run("exec", STANDINS_HOST, "bash", "-euc", script, check=False)
    if proc.returncode != 0:
        raise ToolError(f"{STANDINS_HOST}: {(proc.stderr or proc.stdout).strip()[-1500:]}")
    return str(proc.stdout).strip()


def fetch_master(repo: str, work: Path) -> str:
    """A clone of the stand-in's master in work; its commit."""
    remote = f"{STANDIN_GIT_ROOT}/{repo}"
    on_standins(f"git -C {shlex.quote(remote)} bundle create --quiet {STANDIN_BUNDLE} {BRANCH}")
    bundle = work.parent / "standin.bundle"
    docker_cli.run("cp", f"{STANDINS_HOST}:{STANDIN_BUNDLE}", str(bundle))
    git("clone", "--quiet", "--branch", BRANCH, str(bundle), str(work), cwd=work.parent)
    return git("rev-parse", "HEAD", cwd=work)


def apply_paths(work: Path, paths: list[str]) -> None:
    """Make PATHs in work what they are in this working tree (tracked and
    untracked files, not ignored ones)."""
    for path in paths:
        source = (REPO_ROOT / path).resolve()
        if not source.is_relative_to(REPO_ROOT):
            raise ToolError(f"{path}: outside this checkout", Exit.USAGE)
        rel = str(source.relative_to(REPO_ROOT)) or "."
        git("rm", "-r", "-q", "--ignore-unmatch", "--", rel, cwd=work)
        listed = git("ls-files", "-co", "--exclude-standard", "-z", "--", rel, cwd=REPO_ROOT)
        for name in filter(None, listed.split("\0")):
            if (REPO_ROOT / name).is_file():
                (work / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(REPO_ROOT / name, work / name)


def cherry_pick(work: Path, rev: str) -> None:
    git("fetch", "--quiet", str(REPO_ROOT), rev, cwd=work)
    proc = subprocess.run(
        ["git", *AUTHOR, "cherry-pick", "--allow-empty", "FETCH_HEAD"],
        cwd=work, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        raise ToolError(f"{rev} does not apply to the stand-in's {BRANCH}: {proc.stdout.strip()}")


def push(repo: str, work: Path, old: str) -> str:
    """Move the stand-in's master from old to work's HEAD (fast-forward only)."""
    new = git("rev-parse", "HEAD", cwd=work)
    bundle = work.parent / "merge.bundle"
    git("bundle", "create", "--quiet", str(bundle), f"{old}..{BRANCH}", cwd=work)
    docker_cli.run("cp", str(bundle), f"{STANDINS_HOST}:{STANDIN_BUNDLE}")
    remote = shlex.quote(f"{STANDIN_GIT_ROOT}/{repo}")
    # update-ref with the old value: refused if someone else moved master.
    on_standins(
        f"git -C {remote} fetch --quiet {STANDIN_BUNDLE} {BRANCH} && "
        f"git -C {remote} update-ref refs/heads/{BRANCH} {new} {old}"
    )
    return new


@functools.cache
def zuul_web() -> str:
    """zuul-web's host name (ansible-inventory: once, not at every poll)."""
    return sorted(inventory_group("zuul_web"))[0]


def zuul_api(fleet: Fleet, path: str) -> Any:
    """GET zuul-web's API from bridge (which trusts the fleet's CA)."""
    web = zuul_web()
    proc = docker_cli.run(
        "exec", fleet.bridge.name, "curl", "-sS", "--fail", "--max-time", "20",
        f"https://{web}/api/{path}", check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        return None  # zuul-web restarting: asked again at the next poll
    return json.loads(proc.stdout)


def wait_for_buildset(
    fleet: Fleet,
    sha: str,
    timeout: float,
    on_build: Callable[[dict[str, Any]], None] = lambda build: None,
) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """The deploy buildset of sha once it reports (None after timeout) and its
    builds; on_build gets each build as it ends."""
    meta = infra()
    tenant, project = meta["deploy-tenant"], meta["metadata-project"]
    query = f"project={project}&pipeline=deploy&newrev={sha}"
    deadline = time.monotonic() + timeout
    seen: set[str] = set()
    builds: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        buildsets = zuul_api(fleet, f"tenant/{tenant}/buildsets?{query}&limit=1") or []
        # Builds after the buildset: a buildset that reported has every build ended.
        builds = zuul_api(fleet, f"tenant/{tenant}/builds?{query}&limit=100") or builds
        for build in sorted(builds, key=lambda b: b.get("end_time") or ""):
            if build.get("result") and build["uuid"] not in seen:
                seen.add(build["uuid"])
                on_build(build)
        if buildsets and buildsets[0].get("result"):
            return buildsets[0], builds
        time.sleep(POLL_SECONDS)
    return None, builds


def buildset(fleet: Fleet, uuid: str) -> dict[str, Any] | None:
    """One buildset of the deploy tenant with its builds (None: zuul-web restarting)."""
    return zuul_api(fleet, f"tenant/{infra()['deploy-tenant']}/buildset/{uuid}")


def periodic_buildsets(fleet: Fleet) -> list[dict[str, Any]]:
    """The deploy tenant's latest periodic-hourly buildsets, newest first."""
    query = "pipeline=periodic-hourly&limit=10"
    return zuul_api(fleet, f"tenant/{infra()['deploy-tenant']}/buildsets?{query}") or []


def set_periodic_timer(spec: str | None) -> None:
    """periodic-hourly fires on spec (cron syntax, optional 6th field: seconds),
    or as seeded (None): a push to fleet/zuul-cd's master, which Zuul reads
    as a change of its tenant configuration."""
    seed = PIPELINES_SEED.read_text()
    text, found = re.subn(r'(- time: )"[^"]*"', rf'\1"{spec}"', seed) if spec else (seed, 1)
    if found != 1:
        raise ToolError(f"{PIPELINES_SEED}: not exactly one timer to set")

    def change(work: Path) -> None:
        (work / "zuul.d" / "pipelines.yaml").write_text(text)

    merge(change, f"fleet: periodic-hourly timer {spec or 'as seeded'}", PIPELINES_PROJECT)


def on_executor(command: str) -> subprocess.CompletedProcess:
    """A command in the (first) executor's container, where builds run."""
    executor = sorted(inventory_group("zuul_executor"))[0]
    return docker_cli.run(
        "exec", executor, "docker", "exec", EXECUTOR_CONTAINER, "bash", "-c", command,
        check=False,
    )  # fmt: skip


def kept_log(build: dict[str, Any], name: str) -> str | None:
    """A file of a build's logs (job-output.txt, run-all-report.json) as the
    executor kept it (inside kept_builds), or None."""
    read = on_executor(f"cat /var/lib/zuul/builds/{build['uuid']}/work/logs/{name}")
    return str(read.stdout) if read.returncode == 0 else None


@contextmanager
def kept_builds() -> Iterator[list[dict[str, Any]]]:
    """The executor keeps the builds that end meanwhile (`zuul-executor
    keep`), whose logs kept_log reads; afterwards it stops keeping and the
    builds added to the yielded list are removed."""
    if on_executor("zuul-executor keep").returncode != 0:
        raise ToolError("zuul-executor keep failed: is the fleet's executor up?")
    builds: list[dict[str, Any]] = []
    try:
        yield builds
    finally:
        on_executor("zuul-executor nokeep")
        for build in builds:
            on_executor(f"rm -rf /var/lib/zuul/builds/{build['uuid']}")


def merge(
    change: Callable[[Path], None], message: str = "", repo: str | None = None
) -> tuple[str, str]:
    """change(work) on a clone of the stand-in's master of repo (default: the
    metadata project), committed with message unless change committed
    itself, and pushed: (old, new) commits."""
    repo = repo or infra()["metadata-project"]
    STATE_DIR.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=STATE_DIR, prefix="merge-") as tmp:
        work = Path(tmp) / "work"
        old = fetch_master(repo, work)
        change(work)
        if git("status", "--porcelain", cwd=work):
            git("add", "-A", cwd=work)
            git(*AUTHOR, "commit", "-q", "-m", message or "fleet merge", cwd=work)
        if git("rev-parse", "HEAD", cwd=work) == old:
            raise ToolError(f"nothing to merge: the stand-in's {BRANCH} has it already", Exit.USAGE)
        return old, push(repo, work, old)


def cmd_merge(fleet: Fleet, extra: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="fleet merge", description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", metavar="PATH")
    parser.add_argument("--cherry-pick", metavar="REV")
    parser.add_argument("--message", "-m")
    parser.add_argument("--no-wait", action="store_true")
    parser.add_argument("--timeout", type=float, default=3600.0)
    args = parser.parse_args(extra)
    if bool(args.paths) == bool(args.cherry_pick):
        raise ToolError("give PATHs or --cherry-pick REV (one of them)", Exit.USAGE)
    if args.cherry_pick and args.message:
        raise ToolError("--message goes with PATHs; a cherry-pick keeps its own", Exit.USAGE)
    start = time.monotonic()
    if args.cherry_pick:
        old, new = merge(lambda work: cherry_pick(work, args.cherry_pick))
    else:
        message = args.message or f"fleet merge: {' '.join(args.paths)}"
        old, new = merge(lambda work: apply_paths(work, args.paths), message)
    say(f"merged: {infra()['metadata-project']} {BRANCH} {old[:12]}..{new[:12]}")
    print(new, flush=True)
    if args.no_wait:
        return Exit.OK
    say(f"following the deploy buildset of {new[:12]} in zuul-web")

    def show(build: dict[str, Any]) -> None:
        say(f"  {build['job_name']}: {build['result']} ({build.get('duration') or 0:.0f} s)")

    buildset, _ = wait_for_buildset(fleet, new, args.timeout, show)
    if buildset is None:
        say(f"no report after {args.timeout:.0f} s; see the deploy pipeline in zuul-web")
        return Exit.FAILED
    say(f"buildset {buildset['result']} {time.monotonic() - start:.0f} s after the push")
    return Exit.OK if buildset["result"] == "SUCCESS" else Exit.FAILED
