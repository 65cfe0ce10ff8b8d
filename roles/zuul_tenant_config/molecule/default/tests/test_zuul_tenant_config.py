"""Behaviour of the zuul_tenant_config role on Debian 12 and 13.

prepare.yml built main.yaml from the repository's namespaces/ (the
namespaces tool) into the molecule ephemeral directory and created the
marker that stands for a deployed scheduler. converge.yml installs that
file with a reconfigure command that appends a line to
/var/log/zuul-reconfigure.log, so the tests count its runs. molecule ran
converge twice (converge, idempotence) before these tests.

Tests that change the file run ansible-playbook on converge.yml for their
own instance and put the built file back afterwards.
"""

import hashlib
import os
from pathlib import Path

import pytest
import yaml
from scenario import converge_result, instance_names

testinfra_hosts = instance_names()

EPHEMERAL = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])
BUILT = EPHEMERAL / "namespaces-build" / "zuul" / "main.yaml"
DEST = "/etc/zuul/main.yaml"
LOG = "/var/log/zuul-reconfigure.log"
CHECK = "/usr/local/sbin/zuul-tenant-config-check"


def reconfigure_count(host):
    log = host.file(LOG)
    return len(log.content_string.splitlines()) if log.exists else 0


def variant(tmp_path, name, change):
    """A copy of the built main.yaml with `change` applied to its parsed tenants."""
    tenants = yaml.safe_load(BUILT.read_text())
    change(tenants)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(tenants, sort_keys=False))
    return path


@pytest.fixture
def restore(host, tmp_path):
    """Put the built main.yaml back after the test, without counting a reconfigure."""
    yield
    code, output = converge_result(
        host, {"zuul_tenant_config_reconfigure_if_exists": "/nonexistent"}
    )
    assert code == 0, output
    assert host.file(DEST).sha256sum == _sha256(BUILT)


def _sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_installed_main_yaml_is_the_one_built_from_namespaces(host):
    installed = host.file(DEST)
    assert installed.is_file
    assert installed.sha256sum == _sha256(BUILT)
    assert (installed.user, installed.group, installed.mode) == ("root", "root", 0o644)
    tenants = [t["tenant"]["name"] for t in yaml.safe_load(installed.content_string)]
    assert {"opendev", "openstack", "zuul"} <= set(tenants)


def test_reconfigure_ran_once_for_two_converges(host):
    # converge installed the file (one run); idempotence changed nothing (none).
    assert reconfigure_count(host) == 1


def test_checker_accepts_the_installed_file(host):
    result = host.run(f"{CHECK} --connections gerrit {DEST}")
    assert result.rc == 0, result.stderr
    assert "tenant(s): valid" in result.stdout


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("- tenant:\n    name: a\n  - broken\n", "YAML syntax error"),
        ("[]\n", "non-empty list"),
        ("- tenant: {name: a, max-nodes-per-jobz: 3}\n", "unknown tenant attribute"),
        ("- tenant: {name: a}\n- tenant: {name: a}\n", "duplicates item 1"),
        ("- tenant: {name: a, source: {gerritx: {}}}\n", "unknown connection 'gerritx'"),
        ("- tenant: {name: a, source: {gerrit: {untrusted-projects: [{x/y: {includ: [job]}}]}}}\n",
         "unknown project setting 'includ'"),
        ("- tenants: {name: a}\n", "unknown object 'tenants'"),
    ],
    ids=["syntax", "empty", "tenant key", "duplicate", "connection", "project key", "object"],
)  # fmt: skip
def test_checker_rejects_broken_files(host, content, message):
    path = "/tmp/zuul-tenant-config-broken.yaml"
    host.check_output("printf '%%s' %s > %s", content, path)
    result = host.run(f"{CHECK} --connections gerrit {path}")
    assert result.rc == 1, result.stdout
    assert message in result.stderr


def test_broken_main_yaml_is_refused_and_the_old_one_stays(host, tmp_path):
    before = host.file(DEST).sha256sum
    runs = reconfigure_count(host)
    broken = variant(tmp_path, "broken.yaml", lambda t: t[0]["tenant"].update({"colour": "red"}))
    code, output = converge_result(host, {"zuul_tenant_config_src": str(broken)})
    assert code != 0, output
    assert "failed to validate" in output, output
    assert "unknown tenant attribute 'colour'" in output, output
    assert host.file(DEST).sha256sum == before
    assert reconfigure_count(host) == runs
    # No temporary copy is left beside the file.
    assert host.run("ls -A /etc/zuul").stdout.split() == ["main.yaml"]


def test_changed_main_yaml_is_installed_and_reconfigures_once(host, tmp_path, restore):
    runs = reconfigure_count(host)
    changed = variant(
        tmp_path,
        "changed.yaml",
        lambda t: t.append({"tenant": {"name": "extra", "source": {"gerrit": {}}}}),
    )
    code, output = converge_result(host, {"zuul_tenant_config_src": str(changed)})
    assert code == 0, output
    assert host.file(DEST).sha256sum == _sha256(changed)
    assert reconfigure_count(host) == runs + 1
    # The same file again: no change, no reconfigure.
    code, output = converge_result(host, {"zuul_tenant_config_src": str(changed)})
    assert code == 0, output
    assert "changed=0" in output, output
    assert reconfigure_count(host) == runs + 1


def test_no_reconfigure_while_the_scheduler_is_not_deployed(host, tmp_path, restore):
    runs = reconfigure_count(host)
    changed = variant(tmp_path, "changed.yaml", lambda t: t.pop())
    code, output = converge_result(
        host,
        {
            "zuul_tenant_config_src": str(changed),
            "zuul_tenant_config_reconfigure_if_exists": "/nonexistent",
        },
    )
    assert code == 0, output
    assert host.file(DEST).sha256sum == _sha256(changed)
    assert reconfigure_count(host) == runs
