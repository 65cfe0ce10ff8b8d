"""Benchmark: what a merged change to one role costs to deploy.

For each role, `affected` (sctools.affected, the same matchers that
zuul.d's generated `files:` use) names the infra-prod jobs the deploy
pipeline runs for a change to that role. Each job is one `run-all --only
<playbook>` on bridge, one after the other, as the deploy pipeline runs
them under its semaphore. This script times each such playbook once on the
converged local fleet (a no-op deploy, which is what a typical merge is)
and prints, per role, the jobs and their total.

Needs the local fleet up and converged (`.venv/bin/fleet deploy`).
Nothing is asserted: these are figures for people.

Usage: python tests/perf/bench_role_deploy.py [--owner zuul|all] [ROLE...]
"""

from __future__ import annotations

import argparse
import sys

# The same timing on bridge as the convergence benchmark (this directory).
from bench_converge import timed  # a sibling script: tests/perf is on sys.path

from sctools import REPO_ROOT
from sctools import fleet as fleet_tool
from sctools.affected import affected
from sctools.matchers import compute
from sctools.schedule import load_schedule
from sctools.zuul_jobs import job_name


def role_change(role: str) -> str:
    """A file whose change stands for a change to the role's behaviour."""
    tasks = REPO_ROOT / "roles" / role / "tasks" / "main.yml"
    return str(tasks.relative_to(REPO_ROOT))


def time_playbook(bridge: str, playbook: str) -> float:
    return timed(bridge, fleet_tool.run_all_command(["--only", playbook]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--owner",
        choices=["zuul", "all"],
        default="zuul",
        help="jobs of zuul-owned playbooks only, as production (default), or of every playbook",
    )
    parser.add_argument("roles", nargs="*", help="roles (default: every role)")
    args = parser.parse_args()
    fleet = fleet_tool.load_fleet()
    bridge = fleet.bridge.name
    if fleet_tool.container_state(bridge) != "running":
        sys.exit("the local fleet is not up: run `.venv/bin/fleet deploy` first")
    roles = args.roles or sorted(p.name for p in (REPO_ROOT / "roles").iterdir() if p.is_dir())
    schedule = load_schedule()
    matchers = compute(REPO_ROOT, schedule)
    order = schedule.order()
    owned = [n for n in order if args.owner == "all" or schedule.playbooks[n].owner == "zuul"]
    jobs_of: dict[str, list[str]] = {}
    for role in roles:
        result = affected(matchers, [role_change(role)], owned)
        jobs_of[role] = [p for p in owned if job_name(p) in result["infra_prod"]]
    seconds: dict[str, float] = {}
    for playbook in sorted({p for jobs in jobs_of.values() for p in jobs}, key=order.index):
        seconds[playbook] = time_playbook(bridge, playbook)
        print(f"{job_name(playbook):<44} {seconds[playbook]:6.1f} s (no-op)", flush=True)
    print(f"\ndeploy cost of a change to one role (jobs of owner {args.owner}, run one by one)")
    for role in roles:
        jobs = jobs_of[role]
        total = sum(seconds[p] for p in jobs)
        names = ", ".join(job_name(p) for p in jobs) or "none (cron converges it)"
        print(f"  {role:<20} {total:6.1f} s  {names}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
