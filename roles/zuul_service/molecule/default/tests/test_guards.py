"""Values that would damage the host or break the Zuul services are refused before any change.

For each role of the stack that converge.yml applies (zuul_config,
zuul_service, zuul_executor, zuul_web), every case runs the whole role in
check mode (sctools.refusals) with the variables converge.yml gives it and
one bad value; each role's cases in one run, a module-scoped fixture.
Images are literal (the refusal play gathers no facts; the roles stop
before they would pull), the secrets fake.
"""

import pytest
from scenario import assert_nothing_changed, refusals_on, variable_of

IMAGES = "registry.example.org:5000/system-config"

# -- zuul_config ------------------------------------------------------------

ZUUL_CONFIG = {
    "zuul_config_zookeeper_hosts": ["{{ inventory_hostname }}:2281"],
    "zuul_config_keystore_password": "fake-guards-%(100)s",
    "zuul_config_connections": [{"name": "git", "driver": "git", "baseurl": "file:///srv/git"}],
    "zuul_config_merger_git_user_email": "zuul@example.org",
    "zuul_config_web_root": "https://zuul01.zuul.test/",
    "zuul_config_extra_options": {"executor": {"merge_jobs": False}},
}
ZUUL_CONFIG_BAD = {
    "zookeeper hosts as a string": {"zuul_config_zookeeper_hosts": "zk01.example.org:2281"},
    "zookeeper port above 65535": {"zuul_config_zookeeper_hosts": ["zk01.example.org:70000"]},
    "zookeeper host with a newline": {"zuul_config_zookeeper_hosts": ["zk01\n[web]:2281"]},
    "keystore password of two lines": {"zuul_config_keystore_password": "fake\n[web]"},
    "database dburi of two lines": {"zuul_config_database_dburi": "sqlite:////x\n[web]"},
    "connection option of two lines": {
        "zuul_config_connections": [{"name": "git", "driver": "git", "baseurl": "x\n[web]"}]
    },
    "connection name ending in a newline": {
        "zuul_config_connections": [{"name": "git\n", "driver": "git"}]
    },
    "connections as a string": {"zuul_config_connections": "name=git"},
    "extra section name of two lines": {
        "zuul_config_extra_options": {"web]\n[scheduler": {"x": "y"}}
    },
    "web port 0": {"zuul_config_web_port": 0},
    "executor finger port above 65535": {"zuul_config_executor_finger_port": 70000},
    "web port shared with the scheduler's prometheus port": {"zuul_config_web_port": 9091},
    "prometheus ports of an unknown service": {"zuul_config_prometheus_ports": {"evil]\n[x": 1}},
    "web listen address not an address": {"zuul_config_web_listen_address": "localhost"},
    "prometheus addr a network": {"zuul_config_prometheus_addr": "10.0.0.0/8"},
    "web root not https": {"zuul_config_web_root": "http://zuul.example.org/"},
    "web root without the slash": {"zuul_config_web_root": "https://zuul.example.org"},
    "tenant config zuul.conf": {"zuul_config_tenant_config": "/etc/zuul/zuul.conf"},
    "tenant config outside /etc/zuul": {"zuul_config_tenant_config": "/etc/main.yaml"},
    "tenant config escaping": {"zuul_config_tenant_config": "/etc/zuul/../passwd"},
    "executor variables in tls": {"zuul_config_executor_variables": "/etc/zuul/tls/key.pem"},
    "executor private key file escaping": {
        "zuul_config_executor_private_key_file": "/var/lib/zuul/../ssh"
    },
    "executor user root": {"zuul_config_executor_user": "root"},
    "merger git user email of two lines": {
        "zuul_config_merger_git_user_email": "zuul@example.org\n[web]"
    },
}
ZUUL_CONFIG_CASES = {case: ZUUL_CONFIG | bad for case, bad in ZUUL_CONFIG_BAD.items()}


@pytest.fixture(scope="module")
def zuul_config_outcome(host):
    return refusals_on(host, "zuul_config", ZUUL_CONFIG_CASES, files=["/etc/zuul/zuul.conf"])


@pytest.mark.parametrize("case", ZUUL_CONFIG_CASES)
def test_zuul_config_refuses_naming_the_variable(zuul_config_outcome, case):
    assert variable_of(case, ZUUL_CONFIG_BAD) in zuul_config_outcome.messages[case]


def test_zuul_config_refusals_change_nothing(zuul_config_outcome, host):
    assert_nothing_changed(zuul_config_outcome, host, {"/var/lib": 0o755})
    assert "fake-guards" not in zuul_config_outcome.output


# -- zuul_service -----------------------------------------------------------

ZUUL_SERVICE = {
    "zuul_service_component": "merger",
    "zuul_service_image": f"{IMAGES}/zuul-merger:latest",
    "zuul_service_extra_volumes": ["/srv/git:/srv/git:ro"],
}
ZUUL_SERVICE_BAD = {
    "image with a space": {"zuul_service_image": "zuul-merger latest"},
    "image ending in a newline": {"zuul_service_image": f"{IMAGES}/zuul-merger:latest\n"},
    "extra volumes as a string": {"zuul_service_extra_volumes": "/srv/git:/srv/git:ro"},
    "root mounted read-only": {"zuul_service_extra_volumes": ["/:/host:ro"]},
    "/etc mounted read-write": {"zuul_service_extra_volumes": ["/etc:/host-etc"]},
    "docker socket mounted": {
        "zuul_service_extra_volumes": ["/var/run/docker.sock:/var/run/docker.sock:ro"]
    },
    "source escaping": {"zuul_service_extra_volumes": ["/srv/git/../../etc:/x"]},
    "relative source": {"zuul_service_extra_volumes": ["srv/git:/srv/git:ro"]},
    "zuul.conf hidden": {"zuul_service_extra_volumes": ["/srv/git:/etc/zuul:ro"]},
    "mode misspelt": {"zuul_service_extra_volumes": ["/srv/git:/srv/git:r0"]},
    "wait timeout 0": {"zuul_service_wait_timeout": 0},
}
ZUUL_SERVICE_CASES = {case: ZUUL_SERVICE | bad for case, bad in ZUUL_SERVICE_BAD.items()}


@pytest.fixture(scope="module")
def zuul_service_outcome(host, stack):
    containers = {"containers": stack.containers}
    return refusals_on(host, "zuul_service", ZUUL_SERVICE_CASES, probes=containers)


@pytest.mark.parametrize("case", ZUUL_SERVICE_CASES)
def test_zuul_service_refuses_naming_the_variable(zuul_service_outcome, case):
    assert variable_of(case, ZUUL_SERVICE_BAD) in zuul_service_outcome.messages[case]


def test_zuul_service_refusals_change_nothing(zuul_service_outcome, host):
    assert_nothing_changed(zuul_service_outcome)
    definition = host.file("/etc/zuul-merger/docker-compose.yaml").content_string
    assert "docker.sock" not in definition and "/host" not in definition


# -- zuul_executor ----------------------------------------------------------

FAKE_KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\nfake-guards-key\n-----END OPENSSH PRIVATE KEY-----\n"
)
ZUUL_EXECUTOR = {
    "zuul_executor_image": f"{IMAGES}/zuul-executor:latest",
    "zuul_executor_ssh_private_key": FAKE_KEY,
    "zuul_executor_site_variables": {"zuul_site_mirror_fqdn": "mirror.example.org"},
}
ZUUL_EXECUTOR_BAD = {
    "image with a space": {"zuul_executor_image": "zuul-executor latest"},
    "ssh private key a public key": {
        "zuul_executor_ssh_private_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFake fake-guards"
    },
    "key file escaping /var/lib/zuul": {
        "zuul_config_executor_private_key_file": "/var/lib/zuul/../id_rsa"
    },
    "key file in /var/lib/zuul itself": {
        "zuul_config_executor_private_key_file": "/var/lib/zuul/id_rsa"
    },
    "key file in the builds": {"zuul_config_executor_private_key_file": "/var/lib/zuul/builds/key"},
    "site variables escaping /etc/zuul": {"zuul_config_executor_variables": "/etc/zuul/../passwd"},
    "site variables over zuul.conf": {"zuul_config_executor_variables": "/etc/zuul/zuul.conf"},
    "site variables over the TLS key": {"zuul_config_executor_variables": "/etc/zuul/tls/key.pem"},
    "site variables as a string": {"zuul_executor_site_variables": "a=b"},
}
ZUUL_EXECUTOR_CASES = {case: ZUUL_EXECUTOR | bad for case, bad in ZUUL_EXECUTOR_BAD.items()}


@pytest.fixture(scope="module")
def zuul_executor_outcome(host, stack):
    files = ["/var/lib/zuul/ssh/id_rsa", "/etc/zuul/site-variables.yaml", "/etc/passwd"]
    containers = {"containers": stack.containers}
    return refusals_on(host, "zuul_executor", ZUUL_EXECUTOR_CASES, files=files, probes=containers)


@pytest.mark.parametrize("case", ZUUL_EXECUTOR_CASES)
def test_zuul_executor_refuses_naming_the_variable(zuul_executor_outcome, case):
    assert variable_of(case, ZUUL_EXECUTOR_BAD) in zuul_executor_outcome.messages[case]


def test_zuul_executor_refusals_change_nothing(zuul_executor_outcome, host):
    assert_nothing_changed(zuul_executor_outcome, host, {"/var/lib": 0o755})
    assert "fake-guards" not in zuul_executor_outcome.output


# -- zuul_web ---------------------------------------------------------------

ZUUL_WEB = {
    "zuul_web_image": f"{IMAGES}/zuul-web:latest",
    "zuul_web_hostnames": ["zuul01.zuul.test", "zuul.zuul.test"],
    "acme_certificates_directory_url": "https://localhost:14000/dir",
    "acme_certificates_ca_bundle": "/etc/pebble/tls/ca.pem",
    "acme_certificates_account_email": "infra-root@example.org",
}
ZUUL_WEB_BAD = {
    "image with a space": {"zuul_web_image": "zuul-web latest"},
    "hostnames as a string": {"zuul_web_hostnames": "zuul01.zuul.test"},
    "hostname ending in a newline": {"zuul_web_hostnames": ["zuul01.zuul.test\n"]},
    "hostname with a space": {"zuul_web_hostnames": ["zuul01.zuul.test evil.example.org"]},
    "hostname a wildcard": {"zuul_web_hostnames": ["*.zuul.test"]},
    "no hostnames": {"zuul_web_hostnames": []},
    "certificate name ..": {"zuul_web_certificate_name": ".."},
    "certificate name a path": {"zuul_web_certificate_name": "../../ssl"},
    "web port 443": {"zuul_config_web_port": 443},
    "web port above 65535": {"zuul_config_web_port": 70000},
    "web listen address a name": {"zuul_config_web_listen_address": "localhost"},
}
ZUUL_WEB_CASES = {case: ZUUL_WEB | bad for case, bad in ZUUL_WEB_BAD.items()}
APACHE_SITES = [
    "/etc/apache2/ports.conf",
    "/etc/apache2/sites-available/zuul-web-http.conf",
    "/etc/apache2/sites-available/zuul-web-https.conf",
]


@pytest.fixture(scope="module")
def zuul_web_outcome(host, stack):
    containers = {"containers": stack.containers}
    return refusals_on(host, "zuul_web", ZUUL_WEB_CASES, files=APACHE_SITES, probes=containers)


@pytest.mark.parametrize("case", ZUUL_WEB_CASES)
def test_zuul_web_refuses_naming_the_variable(zuul_web_outcome, case):
    assert variable_of(case, ZUUL_WEB_BAD) in zuul_web_outcome.messages[case]


def test_zuul_web_refusals_change_nothing(zuul_web_outcome, host):
    assert_nothing_changed(zuul_web_outcome)
    assert host.run("apache2ctl configtest").rc == 0
    assert not host.file("/etc/ssl/fullchain.pem").exists
