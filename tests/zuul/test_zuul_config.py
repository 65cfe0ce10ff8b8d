"""This repository's zuul.d, loaded by real Zuul (tox -e zuul).

Each test commits a configuration to the tenant's git repository and runs
zuul-scheduler --validate-tenants (with ZooKeeper and a merger, see
zuul_harness.py), extended to freeze every job graph as zuul-web's freeze-jobs
does (freeze_validate.py). The repository's own zuul.d must load cleanly,
with the job graphs the schedule implies; broken copies of it must be
refused, each with Zuul's own message.
"""

from __future__ import annotations

import subprocess
from dataclasses import replace

import pytest
import yaml
from zuul_harness import ZUUL_BIN, repository_files

from sctools.matchers import file_regex
from sctools.schedule import Schedule, load_schedule
from sctools.zuul_jobs import (
    BOOTSTRAP_JOB,
    INFRA_PROD_FILE,
    MOLECULE_FILE,
    job_name,
    render_infra_prod,
    zuul_dependencies,
)

DEPLOY_PIPELINES = ("deploy", "periodic-hourly", "periodic")


def all_zuul() -> Schedule:
    """The schedule as it will be once Zuul runs every playbook."""
    schedule = load_schedule()
    return Schedule({n: replace(p, owner="zuul") for n, p in schedule.playbooks.items()})


def all_zuul_files() -> dict[str, str]:
    """zuul.d with an infra-prod job for every playbook of the schedule."""
    schedule = all_zuul()
    regexes = {n: [file_regex(p.path)] for n, p in schedule.playbooks.items()}
    files = repository_files()
    files[INFRA_PROD_FILE] = render_infra_prod(schedule, regexes)
    return files


def edit(files: dict[str, str], rel: str, change) -> dict[str, str]:
    """A copy of files where the YAML of rel went through change(items)."""
    items = yaml.safe_load(files[rel])
    change(items)
    return {**files, rel: yaml.safe_dump(items, sort_keys=False)}


def job(items: list, name: str) -> dict:
    return next(i["job"] for i in items if "job" in i and i["job"]["name"] == name)


def test_tenant_file_passes_tenant_conf_check(zuul):
    code, output = zuul.tenant_conf_check()
    assert code == 0, output
    assert "Tenants config validated with success" in output


def test_tenant_conf_check_rejects_an_unknown_tenant_key(zuul, tmp_path):
    tenants = yaml.safe_load(zuul.tenant_file.read_text())
    tenants[0]["tenant"]["max-nodes-per-jobz"] = 5
    broken = tmp_path / "broken-main.yaml"
    broken.write_text(yaml.safe_dump(tenants))
    code, output = zuul.tenant_conf_check(broken)
    assert code != 0, output
    assert "extra keys not allowed" in output


def test_repository_zuul_d_loads_and_every_job_graph_freezes(repository_validation):
    result = repository_validation
    assert result.returncode == 0, result.output[-6000:]
    assert result.warnings == []
    # Loaded for real (a tenant reading the wrong branch loads nothing).
    generated = yaml.safe_load(repository_files()[MOLECULE_FILE])
    molecule = [i["job"]["name"] for i in generated if "job" in i]
    for pipeline in ("check", "gate"):
        graph = result.graph(pipeline)
        assert {"system-config-linters", "system-config-unit", "system-config-integration"} <= set(
            graph
        )
        assert set(molecule) <= set(graph)
    schedule = load_schedule()
    zuul_owned = [n for n in schedule.order() if schedule.playbooks[n].owner == "zuul"]
    for pipeline in DEPLOY_PIPELINES:
        graph = result.graph(pipeline)
        assert graph[BOOTSTRAP_JOB] == []
        for name in zuul_owned:
            assert {"name": BOOTSTRAP_JOB, "soft": False} in graph[job_name(name)]
        assert not {j for j in graph if j.startswith("infra-prod-")} - {
            BOOTSTRAP_JOB,
            *map(job_name, zuul_owned),
        }


def test_every_playbook_given_to_zuul_runs_in_the_schedules_order(zuul):
    # What the generator gives once Zuul owns every playbook: bootstrap first,
    # then soft dependencies exactly as schedule.yaml's depends_on.
    result = zuul.validate(all_zuul_files(), "every playbook owned by Zuul")
    assert result.returncode == 0, result.output[-6000:]
    schedule = all_zuul()
    for pipeline in DEPLOY_PIPELINES:
        graph = result.graph(pipeline)
        for name, playbook in schedule.playbooks.items():
            expected = [{"name": BOOTSTRAP_JOB, "soft": False}] + [
                {"name": job_name(d), "soft": True} for d in sorted(playbook.depends_on)
            ]
            assert sorted(graph[job_name(name)], key=lambda d: d["name"]) == sorted(
                expected, key=lambda d: d["name"]
            ), (pipeline, name)
    assert zuul_dependencies(schedule, "bridge") == ["base"]


def _unknown_attribute(files):
    return edit(
        files, "zuul.d/infra-prod.yaml", lambda i: job(i, BOOTSTRAP_JOB).update({"colour": "red"})
    )


def _missing_parent(files):
    return edit(
        files, INFRA_PROD_FILE, lambda i: job(i, job_name("base")).update({"parent": "no-such-job"})
    )


def _cycle(files):
    def base_waits_for_bridge(items):
        job(items, job_name("base"))["dependencies"].append(
            {"name": job_name("bridge"), "soft": True}
        )

    return edit(files, INFRA_PROD_FILE, base_waits_for_bridge)


def _hard_dependency_not_run(files):
    def deploy_job_in_check(items):
        items.append({"project": {"check": {"jobs": [job_name("base")]}}})

    return edit(files, INFRA_PROD_FILE, deploy_job_in_check)


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        (_unknown_attribute, "extra keys not allowed @ data['colour']"),
        (_missing_parent, "Job no-such-job not defined"),
        (_cycle, "Dependency cycle detected in job"),
        (_hard_dependency_not_run, f"depends on {BOOTSTRAP_JOB} which was not run"),
    ],
    ids=["unknown job attribute", "missing parent", "dependency cycle", "hard dependency not run"],
)
def test_zuul_rejects_a_broken_zuul_d(zuul, breakage, message):
    result = zuul.validate(breakage(all_zuul_files()), f"broken: {breakage.__name__}")
    assert result.returncode != 0, result.output[-6000:]
    assert message in result.output, result.output[-6000:]


def test_a_files_regex_re2_cannot_compile_is_reported(zuul):
    # Zuul compiles file matchers with re2 (no lookaround); the generator's
    # regexes must stay within it, and the clean run above has no warning.
    def lookahead(items):
        job(items, job_name("base"))["files"] = ["^roles/(?!molecule/)"]

    result = zuul.validate(edit(all_zuul_files(), INFRA_PROD_FILE, lookahead), "re2 lookahead")
    assert result.returncode == 0, result.output[-6000:]  # only a warning, hence the check
    assert any("must conform to RE2 syntax" in w for w in result.warnings), result.warnings


def test_plain_validate_tenants_misses_the_cycle_that_freezing_finds(zuul):
    # Why freeze_validate.py exists: Zuul's own --validate-tenants accepts a
    # configuration whose job graph cannot be built.
    zuul.validate(_cycle(all_zuul_files()), "cycle, for plain validation")
    result = subprocess.run(
        ["timeout", "180", str(ZUUL_BIN / "zuul-scheduler"), "-c", str(zuul.conf), "-f",
         "--validate-tenants"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]
