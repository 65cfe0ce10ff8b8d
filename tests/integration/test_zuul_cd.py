"""Zuul deploys this repository to the local fleet (docs/zuul-cd.md).

A change merges as `fleet merge` makes it: one commit pushed to master of
the stand-in's copy of this repository. The fleet's Zuul (its deploy tenant:
this repository's jobs, the fleet's pipelines) enqueues the push in
`deploy`; the executor reaches bridge with its own key and the infra-prod
jobs run there. Each test waits for the buildset's report in zuul-web.
"""

from __future__ import annotations

import json
import subprocess
import sys

from fleet_helpers import BRIDGE, on

from sctools import REPO_ROOT, fleet_merge
from sctools import fleet as fleet_tool

FLEET = fleet_tool.load_fleet()
BOOTSTRAP = "infra-prod-bootstrap-bridge"
# A deploy buildset's report: Zuul polls the stand-in every 10 s (the
# fleet's git connection), bootstrap and the jobs run on a loaded machine.
BUILDSET_WAIT_SECONDS = 1800


def affected_jobs(paths: list[str]) -> set[str]:
    """The infra-prod jobs `affected` says a change to these files runs."""
    proc = subprocess.run(
        [sys.executable, "-m", "sctools.affected", "--json", *paths],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return set(json.loads(proc.stdout)["infra_prod"])


def deploy(path: str, line: str) -> tuple[str, dict, list[dict]]:
    """Merge a commit that appends line to path; its commit, buildset and builds."""

    def change(work):
        with (work / path).open("a") as out:
            out.write(line + "\n")

    _, new = fleet_merge.merge(change, f"fleet test: {line}")
    buildset, builds = fleet_merge.wait_for_buildset(FLEET, new, BUILDSET_WAIT_SECONDS)
    assert buildset is not None, f"no deploy buildset reported for {new}: {builds}"
    return new, buildset, builds


def test_a_change_to_a_role_cron_deploys_runs_bootstrap_alone(deployed):
    path = "roles/mirror/defaults/main.yml"
    assert affected_jobs([path]) == set(), "the mirror's playbook is cron's (schedule.yaml)"
    new, buildset, builds = deploy(path, "# fleet test: a change only cron deploys")
    results = {b["job_name"]: b["result"] for b in builds}
    assert buildset["result"] == "SUCCESS", results
    assert results == {BOOTSTRAP: "SUCCESS"}
    # Bootstrap moved bridge's deploy checkout to exactly the pushed commit.
    head = on(BRIDGE, f"git -C {FLEET.deploy_checkout} rev-parse HEAD")
    assert head.stdout.strip() == new, head.stderr
