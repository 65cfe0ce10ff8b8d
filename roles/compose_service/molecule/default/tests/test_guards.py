"""Values that would damage the host are refused before the role changes anything.

Every case runs the whole role in check mode (sctools.refusals) with the
converge's project and service, and one bad value.
"""

import pytest
from scenario import assert_nothing_changed, refusals_on, variable_of

# converge.yml's project, with a literal image (the refusal play gathers no
# facts, and the role stops before it would pull).
WEB = {
    "image": "registry.example.org:5000/test/probe:1",
    "command": ["busybox", "httpd", "-f", "-p", "127.0.0.1:8089", "-h", "/srv"],
    "network_mode": "host",
    "volumes": ["/etc/probe/www:/srv:ro"],
}
BASE = {
    "compose_service_project": "probe",
    "compose_service_services": {"web": WEB},
    "compose_service_watch_files": ["/etc/probe/www/index.html"],
}


def web(**changes):
    return {"compose_service_services": {"web": {**WEB, **changes}}}


BAD = {
    "project ending in a newline": {"compose_service_project": "probe\n"},
    "project read as an option": {"compose_service_project": "-p"},
    "dir /": {"compose_service_dir": "/"},
    "dir relative": {"compose_service_dir": "etc/probe"},
    "dir escaping": {"compose_service_dir": "/etc/probe/../../root/probe"},
    "dir of another program": {"compose_service_dir": "/etc/ssh"},
    "dir /var/tmp": {"compose_service_project": "tmp", "compose_service_dir": "/var/tmp"},
    "dir under /usr": {"compose_service_dir": "/usr/lib/probe"},
    "services as a string": {"compose_service_services": "web=busybox"},
    "service without an image": web(image=None) | {"compose_service_services": {"web": {}}},
    "service name with a space": {"compose_service_services": {"web server": WEB}},
    "image with a space": web(image="busybox latest"),
    "image ending in a newline": web(image="busybox:1\n"),
    "image with a variable": web(image="busybox:${TAG}"),
    "root mounted": web(volumes=["/:/host"]),
    "root mounted read-only": web(volumes=["/:/host:ro"]),
    "/etc mounted read-write": web(volumes=["/etc:/host-etc"]),
    "/etc mounted long syntax": web(volumes=[{"type": "bind", "source": "/etc", "target": "/x"}]),
    "docker socket read-only": web(volumes=["/var/run/docker.sock:/var/run/docker.sock:ro"]),
    "relative source escaping": web(volumes=["../../:/host"]),
    "/var/lib read-write": web(volumes=["/var/lib:/data"]),
    "volumes as a string": web(volumes="/etc:/etc"),
    "watch files as a string": {"compose_service_watch_files": "/etc/probe/www/index.html"},
    "watch file relative": {"compose_service_watch_files": ["index.html"]},
    "watch file escaping": {"compose_service_watch_files": ["/etc/probe/../shadow"]},
    "wait timeout 0": {"compose_service_wait_timeout": 0},
}
CASES = {case: BASE | bad for case, bad in BAD.items()}
# The variable each refusal must name: the first its bad values set, unless listed.
VARIABLE = {"dir /var/tmp": "compose_service_dir"}


@pytest.fixture(scope="module")
def outcome(host):
    return refusals_on(host, "compose_service", CASES, files=["/etc/probe/docker-compose.yaml"])


@pytest.mark.parametrize("case", CASES)
def test_dangerous_value_is_refused_naming_the_variable(outcome, case):
    assert variable_of(case, BAD, VARIABLE) in outcome.messages[case]


def test_nothing_changed_or_would_have(outcome, host):
    assert_nothing_changed(outcome, host, {"/": 0o755, "/var/tmp": 0o1777, "/etc/ssh": 0o755})
    assert not host.file("/var/tmp/docker-compose.yaml").exists
    assert not host.file("/etc/ssh/docker-compose.yaml").exists
