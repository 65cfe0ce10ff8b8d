"""Unit tests of tools/sctools/molecule_all.py."""

import json
import os
import signal
import threading
from concurrent.futures import Future
from pathlib import Path

import pytest
import yaml

from sctools import REPO_ROOT, molecule_all
from sctools.analysis.playbooks import Analyzer


def make_role(root, name, scenario=True):
    path = root / name / "molecule" / "default"
    path.mkdir(parents=True)
    if scenario:
        (path / "molecule.yml").write_text("scenario: {name: default}\n")


def test_roles_with_scenario_finds_only_roles_with_molecule_yml(tmp_path):
    make_role(tmp_path, "sshd")
    make_role(tmp_path, "users")
    make_role(tmp_path, "half_done", scenario=False)
    assert molecule_all.roles_with_scenario(tmp_path) == ["sshd", "users"]


def test_instance_names_are_valid_host_names_and_unique_per_role():
    containers, network = molecule_all.resource_names("base_server")
    assert containers == ["sc-base-server-bookworm", "sc-base-server-trixie"]
    assert network == "sc-base-server-net"


def test_ipv6_subnet_is_stable_per_role_and_differs_between_roles():
    assert molecule_all.ipv6_subnet("sshd") == molecule_all.ipv6_subnet("sshd")
    assert molecule_all.ipv6_subnet("sshd") != molecule_all.ipv6_subnet("users")
    assert molecule_all.ipv6_subnet("sshd").startswith("fd42:5c10:")


def test_unknown_role_is_a_usage_error(capsys):
    assert molecule_all.main(["no_such_role_here"]) == 2
    assert "no molecule scenario for role(s) no_such_role_here" in capsys.readouterr().err


def test_no_scenarios_at_all_is_an_error_not_a_pass(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(molecule_all, "ROLES_DIR", tmp_path)
    monkeypatch.setattr(molecule_all, "roles_with_scenario", lambda: [])
    assert molecule_all.main([]) == 2
    assert "no role" in capsys.readouterr().err


# -- which scenarios run a dockerd, and which images they pull ---------------


def write(root, files):
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


SCENARIO = "roles/{}/molecule/default/"
DOCKER_HOST_IMPORT = """
- name: A docker host
  ansible.builtin.import_playbook: ../../../../tests/molecule/docker_host.yml
  vars:
    docker_host_images: {}
"""


@pytest.fixture
def repo(tmp_path):
    """Roles docker and app (depends on docker), plain; a shared docker_host.yml."""
    write(
        tmp_path,
        {
            "ansible.cfg": "[defaults]\ninventory = hosts.yaml\nroles_path = roles\n",
            "hosts.yaml": "all:\n  hosts:\n    web01.example.org: {}\n",
            "tests/molecule/docker_host.yml": (
                "- hosts: all\n  tasks:\n    - ansible.builtin.include_role: {name: docker}\n"
            ),
            "roles/docker/tasks/main.yml": "[]\n",
            "roles/app/tasks/main.yml": "[]\n",
            "roles/app/meta/main.yml": "dependencies: [docker]\n",
            "roles/plain/tasks/main.yml": "[]\n",
            "roles/web/tasks/main.yml": "[]\n",
            **{
                SCENARIO.format(role) + "converge.yml": f"- hosts: all\n  roles: [{role}]\n"
                for role in ("docker", "app", "plain", "web")
            },
            SCENARIO.format("web") + "prepare.yml": DOCKER_HOST_IMPORT.format("[zookeeper]")
            + DOCKER_HOST_IMPORT.format("[zuul-web, zookeeper]"),
            SCENARIO.format("plain") + "prepare.yml": "- hosts: all\n  tasks: []\n",
        },
    )
    return tmp_path


def test_a_scenario_runs_dockerd_when_it_applies_the_role_docker(repo):
    analyzer = Analyzer(repo)
    assert molecule_all.describe("docker", analyzer).nested_docker  # itself
    assert molecule_all.describe("app", analyzer).nested_docker  # through a dependency
    assert molecule_all.describe("web", analyzer).nested_docker  # through docker_host.yml
    assert not molecule_all.describe("plain", analyzer).nested_docker


def test_registry_images_are_those_the_docker_host_imports_name(repo):
    analyzer = Analyzer(repo)
    assert molecule_all.describe("web", analyzer).registry_images == ("zookeeper", "zuul-web")
    assert molecule_all.describe("docker", analyzer).registry_images is None


def test_the_real_scenarios_are_described_from_their_playbooks():
    analyzer = Analyzer(REPO_ROOT)
    docker = molecule_all.describe("docker", analyzer)
    assert (docker.nested_docker, docker.registry_images) == (True, None)
    compose = molecule_all.describe("compose_service", analyzer)
    assert (compose.nested_docker, compose.registry_images) == (True, ())
    zookeeper = molecule_all.describe("zookeeper", analyzer)
    assert zookeeper.registry_images == ("zookeeper",)
    sshd = molecule_all.describe("sshd", analyzer)
    assert (sshd.nested_docker, sshd.registry_images) == (False, None)


def test_scenarios_that_run_dockerd_get_the_nested_platform_over_the_base():
    nested = molecule_all.Scenario("docker", nested_docker=True, registry_images=None)
    plain = molecule_all.Scenario("sshd", nested_docker=False, registry_images=None)
    assert molecule_all.base_configs(plain) == [molecule_all.BASE_CONFIG]
    assert molecule_all.base_configs(nested) == [
        molecule_all.BASE_CONFIG,
        molecule_all.NESTED_DOCKER_CONFIG,
    ]


def test_a_run_pushes_the_union_of_images_and_needs_no_registry_without_users():
    def scenario(images):
        return molecule_all.Scenario("r", nested_docker=True, registry_images=images)

    assert molecule_all.registry_images([scenario(None)]) is None
    assert molecule_all.registry_images([scenario(None), scenario(())]) == []
    both = [scenario(("zookeeper",)), scenario(("zuul-web", "zookeeper"))]
    assert molecule_all.registry_images(both) == ["zookeeper", "zuul-web"]


def test_a_run_without_registry_users_starts_none(monkeypatch):
    monkeypatch.setattr(molecule_all.buildset_registry, "ensure", pytest.fail)
    with molecule_all.run_registry(None) as (env, pushed):
        assert env == {}
        assert pushed is None


def test_nested_platform_is_the_base_systemd_instance_plus_what_dockerd_needs():
    """The nested file repeats the base instance (molecule replaces lists): keep them equal."""
    base = yaml.safe_load(molecule_all.BASE_CONFIG.read_text())["platforms"][0]
    (nested,) = yaml.safe_load(molecule_all.NESTED_DOCKER_CONFIG.read_text())["platforms"]
    assert nested["name"].endswith("-trixie") and nested["image"].endswith(":trixie")
    for key in base.keys() - {"name", "image", "capabilities", "tmpfs"}:
        assert nested[key] == base[key], key
    assert set(base["capabilities"]) < set(nested["capabilities"])
    assert "SYS_RESOURCE" not in nested["capabilities"]
    assert nested["tmpfs"] == [*base["tmpfs"], "/var/lib/docker:exec"]
    assert nested["security_opts"] == ["seccomp=unconfined", "apparmor=unconfined"]


def test_no_scenario_repeats_what_the_shared_platforms_give():
    """Capabilities and security options live in .config/molecule/ only."""
    for path in molecule_all.ROLES_DIR.glob("*/molecule/*/molecule.yml"):
        for platform in (yaml.safe_load(path.read_text()) or {}).get("platforms") or []:
            assert not {"capabilities", "security_opts"} & platform.keys(), path


def test_summary_file_has_every_scenario_for_the_ci_stage_table(tmp_path):
    from pathlib import Path

    from sctools import ci_stages

    path = tmp_path / "summary.json"
    results = [
        molecule_all.Result("sshd", True, 61.04, Path("sshd.log")),
        molecule_all.Result("mirror", False, 250.0, Path("mirror.log")),
    ]
    molecule_all.write_summary(results, 260.0, path)
    import json

    stages = ci_stages.molecule_stages(json.loads(path.read_text()))
    assert [(s.name, s.ok, s.seconds) for s in stages] == [
        ("molecule mirror", False, 250.0),
        ("molecule sshd", True, 61.0),
    ]


def test_known_long_scenarios_then_those_that_run_our_images_start_first():
    def scenario(role, nested, images):
        return molecule_all.Scenario(role, nested_docker=nested, registry_images=images)

    order = molecule_all.longest_first(
        [
            scenario("sshd", False, None),
            scenario("compose_service", True, ("zookeeper",)),
            scenario("docker", True, None),
            scenario("mirror", False, None),
            scenario("zookeeper", True, ("zookeeper",)),
            scenario("zuul_service", True, ("zookeeper", "zuul-merger", "zuul-web")),
        ]
    )
    assert [s.role for s in order] == [
        "zuul_service",
        "mirror",
        "zookeeper",
        "compose_service",
        "docker",
        "sshd",
    ]


def test_the_known_long_scenarios_exist():
    assert set(molecule_all.LONGEST) <= set(molecule_all.roles_with_scenario())


# -- an interrupted run -----------------------------------------------------


def test_an_interrupt_starts_no_further_scenario(request):
    """SIGTERM (a CI timeout) while a scenario runs: the queued ones never start."""
    previous = signal.signal(signal.SIGTERM, molecule_all.interrupt)
    request.addfinalizer(lambda: signal.signal(signal.SIGTERM, previous))
    started = []

    def run_one(scenario):
        started.append(scenario.role)
        os.kill(os.getpid(), signal.SIGTERM)
        # The handler raises in the main thread, which is waiting for us.
        return molecule_all.Result(scenario.role, True, 0.0, Path("/dev/null"))

    scenarios = [molecule_all.Scenario(role, False, None) for role in ("a", "b", "c")]
    with pytest.raises(KeyboardInterrupt):
        molecule_all.run_scenarios(scenarios, 1, run_one, lambda result: None)
    assert started == ["a"]


def test_a_run_reports_every_scenario_in_the_order_they_end():
    scenarios = [molecule_all.Scenario(role, False, None) for role in ("a", "b")]
    reported = []

    def run_one(scenario):
        return molecule_all.Result(scenario.role, scenario.role == "a", 1.0, Path("/dev/null"))

    results = molecule_all.run_scenarios(scenarios, 2, run_one, reported.append)
    assert sorted(r.role for r in results) == ["a", "b"]
    assert reported == results


def test_scenarios_that_pull_our_images_wait_for_the_push_and_others_do_not():
    """A cold build takes minutes: free slots run other scenarios meanwhile."""
    pushed: Future[None] = Future()
    events = []

    def run_one(scenario):
        events.append(scenario.role)
        if scenario.role == "b":  # the push ends while b runs
            pushed.set_result(None)
        return molecule_all.Result(scenario.role, True, 0.0, Path("/dev/null"))

    scenarios = [
        molecule_all.Scenario("zuul_service", True, ("zuul-web",)),
        molecule_all.Scenario("a", False, None),
        molecule_all.Scenario("mirror", True, ()),  # a registry, none of our images
        molecule_all.Scenario("b", False, None),
        molecule_all.Scenario("c", False, None),
    ]
    results = molecule_all.run_scenarios(
        scenarios, 1, run_one, lambda result: None, images_ready=pushed
    )
    assert events == ["a", "mirror", "b", "zuul_service", "c"]
    assert len(results) == 5


def test_a_failed_push_still_runs_the_scenarios_that_need_it():
    """They fail on their own ensure, with the reason; none is left unrun."""
    pushed: Future[None] = Future()
    pushed.set_exception(RuntimeError("build failed"))
    started = []

    def run_one(scenario):
        started.append(scenario.role)
        return molecule_all.Result(scenario.role, True, 0.0, Path("/dev/null"))

    scenarios = [molecule_all.Scenario("zookeeper", True, ("zookeeper",))]
    molecule_all.run_scenarios(scenarios, 2, run_one, lambda result: None, images_ready=pushed)
    assert started == ["zookeeper"]


def test_only_scenarios_that_pull_our_images_are_held_back():
    """All of them waiting: the run waits for the push instead of ending."""
    pushed: Future[None] = Future()
    started = []

    def run_one(scenario):
        started.append(scenario.role)
        return molecule_all.Result(scenario.role, True, 0.0, Path("/dev/null"))

    scenarios = [molecule_all.Scenario("zookeeper", True, ("zookeeper",))]
    timer = threading.Timer(0.2, pushed.set_result, args=(None,))
    timer.start()
    molecule_all.run_scenarios(scenarios, 2, run_one, lambda result: None, images_ready=pushed)
    timer.join()
    assert started == ["zookeeper"]


def test_phase_times_run_from_each_step_to_the_next_and_the_last_to_the_end():
    starts = [("destroy", 10.0), ("create", 12.5), ("converge", 15.0), ("destroy", 70.0)]
    assert molecule_all.phase_times(starts, 72.25) == [
        ("destroy", 2.5),
        ("create", 2.5),
        ("converge", 55.0),
        ("destroy", 2.2),
    ]
    assert molecule_all.phase_times([], 5.0) == []


def test_step_lines_are_molecule_s_executing_lines_only():
    lines = {
        "INFO     [default > converge] Executing": "converge",
        "INFO     [default > verify] Executing\n": "verify",
        "INFO     [default > verify] Executing Testinfra tests found in /x/tests/...": None,
        "INFO     [default > converge] Executed: Successful": None,
        "TASK [Executing] ***": None,
    }
    for line, step in lines.items():
        match = molecule_all.PHASE_START.search(line)
        assert (match.group(1) if match else None) == step, line


def test_a_run_records_molecule_s_steps_in_the_summary(tmp_path, monkeypatch):
    """run_role with a stand-in `molecule` that prints the lines molecule prints."""
    fake = tmp_path / "bin" / "molecule"
    fake.parent.mkdir()
    fake.write_text(
        "#!/bin/sh\n"
        "echo 'INFO     [default > create] Executing'\n"
        "echo 'INFO     [default > converge] Executing'\n"
        "echo 'changed: [sc-x]'\n"
        "exit 3\n"
    )
    fake.chmod(0o755)
    monkeypatch.setattr(molecule_all, "MOLECULE", str(fake))
    monkeypatch.setattr(molecule_all, "LOG_DIR", tmp_path / "logs")
    monkeypatch.setattr(molecule_all, "ROLES_DIR", tmp_path)
    (tmp_path / "sshd").mkdir()
    scenario = molecule_all.Scenario("sshd", nested_docker=False, registry_images=None)
    result = molecule_all.run_role(scenario, "converge", {})
    assert not result.ok
    assert [name for name, _ in result.phases] == ["create", "converge"]
    assert "changed: [sc-x]" in result.log.read_text()
    molecule_all.write_summary([result], 1.0, tmp_path / "summary.json")
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert [p[0] for p in summary["scenarios"][0]["phases"]] == ["create", "converge"]
