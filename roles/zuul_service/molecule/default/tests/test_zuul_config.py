"""Behaviour of the zuul_config role, checked with real Zuul from its image.

See zuul_stack.py for what prepare.yml and converge.yml did. These tests run
Zuul's own commands in one-off containers from the scheduler image, with
the same volumes the service roles give their containers, and converge
again with broken values: each of those runs stops in zuul_config, before
any service is touched.
"""

import configparser
import hashlib
import json
import os
import shlex

import pytest
import yaml
from scenario import instance_names
from zuul_stack import EPHEMERAL

from sctools import REPO_ROOT

testinfra_hosts = instance_names()

PRIVATE_VARS = EPHEMERAL / "private-vars.yml"
CONF = "/etc/zuul/zuul.conf"
CHECK = "/usr/local/sbin/zuul-conf-check"
VOLUMES = "-v /etc/zuul:/etc/zuul:ro -v /var/lib/zuul:/var/lib/zuul -v /srv/git:/srv/git:ro"
# ZooKeeper's TLS client port, from its one home (converge.yml reads it too).
SITE = yaml.safe_load((REPO_ROOT / "group_vars" / "all.yaml").read_text())
ZK_PORT = SITE["zookeeper_secure_client_port"]


def keystore_password():
    return yaml.safe_load(PRIVATE_VARS.read_text())["zuul_config_keystore_password"]


def zuul(host, *argv):
    """A Zuul command in a one-off container of the scheduler image, as user zuul."""
    facts = json.loads(host.file("/etc/ansible/facts.d/docker_host.fact").content_string)
    image = f"{facts['image_prefix']}/zuul-scheduler:{facts['image_tag']}"
    command = " ".join(shlex.quote(a) for a in argv)
    return host.run(f"docker run --rm --network host {VOLUMES} {image} {command}")


def parsed_conf(host):
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(host.file(CONF).content_string)
    return parser


def test_zuul_user_has_the_ids_of_the_images(host):
    user = host.user("zuul")
    assert (user.uid, user.gid, user.group) == (10001, 10001, "zuul")
    assert user.shell == "/usr/sbin/nologin"


def test_directories_belong_to_the_right_users(host):
    etc, state = host.file("/etc/zuul"), host.file("/var/lib/zuul")
    assert (etc.user, etc.group, etc.mode) == ("root", "root", 0o755)
    assert (state.user, state.group, state.mode) == ("zuul", "zuul", 0o750)


def test_zuul_conf_is_readable_by_zuul_and_nobody_else(host):
    conf = host.file(CONF)
    assert (conf.user, conf.group, conf.mode) == ("root", "zuul", 0o640)
    assert host.run(f"runuser -u zuul -- cat {CONF}").rc == 0
    assert host.run(f"runuser -u nobody -- cat {CONF}").rc != 0


def test_zuul_conf_points_every_service_at_the_shared_layout(host):
    conf = parsed_conf(host)
    hostname = host.backend.get_hostname()
    assert conf["zookeeper"]["hosts"] == f"{hostname}:{ZK_PORT}"
    assert {k: conf["zookeeper"][k] for k in ("tls_cert", "tls_key", "tls_ca")} == {
        "tls_cert": "/etc/zuul/tls/cert.pem",
        "tls_key": "/etc/zuul/tls/key.pem",
        "tls_ca": "/etc/zuul/tls/ca.pem",
    }
    assert conf["database"]["dburi"] == "sqlite:////var/lib/zuul/zuul.db"
    assert conf["scheduler"]["tenant_config"] == "/etc/zuul/main.yaml"
    assert conf["web"]["listen_address"] == "127.0.0.1"
    assert conf["web"]["port"] == "9000"
    assert conf["executor"]["finger_port"] == "7900"
    assert conf["executor"]["private_key_file"] == "/var/lib/zuul/ssh/id_rsa"
    assert conf["executor"]["variables"] == "/etc/zuul/site-variables.yaml"
    assert conf["executor"]["user"] == "zuul"
    assert conf["merger"]["git_user_email"] == "zuul@example.org"
    ports = {s: conf[s]["prometheus_port"] for s in ("scheduler", "web", "merger", "executor")}
    assert len(set(ports.values())) == 4, ports
    for section in ("scheduler", "web", "merger", "executor"):
        assert conf[section]["command_socket"] == f"/var/lib/zuul/{section}.socket"
    assert dict(conf['connection "git"']) == {"driver": "git", "baseurl": "file:///srv/git"}
    # zuul_config_extra_options (converge.yml) merged over the generated options.
    assert conf["executor"]["merge_jobs"] == "false"


def test_zuul_reads_the_keystore_password_exactly_as_given(host):
    # The fake password contains "%(100)s": Zuul's configparser would
    # interpolate it (or fail) unless the role doubled the "%".
    script = (
        "import configparser, hashlib, os\n"
        # As Zuul builds its parser (zuul/cmd/__init__.py, readConfig).
        "env = {k: v for k, v in os.environ.items() if k.startswith('ZUUL_')}\n"
        "c = configparser.ConfigParser(env)\n"
        "c.read('/etc/zuul/zuul.conf')\n"
        "print(hashlib.sha256(c.get('keystore', 'password').encode()).hexdigest())\n"
    )
    result = zuul(host, "python3", "-c", script)
    assert result.rc == 0, result.stderr
    assert "%(" in keystore_password()
    assert result.stdout.strip() == hashlib.sha256(keystore_password().encode()).hexdigest()


def test_zuul_admin_accepts_main_yaml_with_the_connections_of_zuul_conf(host):
    result = zuul(host, "zuul-admin", "tenant-conf-check")
    assert result.rc == 0, result.stdout + result.stderr


def test_zuul_reaches_zookeeper_over_tls_with_zuul_conf(host):
    # Zuul's own client, built from [zookeeper] hosts and tls_* as every
    # service builds it; ZooKeeper has no plain port.
    script = (
        "import configparser\n"
        "from zuul.zk import ZooKeeperClient\n"
        "c = configparser.ConfigParser()\n"
        "c.read('/etc/zuul/zuul.conf')\n"
        "zk = ZooKeeperClient.fromConfig(c)\n"
        "zk.connect()\n"
        "print('connected' if zk.connected else 'not connected', zk.client.get_children('/'))\n"
        "zk.disconnect()\n"
    )
    result = zuul(host, "python3", "-c", script)
    assert result.rc == 0, result.stdout + result.stderr
    assert result.stdout.startswith("connected [") and "'zookeeper'" in result.stdout, result.stdout


@pytest.fixture
def zuul_conf_put_back(host, stack):
    """zuul.conf as the scenario wrote it, after a test that wrote another.

    Only zuul_config runs (its tag), in the test and here: the services
    never see the other file, and the one put back is the one they run with.
    """
    before = host.file(CONF).sha256sum
    containers = stack.containers()
    yield
    code, output = stack.converge(tags=("zuul_config_configure",))
    assert code == 0, output[-3000:]
    assert host.file(CONF).sha256sum == before
    assert stack.containers() == containers


@pytest.mark.usefixtures("zuul_conf_put_back")
def test_converge_never_prints_the_keystore_password(host, stack, tmp_path):
    # Another password in the running stack would keep the scheduler from
    # reading the project keys it stored: zuul_config alone runs (its tag).
    secret = "fake-never-printed-%(x)s-" + os.urandom(6).hex()
    private = tmp_path / "private-vars.yml"
    private.write_text(yaml.safe_dump({"zuul_config_keystore_password": secret}))
    code, output = stack.converge(
        {"private_vars_file": str(private)},
        tags=("zuul_config_configure",),
        env={"ANSIBLE_VERBOSITY": "2", "ANSIBLE_DIFF_ALWAYS": "1"},
    )
    assert code == 0, output[-3000:]
    assert "TASK [zuul_config : Write zuul.conf" in output
    assert secret not in output
    assert secret.replace("%", "%%") not in output
    # ... and Zuul gets it.
    assert f"password={secret.replace('%', '%%')}" in host.file(CONF).content_string


def test_connection_without_driver_is_refused_without_printing_its_options(host, stack):
    before = host.file(CONF).sha256sum
    secret = "fake-gerrit-password-" + os.urandom(6).hex()
    code, output = stack.converge(
        {"zuul_config_connections": [{"name": "gerrit", "server": "x", "password": secret}]},
    )
    assert code != 0, output[-3000:]
    assert "zuul_config_connections item 1 (gerrit) needs a driver" in output
    assert secret not in output
    assert host.file(CONF).sha256sum == before


def test_missing_tls_files_are_named_with_the_role_that_makes_them(host, stack):
    before = host.file(CONF).sha256sum
    host.run_test("mv /etc/zuul/tls/key.pem /etc/zuul/tls/key.pem.away")
    try:
        code, output = stack.converge()
    finally:
        host.run_test("mv /etc/zuul/tls/key.pem.away /etc/zuul/tls/key.pem")
    assert code != 0, output[-3000:]
    assert "/etc/zuul/tls/key.pem: no such file" in output
    assert "apply the internal_ca role" in output
    assert host.file(CONF).sha256sum == before


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[keystore]\npassword=fake-50%-off\n", "[keystore] password: a '%' that is not doubled"),
        ("[zookeeper]\nhosts=zk:2281\n", "[keystore] password is missing or empty"),
        ("[keystore]\npassword=fake-a\npassword=fake-b\n",
         "option 'password' in section 'keystore' already exists"),
        ('[connection "gerrit"]\nserver=x\n', '[connection "gerrit"] has no driver'),
        ("password=fake-no-section\n", "line 1: option before the first [section]"),
    ],
    ids=["percent", "missing", "duplicate", "no driver", "no section"],
)  # fmt: skip
def test_checker_refuses_broken_files_without_printing_values(host, content, message):
    path = "/tmp/zuul-conf-broken.conf"
    host.check_output("printf '%%s' %s > %s", content, path)
    result = host.run(f"{CHECK} {path}")
    assert result.rc == 1, result.stdout
    assert message in result.stderr
    assert "fake-" not in result.stdout + result.stderr


def test_checker_accepts_the_installed_file(host):
    result = host.run(f"{CHECK} {CONF}")
    assert result.rc == 0, result.stderr
    assert "valid" in result.stdout
