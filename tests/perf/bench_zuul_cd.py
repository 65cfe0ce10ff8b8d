"""Benchmark: what Zuul CD costs on the local fleet (docs/zuul-cd.md).

On a converged local fleet, merges three kinds of change with `fleet merge`
(each a comment, so every playbook they run is a no-op, as for most merges)
and follows each deploy buildset to its report:

    cron-only role   roles/mirror/defaults/main.yml       bootstrap alone
    namespaces       namespaces/zuul.yaml                 bootstrap, tenant config
    zuul_config      roles/zuul_config/defaults/main.yml  bootstrap, Zuul

then makes periodic-hourly fire once (a short timer pushed to fleet/zuul-cd,
the seed pushed back as soon as the buildset is enqueued). It prints, per
buildset, the seconds from the push (or the timer's event) to the report,
and per job its wall time, run-all's own time on bridge (from the
run-all-report.json the job keeps) and the difference: the executor's
overhead (starting the job, reaching bridge, the semaphore, fetching).

The comments stay on the stand-in's master. Needs the fleet deployed
(`.venv/bin/fleet deploy`). Nothing is asserted: these are figures for
people.

Usage: python tests/perf/bench_zuul_cd.py [--no-periodic]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from sctools import fleet as fleet_tool
from sctools import fleet_merge

CHANGES = {
    "cron-only role": "roles/mirror/defaults/main.yml",
    "namespaces": "namespaces/zuul.yaml",
    "zuul_config": "roles/zuul_config/defaults/main.yml",
}
TIMEOUT_SECONDS = 1800


def appended_comment(path: str, label: str):
    def change(work: Path) -> None:
        with (work / path).open("a") as out:
            out.write(f"# bench_zuul_cd: {label} at {datetime.now().isoformat()}\n")

    return change


def run_all_seconds(build: dict[str, Any]) -> float | None:
    text = fleet_merge.kept_log(build, "run-all-report.json")
    return json.loads(text)["duration"] if text else None


def print_buildset(label: str, seconds: float, builds: list[dict[str, Any]]) -> None:
    print(f"\n{label}: {seconds:.0f} s to the report")
    print(f"  {'job':42} {'result':8} {'wall s':>7} {'run-all s':>9} {'overhead s':>10}")
    for build in sorted(builds, key=lambda b: b.get("start_time") or ""):
        wall = build.get("duration") or 0.0
        inner = run_all_seconds(build)
        extra = f"{inner:9.1f} {wall - inner:10.1f}" if inner is not None else f"{'-':>9} {'-':>10}"
        print(f"  {build['job_name']:42} {build['result'] or '-':8} {wall:7.1f} {extra}")


def deploy_case(fleet: fleet_tool.Fleet, label: str, path: str, kept: list) -> None:
    start = time.monotonic()
    _, new = fleet_merge.merge(appended_comment(path, label), f"bench_zuul_cd: {label}")
    buildset, builds = fleet_merge.wait_for_buildset(fleet, new, TIMEOUT_SECONDS)
    seconds = time.monotonic() - start
    kept += builds
    if buildset is None:
        sys.exit(f"{label}: no report within {TIMEOUT_SECONDS} s")
    print_buildset(f"{label} ({path}, {buildset['result']})", seconds, builds)


def wait_for(condition, what: str) -> Any:
    found = fleet_tool.poll(condition, TIMEOUT_SECONDS, fleet_merge.POLL_SECONDS)
    if not found:
        sys.exit(f"{what}: not within {TIMEOUT_SECONDS} s")
    return found


def periodic_case(fleet: fleet_tool.Fleet, kept: list) -> None:
    seen = {b["uuid"] for b in fleet_merge.periodic_buildsets(fleet)}
    fleet_merge.set_periodic_timer("* * * * * */5")
    try:
        new = wait_for(
            lambda: [b for b in fleet_merge.periodic_buildsets(fleet) if b["uuid"] not in seen],
            "a periodic-hourly buildset",
        )[0]
    finally:
        fleet_merge.set_periodic_timer(None)
    buildset = wait_for(
        lambda: (b := fleet_merge.buildset(fleet, new["uuid"])) and b.get("result") and b,
        "the periodic-hourly buildset's report",
    )
    kept += buildset["builds"]
    begin = datetime.fromisoformat(buildset["event_timestamp"])
    end = datetime.fromisoformat(buildset["last_build_end_time"])
    label = f"periodic-hourly ({buildset['result']}, event to last job's end)"
    print_buildset(label, (end - begin).total_seconds(), buildset["builds"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-periodic", action="store_true", help="skip the periodic buildset")
    args = parser.parse_args()
    fleet = fleet_tool.load_fleet()
    if fleet_tool.container_state(fleet.bridge.name) != "running":
        sys.exit("the local fleet is not up: run `.venv/bin/fleet deploy` first")
    with fleet_merge.kept_builds() as kept:
        for label, path in CHANGES.items():
            deploy_case(fleet, label, path, kept)
        if not args.no_periodic:
            periodic_case(fleet, kept)
    return 0


if __name__ == "__main__":
    sys.exit(main())
