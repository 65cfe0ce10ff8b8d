"""Benchmark: 100 namespaces with 5,000 projects, validated and aggregated.

Generates the metadata in a temporary directory (each namespace: an
approver group and a second group, 50 projects of which some are retired or
approved by the second group, a tenant with config and untrusted projects
that also loads a project of the previous namespace), then times, over a
few rounds, the same steps as `namespaces build`:

  read       the files from disk
  validate   parse and validate every file and the rules across files
  aggregate  render main.yaml, projects.yaml, groups.yaml and the ACL files
  write      write the build directory (temporary directory, then rename)

Prints each round and the median of each step and of the total (target:
total < 2 s). Nothing is asserted: these are figures for people.

Then, for each size of --scale (default 5,000 and 280,000 projects), in
fresh processes (`python -m sctools.namespaces`, output to /dev/null):

  build      `namespaces build` of that many projects: time and peak RSS
             (ru_maxrss of the process; target < 1 GB at 280,000)
  diff       every project's description changed, then `namespaces diff
             --out` against that build: time and peak RSS (it should grow
             with the change, not with its square)

Usage: python tests/perf/bench_namespaces.py [--rounds N] [--namespaces N] [--projects N]
                                             [--scale N,N...] [--timeout S]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from sctools import namespaces
from sctools.cli import Exit
from sctools.namespace_outputs import render, validate

_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def generate(directory: Path, count: int, per_namespace: int, version: str = "") -> None:
    """`count` namespaces of `per_namespace` projects; `version` goes into each description."""
    (directory / "_infra.yaml").write_text(yaml.safe_dump({
        "admin-group": {"name": "infra-root", "members": ["root1", "root2"]},
        "zuul-connection": "gerrit",
        "metadata-project": "ns000/system-config",
        "deploy-tenant": "deploy",
    }))  # fmt: skip
    for n in range(count):
        name = f"ns{n:03d}"
        projects = {f"{name}/project-config": {"description": f"Zuul config of {name}"}}
        for p in range(per_namespace - 1):
            entry = {"description": f"Project {p} of namespace {name}{version}"}
            if p % 25 == 24:
                entry["retired"] = True
            elif p % 10 == 0:
                entry["approvers"] = [f"{name}-docs"]
                entry["default-branch"] = "main"
            projects[f"{name}/repo-{p:03d}"] = entry
        active = [p for p, e in projects.items() if not e.get("retired")]
        tenant = {
            "options": {"max-job-timeout": 10800, "exclude-unprotected-branches": True},
            "config-projects": [active[0]],
            "untrusted-projects": [active[1]]
            + [{"name": active[2], "include": ["job"]}]
            + active[3:],
        }
        if not n:  # the metadata project: in the deploy tenant only
            projects["ns000/system-config"] = {"description": "holds namespaces/"}
        if n:
            tenant["loads"] = {"untrusted-projects": [
                {"name": f"ns{n - 1:03d}/repo-001", "include": ["job", "project-template"]}
            ]}  # fmt: skip
        (directory / f"{name}.yaml").write_text(yaml.dump({
            "name": name,
            "description": f"Namespace {name}",
            "approvers": f"{name}-core",
            "groups": {
                f"{name}-core": {"members": [f"{name}-a", f"{name}-b", f"{name}-c"]},
                f"{name}-docs": {"description": "docs", "members": [f"{name}-d"]},
            },
            "projects": projects,
            "tenant": tenant,
        }, Dumper=_Dumper, sort_keys=False))  # fmt: skip


def one_round(metadata: Path, out: Path) -> dict[str, float]:
    times = {}
    start = time.perf_counter()
    files, strays = namespaces.read_namespace_dir(metadata)
    times["read"] = time.perf_counter() - start
    mark = time.perf_counter()
    meta = validate(files, f"{metadata}/", strays)
    times["validate"] = time.perf_counter() - mark
    mark = time.perf_counter()
    outputs = render(meta)
    times["aggregate"] = time.perf_counter() - mark
    mark = time.perf_counter()
    namespaces.write_output_dir(out, {**outputs, "round": str(time.time())})  # force a write
    times["write"] = time.perf_counter() - mark
    times["total"] = time.perf_counter() - start
    times["_projects"] = len(meta.projects)
    times["_files"] = len(outputs)
    return times


# Runs the command in a fresh process and reports that process's peak RSS
# (ru_maxrss: KiB on Linux) and CPU time on stderr, its output going to
# /dev/null. CPU time says more than wall time on a busy machine.
_MEASURED = """
import resource, sys
from sctools import namespaces
try:
    code = namespaces.main(sys.argv[1:])
finally:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    sys.stderr.write(f"\\nmaxrss={usage.ru_maxrss} cpu={usage.ru_utime + usage.ru_stime}\\n")
sys.exit(code)
"""


def measured(argv: list[str], timeout: float) -> tuple[float | None, int, int | None, float]:
    """(seconds or None on timeout, exit code, peak RSS in MiB, CPU seconds) of
    `namespaces ARGV`."""
    start = time.perf_counter()
    try:
        result = subprocess.run(
            [sys.executable, "-c", _MEASURED, *argv],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return None, -1, None, 0.0
    elapsed = time.perf_counter() - start
    if result.returncode not in (0, Exit.DIFFERENT):
        print(result.stderr[-2000:], file=sys.stderr)
    report = [line for line in result.stderr.splitlines() if line.startswith("maxrss=")]
    if not report:
        return elapsed, result.returncode, None, 0.0
    fields = dict(item.split("=") for item in report[-1].split())
    return elapsed, result.returncode, int(fields["maxrss"]) // 1024, float(fields["cpu"])


def _figure(label: str, figures: tuple, timeout: float) -> str:
    seconds, code, rss, cpu = figures
    if seconds is None:
        return f"{label}: did not finish in {timeout:.0f} s"
    return f"{label}: {seconds:.1f} s ({cpu:.1f} s CPU), peak RSS {rss} MiB (exit {code})"


def scale(tmp: Path, projects: int, per_namespace: int, timeout: float) -> None:
    """Build `projects` projects, change every description, diff: in fresh processes."""
    count = max(1, projects // per_namespace)
    metadata, out = tmp / f"namespaces-{projects}", tmp / f"out-{projects}"
    metadata.mkdir()
    generate(metadata, count, per_namespace)
    common = ["--namespaces", str(metadata)]
    total = count * per_namespace
    print(_figure(f"build {total} projects", measured(["build", *common, "--out", str(out)],
                                                      timeout), timeout))  # fmt: skip
    generate(metadata, count, per_namespace, version=" (v2)")
    figures = measured(["diff", *common, "--out", str(out)], timeout)
    print(_figure(f"diff  {total} changed projects", figures, timeout), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="rounds to time (default 5)")
    parser.add_argument("--namespaces", type=int, default=100, help="namespaces (default 100)")
    parser.add_argument("--projects", type=int, default=50, help="projects each (default 50)")
    parser.add_argument(
        "--scale",
        default="5000,280000",
        help="project counts to build and diff in fresh processes (default 5000,280000; "
        "'' to skip)",
    )
    parser.add_argument(
        "--timeout", type=float, default=600, help="seconds before a build or diff is given up"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-namespaces-") as tmp:
        metadata = Path(tmp) / "namespaces"
        metadata.mkdir()
        generate(metadata, args.namespaces, args.projects)
        steps = ("read", "validate", "aggregate", "write", "total")
        rounds = []
        for i in range(args.rounds):
            result = one_round(metadata, Path(tmp) / "out")
            rounds.append(result)
            print(
                f"round {i + 1}: "
                + "  ".join(f"{s} {result[s]:.3f}s" for s in steps)
                + f"  ({result['_projects']} projects, {result['_files']} files)"
            )
        print("median:  " + "  ".join(
            f"{s} {statistics.median(r[s] for r in rounds):.3f}s" for s in steps
        ))  # fmt: skip
        total = statistics.median(r["total"] for r in rounds)
        print(
            f"{args.namespaces} namespaces, {rounds[0]['_projects']} projects: "
            f"validate + aggregate + write in {total:.2f} s (target < 2 s)",
            flush=True,
        )
        for size in (int(n) for n in args.scale.split(",") if n.strip()):
            scale(Path(tmp), size, args.projects, args.timeout)


if __name__ == "__main__":
    main()
