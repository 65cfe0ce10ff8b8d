"""Unit tests of tools/sctools/molecule_instances.py (molecule's create and destroy)."""

import io
import json
import os

import pytest
import yaml

from sctools import REPO_ROOT, molecule_instances
from sctools.cli import Exit, ToolError

CONFIGS = [
    REPO_ROOT / ".config" / "molecule" / name for name in ("config.yml", "nested-docker.yml")
]


def platforms_of(path, role="sc-example"):
    """A shared config's platforms as molecule hands them over (variables expanded)."""
    text = path.read_text()
    text = text.replace("${SC_MOLECULE_ROLE:-sc-molecule}", role)
    text = text.replace("${SC_MOLECULE_IPV6_SUBNET:-fd42:5c0f:ffff::/64}", "fd42:1::/64")
    return yaml.safe_load(text)["platforms"]


def good(**changes):
    platform = {
        "name": "sc-x-bookworm",
        "image": "system-config/debian-systemd:bookworm",
        "pre_build_image": True,
        "command": "/lib/systemd/systemd",
        "tmpfs": ["/run", "/tmp"],
        "cgroupns_mode": "host",
        "capabilities": ["SYS_ADMIN"],
    }
    platform.update(changes)
    return {k: v for k, v in platform.items() if v is not None}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_key_of_the_shared_platforms_is_understood(path):
    names, networks, runs = molecule_instances.plan(platforms_of(path))
    assert names and all(args[-1] == "/lib/systemd/systemd" for args in runs)
    assert networks == [["--ipv6", "--subnet=fd42:1::/64", "sc-example-net"]]


def test_the_systemd_platform_becomes_the_run_flags_systemd_needs():
    (args, *_) = molecule_instances.plan(platforms_of(CONFIGS[0]))[2]
    for flag in (
        "--name=sc-example-bookworm",
        "--hostname=sc-example-bookworm",
        "--tmpfs=/run",
        "--volume=/sys/fs/cgroup:/sys/fs/cgroup:rw",
        "--cgroupns=host",
        "--cap-add=SYS_ADMIN",
        "--network=sc-example-net",
    ):
        assert flag in args
    assert args[-2:] == ["system-config/debian-systemd:bookworm", "/lib/systemd/systemd"]


def test_the_nested_platform_keeps_its_security_options_and_docker_tmpfs():
    (args,) = molecule_instances.plan(platforms_of(CONFIGS[1]))[2]
    assert "--security-opt=seccomp=unconfined" in args
    assert "--tmpfs=/var/lib/docker:exec" in args


@pytest.mark.parametrize(
    ("platform", "named"),
    [
        (good(published_ports=["80:80"]), "published_ports: not supported"),
        (good(pre_build_image=False), "pre_build_image must be true"),
        (good(pre_build_image=None), "pre_build_image must be true"),
        (good(name="two words"), "name must be one word"),
        (good(image=None), "image must be one word"),
        (good(tmpfs="/run"), "tmpfs must be a list"),
        (good(capabilities=["SYS_ADMIN", ""]), "capabilities must be a list"),
        (good(cgroupns_mode="host --privileged"), "cgroupns_mode must be one word"),
        (good(privileged="yes"), "privileged must be true or false"),
        (good(networks=["sc-net"]), "networks must be a list of {name: NETWORK}"),
        (good(command=""), "command must be a non-empty string"),
        (good(override_command=False), "command is only used with override_command"),
        (good(docker_networks=[{"name": "n", "driver": "macvlan"}]), "driver not supported"),
        (good(docker_networks=[{"name": "n", "ipam_config": [{"gateway": "x"}]}]), "ipam_config"),
        (good(docker_networks={"name": "n"}), "docker_networks must be a list"),
    ],
)
def test_a_bad_platform_is_refused_naming_the_platform_and_key(platform, named):
    with pytest.raises(ToolError) as err:
        molecule_instances.plan([good(name="sc-x-trixie"), platform])
    assert err.value.code == Exit.USAGE
    assert str(err.value).startswith("molecule platforms[1]")
    assert named in str(err.value)


def test_platforms_that_are_not_a_list_or_repeat_a_name_are_refused():
    for platforms in ([], {"name": "x"}, [good(), good()]):
        with pytest.raises(ToolError, match="molecule platforms"):
            molecule_instances.plan(platforms)


def test_without_override_the_image_keeps_its_own_command():
    args = molecule_instances.run_args(good(command=None, override_command=False))
    assert args[-1] == "system-config/debian-systemd:bookworm"


@pytest.fixture
def docker_calls(monkeypatch):
    """The docker commands a create or destroy would run, none run."""
    calls = []
    existing_networks = {"sc-old-net"}
    monkeypatch.setattr(molecule_instances.docker_cli, "run", lambda *a, **k: calls.append(a))
    monkeypatch.setattr(
        molecule_instances.docker_cli,
        "inspect",
        lambda kind, name: {} if name in existing_networks else None,
    )
    return calls


def test_create_starts_afresh_then_makes_a_missing_network_and_each_instance(docker_calls):
    platforms = [good(docker_networks=[{"name": "sc-x-net"}]), good(name="sc-x-trixie")]
    molecule_instances.create(platforms)
    assert docker_calls[0] == ("rm", "-f", "-v", "sc-x-bookworm", "sc-x-trixie")
    assert docker_calls[1] == ("network", "create", "sc-x-net")
    assert [c[:3] for c in docker_calls[2:]] == [
        ("run", "-d", "--name=sc-x-bookworm"),
        ("run", "-d", "--name=sc-x-trixie"),
    ]


def test_create_reuses_a_network_that_exists(docker_calls):
    molecule_instances.create([good(docker_networks=[{"name": "sc-old-net"}])])
    assert not any(c[:2] == ("network", "create") for c in docker_calls)


def test_destroy_removes_the_instances_and_their_network(docker_calls):
    molecule_instances.destroy([good(docker_networks=[{"name": "sc-x-net"}])])
    assert docker_calls == [("rm", "-f", "-v", "sc-x-bookworm"), ("network", "rm", "sc-x-net")]


def test_bad_input_changes_nothing(docker_calls, monkeypatch, capsys):
    monkeypatch.setattr(molecule_instances.docker_cli, "ensure_daemon", lambda: None)
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps([good(), good(ports=[1])])))
    assert molecule_instances.main(["create"]) == Exit.USAGE
    assert "platforms[1] (sc-x-bookworm): ports: not supported" in capsys.readouterr().err
    assert docker_calls == []


def test_stdin_that_is_not_json_is_a_usage_error(monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("platforms: [x]"))
    assert molecule_instances.main(["destroy"]) == Exit.USAGE
    assert "not JSON" in capsys.readouterr().err


def test_the_shared_config_hands_create_and_destroy_to_this_module():
    playbooks = yaml.safe_load(CONFIGS[0].read_text())["provisioner"]["playbooks"]
    for action, path in playbooks.items():
        playbook = REPO_ROOT / "tests" / "molecule" / os.path.basename(path)
        assert playbook.name == f"{action}.yml"
        assert f"sctools.molecule_instances, {action}" in playbook.read_text()
