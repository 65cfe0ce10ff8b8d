"""Zuul on the local fleet, end to end.

`fleet deploy` (the session fixture, twice) built this checkout's images,
pushed them to the buildset registry on standins01 and ran run-all, which
deployed a three-node ZooKeeper ensemble (zk01-03, TLS only) and Zuul:
scheduler and zuul-web on zuul01, executor and merger on ze01. The
scheduler loads the main.yaml built from namespaces/; every tenant's
projects are git repositories on the stand-in (tests/standins/git.yml),
and the opendev tenant's periodic pipeline runs the job `fleet-probe`
every minute. These tests check what an infra root would: the ensemble
has a leader, clients need TLS, zuul-web answers over verified HTTPS with
the tenants, a job ran and succeeded, every service runs exactly the
image built from this checkout, and the executor logs in to bridge as root
with its key (the production jobs' way in), from its own addresses only.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml
from fleet_helpers import BRIDGE, HOSTS, on, tcp_probes, zuul_d_jobs

from sctools import REPO_ROOT

ZOOKEEPERS = [HOSTS[f"zk0{n}.fleet.test"] for n in (1, 2, 3)]
ZUUL = HOSTS["zuul01.fleet.test"]
EXECUTOR = HOSTS["ze01.fleet.test"]
ZUUL_URL = f"https://{ZUUL.name}"
# host -> compose project -> image name of our images
SERVICES = {
    ZUUL: {"zuul-scheduler": "zuul-scheduler", "zuul-web": "zuul-web"},
    EXECUTOR: {"zuul-executor": "zuul-executor", "zuul-merger": "zuul-merger"},
    **{zk: {"zookeeper": "zookeeper"} for zk in ZOOKEEPERS},
}
OPERATOR = HOSTS["standins01.fleet.test"]  # site_operator_ssh_sources: passes bridge's firewall
BUILDSET_PREFIX = "buildset-registry.fleet.test:5443/system-config"
PROBE_JOB_WAIT_SECONDS = 420
# ZooKeeper's ports (TLS client, quorum, election), from their one home.
_SITE = yaml.safe_load((REPO_ROOT / "group_vars" / "all.yaml").read_text())
ZK_CLIENT, ZK_QUORUM, ZK_ELECTION = (
    _SITE[f"zookeeper_{name}_port"] for name in ("secure_client", "quorum", "election")
)


def api(path: str, source=BRIDGE) -> object:
    """GET zuul-web's API over HTTPS from another host; the certificate must verify."""
    result = on(source, f"curl -sS --fail --max-time 20 {ZUUL_URL}/api/{path}")
    assert result.returncode == 0, result.stderr  # 60: the certificate did not verify
    return json.loads(result.stdout)


def admin_srvr(host) -> dict:
    result = on(host, "curl -sS --max-time 5 http://127.0.0.1:8080/commands/srvr")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_zookeeper_ensemble_has_one_leader_and_two_followers(deployed):
    modes = sorted(admin_srvr(zk)["server_stats"]["server_state"] for zk in ZOOKEEPERS)
    assert modes == ["follower", "follower", "leader"]


@pytest.fixture(scope="module")
def port_probes(deployed) -> dict[tuple[str, str, int], bool]:
    """Every port this module checks, probed at once: closed ones wait together."""
    return tcp_probes(
        [
            *((ZUUL, zk.ipv4, 2181) for zk in ZOOKEEPERS),
            (ZUUL, ZOOKEEPERS[0].ipv4, ZK_CLIENT),
            *((BRIDGE, ZOOKEEPERS[0].ipv4, port) for port in (ZK_CLIENT, ZK_QUORUM, ZK_ELECTION)),
            (ZOOKEEPERS[1], ZOOKEEPERS[0].ipv6, ZK_ELECTION),
            (ZUUL, ZOOKEEPERS[0].ipv4, 8080),
            (ZUUL, EXECUTOR.ipv4, 7900),
            (BRIDGE, EXECUTOR.ipv4, 7900),
            (BRIDGE, ZUUL.ipv4, 9000),
        ]
    )


def connects(probes, source, address: str, port: int) -> bool:
    return probes[(source.name, address, port)]


def tls_session(zk, *client_cert: str) -> str:
    """openssl s_client to zk's client port from zuul01, held open 3 s; its output."""
    return on(
        ZUUL,
        f"(sleep 3) | openssl s_client -connect {zk.ipv4}:{ZK_CLIENT} -CAfile /etc/zuul/tls/ca.pem "
        f"-verify_return_error {' '.join(client_cert)} 2>&1",
    ).stdout


CLIENT_CERT = "-cert /etc/zuul/tls/cert.pem -key /etc/zuul/tls/key.pem"


@pytest.fixture(scope="module")
def tls_sessions(deployed) -> dict[tuple[str, bool], str]:
    """{(zk name, with a client certificate): s_client's output}, all held open at once."""
    cases = [(zk, cert) for zk in ZOOKEEPERS for cert in ([CLIENT_CERT], [])]
    with ThreadPoolExecutor(len(cases)) as pool:
        outputs = list(pool.map(lambda case: tls_session(case[0], *case[1]), cases))
    return {(zk.name, bool(cert)): out for (zk, cert), out in zip(cases, outputs, strict=True)}


@pytest.mark.parametrize("zk", ZOOKEEPERS, ids=lambda h: h.name)
def test_zookeeper_clients_need_tls_and_a_client_certificate(port_probes, tls_sessions, zk):
    assert not connects(port_probes, ZUUL, zk.ipv4, 2181), "plain ZooKeeper must be off"
    with_cert = tls_sessions[(zk.name, True)]
    assert "Verify return code: 0 (ok)" in with_cert, with_cert[-2000:]
    assert "alert" not in with_cert, with_cert[-2000:]
    # The server's certificate verifies, but it refuses a client without one.
    without = tls_sessions[(zk.name, False)]
    assert "Verify return code: 0 (ok)" in without, without[-2000:]
    assert "alert" in without, without[-2000:]


def test_zookeeper_is_closed_to_hosts_that_are_not_zuul_or_zookeeper(port_probes):
    assert connects(port_probes, ZUUL, ZOOKEEPERS[0].ipv4, ZK_CLIENT)
    for port in (ZK_CLIENT, ZK_QUORUM, ZK_ELECTION):
        assert not connects(port_probes, BRIDGE, ZOOKEEPERS[0].ipv4, port), port
    assert connects(port_probes, ZOOKEEPERS[1], ZOOKEEPERS[0].ipv6, ZK_ELECTION)


def test_zookeeper_admin_server_is_loopback_only(port_probes):
    assert not connects(port_probes, ZUUL, ZOOKEEPERS[0].ipv4, 8080)


def tenants_of_namespaces(tmp_path) -> list[str]:
    built = subprocess.run(
        [sys.executable, "-m", "sctools.namespaces", "build", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    main = yaml.safe_load((tmp_path / "zuul" / "main.yaml").read_text())
    return sorted(item["tenant"]["name"] for item in main if "tenant" in item)


def test_zuul_web_lists_the_tenants_of_the_namespaces_over_https(deployed, tmp_path):
    deadline = time.monotonic() + 180  # the scheduler may still be loading
    while True:
        names = sorted(t["name"] for t in api("tenants"))
        if names or time.monotonic() > deadline:
            break
        time.sleep(5)
    assert names == tenants_of_namespaces(tmp_path)


def test_the_deploy_tenant_loads_this_repository_with_the_fleet_pipelines(deployed):
    # The stand-in serves this checkout's HEAD as opendev/system-config and
    # the fleet's pipelines as fleet/zuul-cd (tests/standins/zuul-cd-tenant.yaml).
    tenant = "tenant/system-config"
    deadline = time.monotonic() + 180  # the scheduler may still be loading
    while not api(f"{tenant}/pipelines") and time.monotonic() < deadline:
        time.sleep(5)
    assert api(f"{tenant}/config-errors") == []
    assert sorted(p["name"] for p in api(f"{tenant}/pipelines")) == ["deploy", "periodic-hourly"]
    project = api(f"{tenant}/project/opendev/system-config")
    loaded: dict[str, set[str]] = {}
    for config in project["configs"]:  # one per project stanza
        for pipeline in config["pipelines"]:
            names = {variants[0]["name"] for variants in pipeline["jobs"]}
            loaded.setdefault(pipeline["name"], set()).update(names)
    assert loaded["deploy"] == zuul_d_jobs("deploy")
    assert loaded["periodic-hourly"] == zuul_d_jobs("periodic-hourly")
    assert "infra-prod-service-zuul" in loaded["deploy"]


def test_http_redirects_to_https(deployed):
    result = on(
        BRIDGE, f"curl -sS -o /dev/null -w '%{{http_code}} %{{redirect_url}}' http://{ZUUL.name}/"
    )
    code, location = result.stdout.split(" ", 1)
    assert code in ("301", "302", "308"), result.stdout
    assert location.startswith(f"https://{ZUUL.name}/")


def test_executor_log_streaming_is_open_to_zuul_web_only(port_probes):
    assert connects(port_probes, ZUUL, EXECUTOR.ipv4, 7900)
    assert not connects(port_probes, BRIDGE, EXECUTOR.ipv4, 7900)


def test_zuul_web_backend_port_is_closed_to_other_hosts(port_probes):
    assert not connects(port_probes, BRIDGE, ZUUL.ipv4, 9000)


def test_periodic_job_ran_on_the_executor_and_succeeded(deployed):
    deadline = time.monotonic() + PROBE_JOB_WAIT_SECONDS
    builds: list = []
    while time.monotonic() < deadline:
        builds = api("tenant/opendev/builds?job_name=fleet-probe&limit=10")
        if any(b["result"] == "SUCCESS" for b in builds):
            break
        time.sleep(10)
    results = [(b["result"], b["ref"]["project"]) for b in builds]
    assert ("SUCCESS", "opendev/infra-specs") in results, results
    print(f"fleet-probe builds: {results}")


def local_images() -> dict[str, tuple[str, str]]:
    """image name -> (tag, ID) of this checkout's build (python -m sctools.images list)."""
    listing = subprocess.run(
        [sys.executable, "-m", "sctools.images", "list", "--json"],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        check=False,
    )
    assert listing.returncode == 0, listing.stderr
    found = {}
    for row in json.loads(listing.stdout)["images"]:
        proc = subprocess.run(
            ["docker", "image", "inspect", "-f", "{{.Id}}", row["image"]],
            capture_output=True,
            text=True,
            check=False,
        )
        found[row["name"]] = (row["tag"], proc.stdout.strip())
    return found


@pytest.mark.parametrize(
    "host,project,image",
    [(h, p, i) for h, projects in SERVICES.items() for p, i in projects.items()],
    ids=lambda v: getattr(v, "name", v),
)
def test_service_runs_this_checkouts_image_from_the_buildset_registry(
    deployed, host, project, image
):
    # The tag is the one bridge derived from its checkout (lookup image_tag)
    # and the one `images` gave this checkout's build: the same files, the
    # same tag.
    tag, image_id = local_images()[image]
    container = on(host, f"cd /etc/{project} && docker compose ps -q")
    assert container.returncode == 0 and container.stdout.strip(), container.stderr
    cid = container.stdout.split()[0]
    inspect = json.loads(on(host, f"docker inspect {cid}").stdout)[0]
    assert inspect["State"]["Running"], inspect["State"]
    assert inspect["Config"]["Image"] == f"{BUILDSET_PREFIX}/{image}:{tag}"
    # The registry keeps the image's config blob, so the ID survives the push.
    assert inspect["Image"] == image_id


# The executor's key as the executor container sees it (zuul_executor's
# default path; /var/lib/zuul is mounted at the same path), used as the
# zuul user the executor drops to, as Zuul's Ansible uses it.
EXECUTOR_KEY = "/var/lib/zuul/ssh/id_rsa"
SSH_OPTIONS = (
    "-o BatchMode=yes -o IdentitiesOnly=yes -o StrictHostKeyChecking=no "
    "-o UserKnownHostsFile=/dev/null -o ConnectTimeout=10"
)
DEPLOY_KEY_MARKER = "bridge-deploy-key:zuul-executor"
AUTHORIZED_KEYS = "/root/.ssh/authorized_keys"


def from_executor(ssh_args: str) -> subprocess.CompletedProcess:
    return on(
        EXECUTOR,
        "cd /etc/zuul-executor && docker compose exec -T -u zuul executor "
        f"ssh -i {EXECUTOR_KEY} {SSH_OPTIONS} {ssh_args}",
    )


def from_operator_with_executor_key(ssh_args: str) -> subprocess.CompletedProcess:
    """ssh from the operators' host (allowed through bridge's firewall) with the executor's key."""
    key = on(EXECUTOR, f"cat {EXECUTOR_KEY}")
    assert key.returncode == 0, key.stderr
    return subprocess.run(
        ["docker", "exec", "-i", OPERATOR.name, "bash", "-c",
         f"k=$(mktemp); cat > $k; ssh -i $k {SSH_OPTIONS} {ssh_args}; rc=$?; rm -f $k; exit $rc"],
        input=key.stdout, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def bridge_logins(deployed) -> dict[str, subprocess.CompletedProcess]:
    """The executor's key tried on bridge from ze01 and from elsewhere, all at once."""
    target = f"root@{BRIDGE.name}"
    attempts = {
        "executor ipv4": lambda: from_executor(f"-4 {target} 'echo $SSH_CONNECTION'"),
        "executor ipv6": lambda: from_executor(f"-6 {target} 'echo $SSH_CONNECTION'"),
        "executor pty": lambda: from_executor(f"-tt {target} true"),
        "operator host": lambda: from_operator_with_executor_key(f"{target} true"),
        "authorized_keys": lambda: on(BRIDGE, f"grep -F ' {DEPLOY_KEY_MARKER}' {AUTHORIZED_KEYS}"),
    }
    with ThreadPoolExecutor(len(attempts)) as pool:
        futures = {name: pool.submit(attempt) for name, attempt in attempts.items()}
    return {name: future.result() for name, future in futures.items()}


@pytest.mark.parametrize("family", ["ipv4", "ipv6"])
def test_executor_logs_in_to_bridge_as_root_with_its_key(bridge_logins, family):
    login = bridge_logins[f"executor {family}"]
    assert login.returncode == 0, login.stderr
    # SSH_CONNECTION: client address, client port, server address, server port.
    assert login.stdout.split()[0] == getattr(EXECUTOR, family), login.stdout


def test_executor_key_is_authorised_restricted_from_the_executors_only(bridge_logins):
    line = bridge_logins["authorized_keys"]
    assert line.returncode == 0 and len(line.stdout.splitlines()) == 1, line
    assert line.stdout.startswith(f'from="{EXECUTOR.ipv4},{EXECUTOR.ipv6}",restrict '), line.stdout
    # restrict: no terminal (the infra-prod jobs need none: docs/zuul-cd.md).
    # The key logs in, sshd refuses the terminal (and ssh -tt then gives up).
    pty = bridge_logins["executor pty"]
    assert "PTY allocation request failed" in pty.stderr, pty


def test_executor_key_is_refused_from_another_host(bridge_logins):
    # The operators' host passes bridge's firewall: sshd itself refuses the key there.
    refused = bridge_logins["operator host"]
    assert refused.returncode == 255, refused
    assert "Permission denied" in refused.stderr, refused.stderr
