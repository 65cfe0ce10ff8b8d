"""Unit tests of tools/sctools/molecule_all.py."""

from sctools import molecule_all


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
