"""Values that would damage the host are refused before the role changes anything.

Every case runs the whole role in check mode (sctools.refusals) with the
converge's project and service, and one bad value.
"""

import pytest
from scenario import refusals_on

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
# The variable each refusal must name: compose_service_<first word> unless listed.
VARIABLE = {
    "services as a string": "compose_service_services",
    "service without an image": "compose_service_services",
    "service name with a space": "compose_service_services",
    "watch files as a string": "compose_service_watch_files",
    "watch file relative": "compose_service_watch_files",
    "watch file escaping": "compose_service_watch_files",
    "wait timeout 0": "compose_service_wait_timeout",
}


def variable(case: str) -> str:
    if case in VARIABLE:
        return VARIABLE[case]
    first = case.split()[0]
    return "compose_service_" + (first if first in ("project", "dir") else "services")


@pytest.fixture(scope="module")
def outcome(host):
    return refusals_on(host, "compose_service", CASES, files=["/etc/probe/docker-compose.yaml"])


@pytest.mark.parametrize("case", CASES)
def test_dangerous_value_is_refused_naming_the_variable(outcome, case):
    assert variable(case) in outcome.messages[case]


def test_nothing_changed_or_would_have(outcome, host):
    assert outcome.changed == 0, outcome.output[-3000:]
    assert outcome.altered == []
    for path, mode in [("/", 0o755), ("/var/tmp", 0o1777), ("/etc/ssh", 0o755)]:
        directory = host.file(path)
        assert (directory.user, directory.mode) == ("root", mode), path
    assert not host.file("/var/tmp/docker-compose.yaml").exists
    assert not host.file("/etc/ssh/docker-compose.yaml").exists
