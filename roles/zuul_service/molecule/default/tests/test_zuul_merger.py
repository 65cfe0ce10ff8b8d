"""Behaviour of zuul_service for the merger: a real merger on a real ZooKeeper.

See zuul_stack.py for what prepare.yml and converge.yml did. That the
merger works is shown the way Zuul uses it: `zuul-scheduler
--validate-tenants` (run in the merger's container, which has the whole
Zuul) loads the tenant by sending cat jobs to mergers through ZooKeeper and
waits for their answers (a scheduler of its own, beside the stack's).
The executor takes no merge jobs in this scenario (converge.yml), so the
merger is the only one that can answer.
"""

import re

from scenario import instance_names
from zuul_stack import running

testinfra_hosts = instance_names()

GIT_DIR = "/var/lib/zuul/merger-git"


def test_merger_container_is_running_and_healthy(stack):
    assert stack.state("merger") == "running healthy"


def test_merger_logs_are_in_compose_logs(host):
    logs = host.check_output("cd /etc/zuul-merger && docker compose logs --no-color merger")
    assert "Registering component in ZooKeeper /zuul/components/merger/" in logs, logs[-2000:]
    assert re.search(r"Component merger \S+ updated: .*'state': 'running'", logs), logs[-2000:]


def test_components_registry_lists_the_merger_as_running(host, stack):
    mergers = running(stack.zookeeper("merger")["components"], "merger")
    assert len(mergers) == 1, mergers
    # network_mode host: the component is named after the host itself.
    assert mergers[0]["hostname"].split(".")[0] == host.backend.get_hostname()


# zuul-scheduler --validate-tenants is a scheduler of its own: beside the
# stack's scheduler on the same host network, it gets a copy of zuul.conf
# without [scheduler] prometheus_port (the running scheduler's health port)
# and with a command socket of its own (not the running scheduler's).
VALIDATE = """
set -e
conf=$(mktemp)
python3 - "$conf" <<'PY'
import configparser, sys
conf = configparser.ConfigParser(interpolation=None)
conf.read("/etc/zuul/zuul.conf")
conf.remove_option("scheduler", "prometheus_port")
conf.set("scheduler", "command_socket", sys.argv[1] + ".socket")
with open(sys.argv[1], "w") as stream:
    conf.write(stream)
PY
timeout 300 zuul-scheduler -c "$conf" -f --validate-tenants example
"""


def test_merger_answers_the_cat_jobs_that_load_a_tenant(host, stack):
    result = stack.exec("merger", VALIDATE)
    output = result.stdout + result.stderr
    assert result.rc == 0, output[-3000:]
    assert "Loading configuration from opendev/project-config/zuul.yaml@master" in output
    logs = stack.logs("merger")
    assert re.search(r"Merge <MergeRequest \S+ job_type=cat, .*> complete", logs), logs[-2000:]
    # The merger cloned the project into its git directory (zuul's), at the
    # commit of the upstream repository.
    clone = host.check_output(f"find {GIT_DIR} -mindepth 1 -type d -name '*project-config'")
    assert host.file(clone).user == "zuul"
    upstream = host.check_output(
        "runuser -u zuul -- git -C /srv/git/opendev/project-config rev-parse master"
    )
    assert (
        host.check_output(f"runuser -u zuul -- git -C '{clone}' rev-parse origin/master")
        == upstream
    )
