"""The Zuul services together: what a converge restarts, and what stops it.

See zuul_stack.py for what prepare.yml and converge.yml did. A converge
runs every role of the stack, so one converge shows for every service
what the per-role scenarios each showed for theirs. The converge without
changes (changed=0, no container restarted) is in test_zuul_scheduler.py,
run while main.yaml differs, which the services must not watch.
"""

import json
import shlex

import pytest
from scenario import instance_names, wait_for
from zuul_stack import running

testinfra_hosts = instance_names()

CONF = "/etc/zuul/zuul.conf"


@pytest.mark.usefixtures("original")
def test_a_changed_zuul_conf_restarts_every_service_with_it(host, stack):
    before = stack.containers()
    code, output = stack.converge({"zuul_config_merger_git_user_name": "Zuul (molecule)"})
    assert code == 0, output[-3000:]
    after = stack.containers()
    restarted = [s for s in after if after[s][0] != before[s][0]]
    assert restarted == list(after), f"restarted: {restarted}"
    # The merger runs with the new file.
    user = stack.exec(
        "merger",
        "python3 -c "
        + shlex.quote(
            "import configparser; c = configparser.ConfigParser();"
            " c.read('/etc/zuul/zuul.conf'); print(c.get('merger', 'git_user_name'))"
        ),
    )
    assert user.stdout.strip() == "Zuul (molecule)", user.stderr
    # Converge waited for each health check: every service is registered
    # and running, the scheduler has loaded the tenant again ...
    zk = stack.zookeeper()
    for kind in ("merger", "executor", "scheduler", "web"):
        assert running(zk["components"], kind), (kind, zk["components"])
    assert zk["pipelines"]["example"] == ["check"]
    # ... and zuul-web answers over HTTPS with it.
    wait_for("zuul-web to list the tenant", lambda: tenants_over_https(host) == ["example"])


def tenants_over_https(host):
    host.run_test(
        "curl -sSf --cacert /etc/pebble/tls/ca.pem https://localhost:15000/roots/0"
        " -o /tmp/pebble-root.pem"
    )
    result = host.run(
        "curl -sSf --max-time 20 --cacert /tmp/pebble-root.pem https://zuul01.zuul.test/api/tenants"
    )
    assert result.rc == 0, result.stderr
    return sorted(t["name"] for t in json.loads(result.stdout))


def test_missing_keystore_password_fails_loud_before_anything_changes(host, stack, tmp_path):
    before = stack.containers()
    conf = host.file(CONF).sha256sum
    empty = tmp_path / "no-secrets.yml"
    empty.write_text("{}\n")
    code, output = stack.converge({"private_vars_file": str(empty)})
    assert code != 0, output[-3000:]
    assert "missing required arguments: zuul_config_keystore_password" in output
    assert host.file(CONF).sha256sum == conf
    assert stack.containers() == before


def test_zuul_service_refuses_to_run_without_zuul_conf(stack):
    # As on a host where zuul_config never ran: the role looks for a file
    # that is not there and stops before compose is touched.
    before = stack.containers()
    code, output = stack.converge({"zuul_service__conf": "/etc/zuul/absent.conf"})
    assert code != 0, output[-3000:]
    assert "/etc/zuul/absent.conf is missing: the merger reads" in output
    assert "Apply the zuul_config role" in output
    assert stack.containers() == before
