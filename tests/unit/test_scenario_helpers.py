"""tests/molecule/scenario.py, the scenarios' shared test helpers, without instances.

It is importable here through the same `pythonpath` of pyproject.toml as
in `molecule verify`.
"""

from __future__ import annotations

import subprocess
from types import SimpleNamespace

import pytest
import scenario

from sctools.refusals import Outcome


class FakeHost:
    """A testinfra host with files whose checksums the test sets."""

    def __init__(self, name: str, files: dict[str, str]):
        self.backend = SimpleNamespace(get_hostname=lambda: name)
        self.files = files

    def file(self, path: str):
        return SimpleNamespace(sha256sum=self.files[path])


@pytest.fixture
def ran(monkeypatch, tmp_path):
    """The commands converge_instance runs (each one exits 0)."""
    monkeypatch.setenv("MOLECULE_INVENTORY_FILE", str(tmp_path / "inventory.yml"))
    monkeypatch.setenv("MOLECULE_SCENARIO_DIRECTORY", str(tmp_path / "scenario"))
    calls = []

    def run(command, **kwargs):
        calls.append((command, kwargs))
        return subprocess.CompletedProcess(command, 0, "PLAY RECAP\n", "")

    monkeypatch.setattr(scenario.subprocess, "run", run)
    return calls


def test_converge_runs_the_scenario_of_molecule_verify_on_the_host(ran, tmp_path):
    host = FakeHost("sc-demo-trixie", {})
    assert scenario.converge(host, {"demo_port": 8080}, tags=["demo"]) == "PLAY RECAP\n"
    (command, kwargs), *_ = ran
    assert command[1:] == [
        "-i",
        str(tmp_path / "inventory.yml"),
        str(tmp_path / "scenario" / "converge.yml"),
        "--limit",
        "sc-demo-trixie",
        "-e",
        '{"demo_port": 8080}',
        "--tags",
        "demo",
    ]
    assert kwargs["cwd"] == tmp_path / "scenario"
    assert kwargs["env"]["ANSIBLE_ROLES_PATH"] == str(scenario.REPO_ROOT / "roles")


def test_converge_result_takes_an_inventory_name_and_gives_code_and_output(ran):
    assert scenario.converge_result("all") == (0, "PLAY RECAP\n")
    assert ran[0][0][ran[0][0].index("--limit") + 1] == "all"


def outcome(*_args) -> Outcome:
    return Outcome(messages={}, changed=0, output="")


def test_refusals_on_lists_what_changed_during_the_run(monkeypatch):
    host = FakeHost("sc-demo-bookworm", {"/etc/a": "1", "/etc/b": "1"})

    def refusals(name, role, cases):
        assert (name, role) == ("sc-demo-bookworm", "demo")
        host.files["/etc/b"] = "2"
        return outcome()

    monkeypatch.setattr(scenario, "refusals", refusals)
    result = scenario.refusals_on(
        host,
        "demo",
        {},
        only_on="bookworm",
        files=["/etc/a", "/etc/b"],
        probes={"same": lambda: "x"},
    )
    assert result.altered == ["/etc/b"]


def test_refusals_on_skips_the_other_release(monkeypatch):
    monkeypatch.setattr(scenario, "refusals", outcome)
    with pytest.raises(pytest.skip.Exception, match="on the bookworm instance"):
        scenario.refusals_on(FakeHost("sc-demo-trixie", {}), "demo", {}, only_on="bookworm")


def test_variable_of_a_case_is_the_first_it_sets_unless_overridden():
    cases = {
        "port 0": {"demo_port": 0, "demo_dir": "/srv/demo"},
        "dir inside the webroot": {"demo_dir": "/var/www/demo/keys"},
    }
    overrides = {"dir inside the webroot": "demo_webroot"}
    assert scenario.variable_of("port 0", cases) == "demo_port"
    assert scenario.variable_of("port 0", cases, overrides) == "demo_port"
    assert scenario.variable_of("dir inside the webroot", cases, overrides) == "demo_webroot"


class HostOfDirectories:
    """A testinfra host whose directories have the (user, group, mode) the test sets."""

    def __init__(self, directories: dict[str, tuple[str, str, int]]):
        self.directories = directories

    def file(self, path: str):
        user, group, mode = self.directories[path]
        return SimpleNamespace(user=user, group=group, mode=mode)


HOST = HostOfDirectories({"/": ("root", "root", 0o755), "/var/log": ("root", "adm", 0o755)})


def test_assert_nothing_changed_passes_when_nothing_did():
    scenario.assert_nothing_changed(outcome())
    scenario.assert_nothing_changed(outcome(), HOST, {"/": 0o755, "/var/log": 0o755})
    scenario.assert_nothing_changed(outcome(), HOST, {"/": 0o755}, group="root")


def test_assert_nothing_changed_names_what_changed():
    changed = Outcome(messages={}, changed=2, output="... changed: [sc-demo-bookworm]")
    with pytest.raises(AssertionError, match="changed: \\[sc-demo-bookworm\\]"):
        scenario.assert_nothing_changed(changed)
    altered = Outcome(messages={}, changed=0, output="", altered=["/etc/demo.conf"])
    with pytest.raises(AssertionError, match="refused runs: /etc/demo.conf"):
        scenario.assert_nothing_changed(altered)
    with pytest.raises(AssertionError, match="/ is root 755, not root 1777"):
        scenario.assert_nothing_changed(outcome(), HOST, {"/": 0o1777})


def test_assert_nothing_changed_checks_the_group_only_where_given():
    with pytest.raises(AssertionError, match="/var/log is root:adm 755, not root:root 755"):
        scenario.assert_nothing_changed(outcome(), HOST, {"/var/log": 0o755}, group="root")


def test_headers_of_a_curl_dump_are_lower_case_pairs_in_order():
    dump = "HTTP/2 200\r\nServer: Apache\r\nX-Frame-Options: DENY\r\nVary: a\r\nVary: b\r\n\r\n"
    result = SimpleNamespace(rc=0, stdout=dump, stderr="")
    assert scenario.headers_of(result) == [
        ("server", "Apache"),
        ("x-frame-options", "DENY"),
        ("vary", "a"),
        ("vary", "b"),
    ]
