"""Benchmark: no-op convergence of the local fleet, run-all against the monolith.

Needs the local fleet up and converged (`.venv/bin/fleet deploy`). Runs, on
bridge, in the same session and alternating so that both see the same
machine load:

  run-all    every playbook of schedule.yaml (python -m sctools.run_all)
  monolith   the same playbooks, in schedule order, imported by one site
             playbook and run by a single ansible-playbook, as the old
             cron script did
  plain      ansible-playbook of the first playbook alone, against
             run-all --only that playbook: run-all's own overhead

Prints each measurement, the medians, the ratio run-all / monolith (target
<= 0.8) and run-all's overhead in seconds. Nothing is asserted: these are
figures for people. `--jobs N` (repeatable) measures run-all with N
playbooks at a time, one row per value (default: run-all's own default).

Usage: python tests/perf/bench_converge.py [--rounds N] [--jobs N ...]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

from sctools import fleet as fleet_tool
from sctools.schedule import load_schedule

REPO = fleet_tool.BRIDGE_REPO
ENV = (
    f"cd {REPO} && export ANSIBLE_CONFIG={REPO}/ansible.cfg "
    f"PATH={fleet_tool.BRIDGE_VENV}/bin:$PATH PYTHONPATH={REPO}/tools && "
)
INVENTORY = fleet_tool.INVENTORY_ARGS  # with bridge's private inventory (secrets)


def timed(bridge: str, script: str) -> float:
    start = time.monotonic()
    proc = subprocess.run(
        ["docker", "exec", bridge, "bash", "-c", ENV + script],
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.monotonic() - start
    if proc.returncode != 0:
        sys.exit(f"benchmark step failed ({proc.returncode}): {script}\n{proc.stdout[-3000:]}")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=1, help="measurements of each (default 1)")
    parser.add_argument(
        "--jobs",
        type=int,
        action="append",
        default=[],
        help="run-all with this many playbooks at a time (repeatable; default run-all's)",
    )
    args = parser.parse_args()
    fleet = fleet_tool.load_fleet()
    bridge = fleet.bridge.name
    if fleet_tool.container_state(bridge) != "running":
        sys.exit("the local fleet is not up: run `.venv/bin/fleet deploy` first")
    schedule = load_schedule()
    order = schedule.order()
    site = "\n".join(f"- import_playbook: {REPO}/{schedule.playbooks[n].path}" for n in order)
    subprocess.run(
        ["docker", "exec", "-i", bridge, "bash", "-c", "cat > /tmp/bench-site.yaml"],
        input=site + "\n",
        text=True,
        check=True,
    )
    first = order[0]
    run_all = f"python -m sctools.run_all --owner all --log-dir /tmp/bench-logs {INVENTORY}"
    run_alls = {f"run-all -j {jobs}": f"{run_all} -j {jobs}" for jobs in args.jobs} or {
        "run-all": run_all
    }
    runs = {
        **run_alls,
        "monolith": f"ansible-playbook {INVENTORY} /tmp/bench-site.yaml",
        f"run-all --only {first}": (
            f"python -m sctools.run_all --owner all --only {first} --log-dir /tmp/bench-logs "
            f"{INVENTORY}"
        ),
        f"ansible-playbook {first}": f"ansible-playbook {INVENTORY} playbooks/{first}.yaml",
    }
    times: dict[str, list[float]] = {name: [] for name in runs}
    print(f"playbooks: {', '.join(order)}; hosts: {len(fleet.hosts)}; rounds: {args.rounds}")
    for round_number in range(1, args.rounds + 1):
        for name, script in runs.items():
            seconds = timed(bridge, script)
            times[name].append(seconds)
            print(f"round {round_number}: {name:<34} {seconds:7.1f} s", flush=True)
    median = {name: statistics.median(values) for name, values in times.items()}
    print("\nmedian wall time of a no-op convergence")
    for name, value in median.items():
        print(f"  {name:<34} {value:7.1f} s")
    for name in run_alls:
        ratio = median[name] / median["monolith"]
        print(f"ratio {name} / monolith: {ratio:.2f} (target <= 0.8)")
    overhead = median[f"run-all --only {first}"] - median[f"ansible-playbook {first}"]
    print(f"run-all overhead over plain ansible-playbook: {overhead:+.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
