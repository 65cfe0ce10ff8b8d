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

Usage: python tests/perf/bench_namespaces.py [--rounds N] [--namespaces N] [--projects N]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import yaml

from sctools import namespaces
from sctools.namespace_metadata import validate_files
from sctools.namespace_outputs import render


def generate(directory: Path, count: int, per_namespace: int) -> None:
    (directory / "_infra.yaml").write_text(yaml.safe_dump({
        "admin-group": {"name": "infra-root", "members": ["root1", "root2"]},
        "zuul-connection": "gerrit",
        "metadata-project": "ns000/project-config",
    }))  # fmt: skip
    for n in range(count):
        name = f"ns{n:03d}"
        projects = {f"{name}/project-config": {"description": f"Zuul config of {name}"}}
        for p in range(per_namespace - 1):
            entry = {"description": f"Project {p} of namespace {name}"}
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
        if n:
            tenant["loads"] = {"untrusted-projects": [
                {"name": f"ns{n - 1:03d}/repo-001", "include": ["job", "project-template"]}
            ]}  # fmt: skip
        (directory / f"{name}.yaml").write_text(yaml.safe_dump({
            "name": name,
            "description": f"Namespace {name}",
            "approvers": f"{name}-core",
            "groups": {
                f"{name}-core": {"members": [f"{name}-a", f"{name}-b", f"{name}-c"]},
                f"{name}-docs": {"description": "docs", "members": [f"{name}-d"]},
            },
            "projects": projects,
            "tenant": tenant,
        }, sort_keys=False))  # fmt: skip


def one_round(metadata: Path, out: Path) -> dict[str, float]:
    times = {}
    start = time.perf_counter()
    files = namespaces.read_namespace_dir(metadata)
    times["read"] = time.perf_counter() - start
    mark = time.perf_counter()
    meta = validate_files(files, prefix=f"{metadata}/")
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="rounds to time (default 5)")
    parser.add_argument("--namespaces", type=int, default=100, help="namespaces (default 100)")
    parser.add_argument("--projects", type=int, default=50, help="projects each (default 50)")
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
            f"validate + aggregate + write in {total:.2f} s (target < 2 s)"
        )


if __name__ == "__main__":
    main()
