"""The local fleet's system-config tenant, loaded by real Zuul (tox -e zuul).

The fleet's Zuul has no Gerrit: its `gerrit` connection is the git driver
reading the stand-in git server. Its tenant for Zuul CD of this repository
(tests/standins/zuul-cd-tenant.yaml) takes this repository's zuul.d without
its pipelines and the pipelines deploy and periodic-hourly from the config
project fleet/zuul-cd (its seed tree, tests/standins/git/fleet/zuul-cd).
FleetZuul (zuul_harness.py) loads exactly those files, with zuul.d as in the
working tree, and freezes every job graph (freeze_validate.py); the same
zuul.d in the production tenant (conftest.py's repository_validation) is the
reference. Loading the tenant file also checks it against Zuul's schema.
"""

from __future__ import annotations

import pytest
import yaml
from zuul_harness import FLEET_TENANT_FILE, PROJECT, Validation, repository_files, seed_tree

from sctools.zuul_jobs import BOOTSTRAP_JOB

FLEET_PIPELINES = {"deploy", "periodic-hourly"}
SEED_PIPELINES = "zuul.d/pipelines.yaml"
# Pushes to ask the fleet's pipelines about: only the first deploys.
PUSH_TO_MASTER = {"project": PROJECT, "ref": "refs/heads/master"}
OTHER_PUSHES = [
    {"project": PROJECT, "ref": "refs/heads/stable"},
    {"project": PROJECT, "ref": "refs/tags/1.0.0"},
    {"project": PROJECT, "ref": "refs/heads/master-old"},
]


@pytest.fixture(scope="module")
def fleet(fleet_zuul) -> Validation:
    return fleet_zuul.validate(
        repository_files(), "zuul.d of the working tree", pushes=[PUSH_TO_MASTER, *OTHER_PUSHES]
    )


def zuul_d_jobs() -> list[dict]:
    """Every job zuul.d defines, as written."""
    return [
        item["job"]
        for rel, text in repository_files().items()
        if rel.startswith("zuul.d/")
        for item in yaml.safe_load(text) or []
        if isinstance(item, dict) and "job" in item
    ]


def pipelines(validation: Validation) -> dict[str, dict]:
    return {p["name"]: p for p in validation.pipelines}


def seed_with(change):
    """seed_tree, with the seeded pipelines (fleet/zuul-cd's) gone through change(items)."""

    def seed(project: str) -> dict[str, str]:
        files = seed_tree(project)
        if SEED_PIPELINES in files:
            items = yaml.safe_load(files[SEED_PIPELINES])
            change(items)
            files[SEED_PIPELINES] = yaml.safe_dump(items, sort_keys=False)
        return files

    return seed


def pipeline(items: list, name: str) -> dict:
    return next(i["pipeline"] for i in items if i["pipeline"]["name"] == name)


def test_fleet_tenant_loads_with_only_its_own_pipelines(fleet, repository_validation):
    assert fleet.returncode == 0, fleet.output[-6000:]
    assert fleet.warnings == []
    # zuul.d's five pipelines stay out; the two of fleet/zuul-cd are there,
    # with the manager, precedence and post-review of zuul.d's namesakes.
    assert set(pipelines(fleet)) == FLEET_PIPELINES
    assert {p["tenant"] for p in fleet.pipelines} == {"system-config"}
    reference = pipelines(repository_validation)
    for name, loaded in pipelines(fleet).items():
        for key in ("manager", "precedence", "post_review"):
            assert loaded[key] == reference[name][key], (name, key)


def test_fleet_job_graphs_freeze_as_in_production(fleet, repository_validation):
    # File matchers skipped, so every job of the pipeline: periodic-hourly
    # (and deploy when a push touches everything) runs every infra-prod job
    # zuul.d defines, bootstrap first, as in production.
    infra_prod = {
        j["name"]
        for j in zuul_d_jobs()
        if j["name"].startswith("infra-prod-") and not j.get("abstract")
    }
    assert BOOTSTRAP_JOB in infra_prod and len(infra_prod) > 1
    for name in sorted(FLEET_PIPELINES):
        graph = fleet.graph(name)
        assert set(graph) == infra_prod, name
        assert graph[BOOTSTRAP_JOB] == []
        for job in infra_prod - {BOOTSTRAP_JOB}:
            assert {"name": BOOTSTRAP_JOB, "soft": False} in graph[job], (name, job)
        assert graph == repository_validation.graph(name), name


def test_deploy_is_triggered_by_a_push_to_master_only(fleet):
    pushes = {(p["project"], p["ref"]): p["pipelines"] for p in fleet.pushes}
    assert pushes.pop((PUSH_TO_MASTER["project"], PUSH_TO_MASTER["ref"])) == ["deploy"]
    assert pushes == {(p["project"], p["ref"]): [] for p in OTHER_PUSHES}
    loaded = pipelines(fleet)
    assert loaded["deploy"]["triggers"] == [
        "<GitEventFilter connection: gerrit types: ref-updated refs: ^refs/heads/master$"
        " ignore_deletes: True>"
    ]
    # From Zuul's timer (yearly in the fleet: the seed says why).
    assert [t.split(" types:")[0] for t in loaded["periodic-hourly"]["triggers"]] == [
        "<TimerEventFilter connection: timer"
    ]


def _not_excluded(tmp_path):
    # zuul.d's pipelines loaded too: Gerrit triggers and reporters on a git
    # connection, and a second deploy.
    tenants = yaml.safe_load(FLEET_TENANT_FILE.read_text())
    source = tenants[0]["tenant"]["source"]["gerrit"]
    source["config-projects"] = [
        next(iter(p)) if isinstance(p, dict) else p for p in source["config-projects"]
    ]
    tenant_file = tmp_path / "not-excluded.yaml"
    tenant_file.write_text(yaml.safe_dump(tenants))
    return {"tenant_file": tenant_file}


def _gerrit_event(tmp_path):
    # zuul.d's deploy trigger copied: the git driver has no change-merged.
    def change_merged(items):
        pipeline(items, "deploy")["trigger"] = {"gerrit": [{"event": "change-merged"}]}

    return {"seed": seed_with(change_merged)}


def _pre_review_deploy(tmp_path):
    # Production jobs are post-review (zuul.d/infra-prod.yaml): they may only
    # run in a post-review pipeline.
    return {"seed": seed_with(lambda items: pipeline(items, "deploy").pop("post-review"))}


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        (_not_excluded, "Pipeline periodic-hourly is already defined"),
        (_gerrit_event, "for dictionary value @ data['trigger']['gerrit'][0]['event']"),
        (_pre_review_deploy, "Pre-review pipeline deploy does not allow post-review job"),
    ],
    ids=["system-config's pipelines not excluded", "Gerrit event in deploy", "deploy pre-review"],
)
def test_zuul_refuses_a_broken_fleet_tenant(fleet_zuul, tmp_path, breakage, message):
    result = fleet_zuul.validate(
        repository_files(), f"broken: {breakage.__name__}", **breakage(tmp_path)
    )
    assert result.returncode != 0, result.output[-6000:]
    assert message in result.output, result.output[-6000:]
