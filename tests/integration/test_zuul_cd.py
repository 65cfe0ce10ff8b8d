"""Zuul deploys this repository to the local fleet (docs/zuul-cd.md).

A change merges as `fleet merge` makes it: one commit pushed to master of
the stand-in's copy of this repository. The fleet's Zuul (its deploy tenant:
this repository's jobs, the fleet's pipelines) enqueues the push in
`deploy`; the executor reaches bridge with its own key and the infra-prod
jobs run there. Each test waits for the buildset's report in zuul-web.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
import uuid
from datetime import datetime, timedelta

import pytest
import yaml
from fleet_helpers import BRIDGE, HOSTS, alive, lock_record_pid, on, wait_until, zuul_d_jobs

from sctools import REPO_ROOT, fleet_merge
from sctools import fleet as fleet_tool

FLEET = fleet_tool.load_fleet()
BOOTSTRAP = "infra-prod-bootstrap-bridge"
# A deploy buildset's report: Zuul polls the stand-in every 3 s (the
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


# --- Shared by the tests below -------------------------------------------

TENANT_CONFIG = "infra-prod-service-zuul-tenant-config"


def job_var(name: str) -> str:
    """A variable every production job has (zuul.d/infra-prod.yaml), as Zuul gives it."""
    for item in yaml.safe_load((REPO_ROOT / "zuul.d" / "infra-prod.yaml").read_text()):
        if item.get("job", {}).get("name") == "infra-prod-bridge-access":
            return item["job"]["vars"][name]
    raise AssertionError("zuul.d/infra-prod.yaml has no job infra-prod-bridge-access")


def checkout_head() -> str:
    head = on(BRIDGE, f"git -C {FLEET.deploy_checkout} rev-parse HEAD")
    assert head.returncode == 0, head.stderr
    return head.stdout.strip()


def zuul_tenants() -> set[str]:
    return {t["name"] for t in fleet_merge.zuul_api(FLEET, "tenants") or []}


# --- 4 and 2: the emergency stop, then a change only cron deploys ----------


def test_an_emergency_stop_fails_the_deploy_then_a_change_cron_deploys_runs_bootstrap_alone(
    deployed,
):
    stop_file = job_var("infra_prod_stop_file")
    reason = f"fleet test {uuid.uuid4().hex[:8]}: database migration in progress, ask alice"
    before = checkout_head()
    written = on(BRIDGE, f"printf '%s\\n' {shlex.quote(reason)} > {stop_file}")
    assert written.returncode == 0, written.stderr
    try:
        with fleet_merge.kept_builds() as kept:
            _, buildset, builds = deploy("docs/fleet-test.md", "- a change during a stop")
            kept += builds
            results = {b["job_name"]: b["result"] for b in builds}
            assert buildset["result"] == "FAILURE", results
            assert results == {BOOTSTRAP: "FAILURE"}
            # The job's own log, job-output.txt, shows the file's reason.
            assert reason in (fleet_merge.kept_log(builds[0], "job-output.txt") or "")
            assert checkout_head() == before, "bridge's checkout moved during an emergency stop"
    finally:
        on(BRIDGE, f"rm -f {stop_file}")
    # The stop is over: the next push deploys. (Case 2: a change to a role
    # of a playbook cron owns runs bootstrap alone, as `affected` says.)
    path = "roles/mirror/defaults/main.yml"
    assert affected_jobs([path]) == set(), "the mirror's playbook is cron's (schedule.yaml)"
    new, buildset, builds = deploy(path, "# fleet test: a change only cron deploys")
    results = {b["job_name"]: b["result"] for b in builds}
    assert buildset["result"] == "SUCCESS", results
    assert results == {BOOTSTRAP: "SUCCESS"}
    # Bootstrap moved bridge's deploy checkout to exactly the pushed commit.
    assert checkout_head() == new


# --- 1 and 5: a new namespace, then its removal while cron runs -------------

NAMESPACE = "fleettest"
NAMESPACE_FILE = f"namespaces/{NAMESPACE}.yaml"
NAMESPACE_PROJECT = f"{NAMESPACE}/demo"
NAMESPACE_TEXT = f"""\
# Added by tests/integration/test_zuul_cd.py, removed again by it.
name: {NAMESPACE}
description: A namespace a fleet test adds through a deploy.
approvers: {NAMESPACE}-core
groups:
  {NAMESPACE}-core:
    description: Approves the test namespace.
    members: [alice]
projects:
  {NAMESPACE_PROJECT}:
    description: The test namespace's one project.
tenant:
  name: {NAMESPACE}
  untrusted-projects:
    - {NAMESPACE_PROJECT}
"""


def create_standin_project(project: str) -> None:
    """The project's repository on the stand-in git server, as the code
    review server has it before a namespace names it (one commit on master)."""
    repo = shlex.quote(f"{fleet_merge.STANDIN_GIT_ROOT}/{project}")
    made = fleet_merge.on_standins(
        f"test -d {repo} && exit 0; work=$(mktemp -d); "
        f"git init --quiet --bare --initial-branch master {repo}; "
        f"git -C $work init --quiet --initial-branch master; echo '# {project}' > $work/README.md; "
        f"git -C $work add -A; "
        f"git {shlex.join(fleet_merge.AUTHOR)} -C $work commit --quiet -m init; "
        f"git -C $work push --quiet {repo} HEAD:refs/heads/master; rm -rf $work"
    )
    assert made == "", made


def namespace_on_master() -> bool:
    listed = fleet_merge.on_standins(
        f"git -C {fleet_merge.STANDIN_GIT_ROOT}/{fleet_merge.infra()['metadata-project']} "
        f"ls-tree --name-only {fleet_merge.BRANCH} -- {NAMESPACE_FILE}"
    )
    return listed == NAMESPACE_FILE


def push_namespace(present: bool) -> str:
    def change(work):
        if present:
            (work / NAMESPACE_FILE).write_text(NAMESPACE_TEXT)
        else:
            (work / NAMESPACE_FILE).unlink()

    _, new = fleet_merge.merge(change, f"fleet test: {'add' if present else 'remove'} {NAMESPACE}")
    return new


@pytest.fixture(scope="module")
def new_namespace(deployed, tmp_path_factory):
    """The namespace pushed to master and its deploy buildset, taken out
    again at the end if a test did not (without waiting for that deploy)."""
    check = tmp_path_factory.mktemp("ns")
    shutil.copytree(REPO_ROOT / "namespaces", check / "namespaces")
    (check / NAMESPACE_FILE).write_text(NAMESPACE_TEXT)
    namespaces = ["validate", "--namespaces", str(check / "namespaces")]
    valid = subprocess.run(
        [sys.executable, "-m", "sctools.namespaces", *namespaces],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert valid.returncode == 0, valid.stdout + valid.stderr
    create_standin_project(NAMESPACE_PROJECT)
    new = push_namespace(present=True)
    buildset, builds = fleet_merge.wait_for_buildset(FLEET, new, BUILDSET_WAIT_SECONDS)
    yield new, buildset, builds
    if namespace_on_master():
        push_namespace(present=False)


def test_a_new_namespace_deploys_its_tenant_config_alone_and_zuul_loads_it(new_namespace):
    _, buildset, builds = new_namespace
    results = {b["job_name"]: b["result"] for b in builds}
    assert buildset is not None, f"no deploy buildset reported: {results}"
    assert buildset["result"] == "SUCCESS", results
    assert affected_jobs([NAMESPACE_FILE]) == {TENANT_CONFIG}
    assert set(results) == {BOOTSTRAP, TENANT_CONFIG}
    # Zuul reconfigured itself from the main.yaml its own job installed.
    wait_until(lambda: NAMESPACE in zuul_tenants(), f"zuul-web lists the tenant {NAMESPACE}")
    assert fleet_merge.zuul_api(FLEET, f"tenant/{NAMESPACE}/config-errors") == []


def run_all_report(path: str) -> dict:
    read = on(BRIDGE, f"cat {shlex.quote(path)}")
    assert read.returncode == 0, read.stderr
    return json.loads(read.stdout)


def report_times(report: dict) -> tuple[datetime, datetime]:
    start = datetime.fromisoformat(report["started"])
    return start, start + timedelta(seconds=report["duration"])


def test_a_deploy_waits_for_the_cron_run_holding_the_lock(new_namespace):
    """Removing the namespace deploys while a cron run holds run-all's lock:
    the run is paused (SIGSTOP) until bootstrap is seen waiting for the
    lock, then let go; the deploy runs after it, never beside it."""
    lock_file = job_var("infra_prod_lock_file")
    cron_report = "/tmp/fleet-test-cron-report.json"
    cron = fleet_tool.run_all_command(["--only", "bridge", "--limit", BRIDGE.name], cron_report)
    on(BRIDGE, f"nohup bash -c {shlex.quote(cron)} >/tmp/fleet-test-cron.log 2>&1 &")
    holder = None

    def lock_holder() -> int | None:
        nonlocal holder
        pid = lock_record_pid(lock_file)
        # A record whose pid is gone is a killed run's, not this one's.
        holder = pid if pid is not None and alive(pid) else None
        return holder

    wait_until(lock_holder, "the cron run takes run-all's lock")
    assert on(BRIDGE, f"kill -STOP {holder}").returncode == 0
    try:
        new = push_namespace(present=False)
        wait_until(
            lambda: on(BRIDGE, f"pgrep -f 'flock --wait [0-9]+ {lock_file}'").returncode == 0,
            "bootstrap waits for run-all's lock",
            seconds=BUILDSET_WAIT_SECONDS,
        )
    finally:
        on(BRIDGE, f"kill -CONT {holder}")
    buildset, builds = fleet_merge.wait_for_buildset(FLEET, new, BUILDSET_WAIT_SECONDS)
    results = {b["job_name"]: b["result"] for b in builds}
    assert buildset is not None and buildset["result"] == "SUCCESS", results
    assert results == {BOOTSTRAP: "SUCCESS", TENANT_CONFIG: "SUCCESS"}
    cron_start, cron_end = report_times(run_all_report(cron_report))
    # The job's run-all wrote its report into its run's log directory too.
    found = on(
        BRIDGE,
        f"grep -l '\"{TENANT_CONFIG.removeprefix('infra-prod-')}\"' "
        f"{job_var('infra_prod_log_dir')}/*/report.json | sort | tail -1",
    )
    job_start, job_end = report_times(run_all_report(found.stdout.strip()))
    # Reports carry whole seconds: the job's start may share cron's last one.
    assert job_start >= cron_end - timedelta(seconds=1), (cron_start, cron_end, job_start)
    assert cron_start < job_start
    wait_until(lambda: NAMESPACE not in zuul_tenants(), f"zuul-web drops the tenant {NAMESPACE}")


# --- 3 and 6: the Zuul stack's own deploy, and the hourly convergence ------

ZOOKEEPER_JOB = "infra-prod-service-zookeeper"
ZUUL_JOB = "infra-prod-service-zuul"
ZUUL_HOSTS = sorted(fleet_tool.inventory_group("zuul"))


def zuul_containers() -> dict[str, str]:
    """Every container on the Zuul hosts: name -> id and start time (a
    recreated or restarted container has others)."""
    found = {}
    for name in ZUUL_HOSTS:
        listed = on(
            HOSTS[name],
            "docker ps -q | xargs -r docker inspect -f '{{.Name}} {{.Id}} {{.State.StartedAt}}'",
        )
        assert listed.returncode == 0 and listed.stdout.strip(), listed.stderr
        for line in listed.stdout.splitlines():
            container, state = line.split(" ", 1)
            found[f"{name}{container}"] = state
    return found


def test_a_zuul_config_change_runs_the_zuul_job_alone_and_restarts_nothing(deployed):
    path = "roles/zuul_config/defaults/main.yml"
    # A comment: zuul.conf comes out the same, so no container is recreated.
    assert affected_jobs([path]) == {ZUUL_JOB}, "zuul_config is the Zuul playbook's alone"
    before = zuul_containers()
    _, buildset, builds = deploy(path, "# fleet test: zuul.conf stays the same")
    results = {b["job_name"]: b["result"] for b in builds}
    assert buildset["result"] == "SUCCESS", results
    # Its soft dependency on the ZooKeeper job holds only when that runs too.
    assert results == {BOOTSTRAP: "SUCCESS", ZUUL_JOB: "SUCCESS"}
    assert zuul_containers() == before


def test_the_hourly_buildset_runs_every_job_and_changes_nothing_on_a_converged_fleet(deployed):
    seen = {b["uuid"] for b in fleet_merge.periodic_buildsets(FLEET)}
    before = zuul_containers()
    with fleet_merge.kept_builds() as kept:
        fleet_merge.set_periodic_timer("* * * * * */5")  # every 5 s (6th field: seconds)
        try:
            wait_until(
                lambda: any(b["uuid"] not in seen for b in fleet_merge.periodic_buildsets(FLEET)),
                "the short timer enqueues a periodic-hourly buildset",
                seconds=300,
            )
        finally:
            fleet_merge.set_periodic_timer(None)  # one buildset, not one every 5 s
        (new,) = [b for b in fleet_merge.periodic_buildsets(FLEET) if b["uuid"] not in seen]
        buildset: dict = {}

        def reported() -> bool:
            nonlocal buildset
            buildset = fleet_merge.buildset(FLEET, new["uuid"]) or {}
            return bool(buildset.get("result"))

        wait_until(reported, "the periodic-hourly buildset reports", BUILDSET_WAIT_SECONDS)
        builds = buildset["builds"]
        kept += builds
        results = {b["job_name"]: b["result"] for b in builds}
        assert buildset["result"] == "SUCCESS", results
        assert set(results) == {BOOTSTRAP} | zuul_d_jobs("periodic-hourly")
        # Every playbook converged with nothing to change, on every host.
        for build in builds:
            if build["job_name"] == BOOTSTRAP:
                continue
            report = json.loads(fleet_merge.kept_log(build, "run-all-report.json") or "{}")
            (playbook,) = report["playbooks"]
            changed = {h: r for h, r in playbook["hosts"].items() if r.get("changed")}
            assert playbook["status"] == "ok" and not changed, (build["job_name"], playbook)
        # The soft dependencies, all running: Zuul's job after ZooKeeper's
        # and the tenant config's.
        by_name = {b["job_name"]: b for b in builds}
        for dependency in (ZOOKEEPER_JOB, TENANT_CONFIG):
            assert by_name[ZUUL_JOB]["start_time"] >= by_name[dependency]["end_time"], dependency
        assert zuul_containers() == before, "a no-op converge recreated a Zuul container"
