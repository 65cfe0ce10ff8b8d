"""What the testinfra tests of every molecule scenario share.

Run from `molecule verify`, which sets MOLECULE_INVENTORY_FILE and
MOLECULE_SCENARIO_DIRECTORY; pytest finds this module through the
`pythonpath` of pyproject.toml (molecule's pytest reads that file: the
scenarios are below it).

    from scenario import converge, instance_names

    testinfra_hosts = instance_names()

    def test_a_changed_setting_applies(host):
        output = converge(host, {"sshd_port": 2222})
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import pytest
import testinfra
import testinfra.utils.ansible_runner

from sctools import REPO_ROOT
from sctools.refusals import Outcome, refusals

ROLES_DIR = REPO_ROOT / "roles"

# The apache role's defaults (apache_hsts_max_age, apache_security_headers),
# as every HTTPS site of a role that uses it sends them.
# ssh options for a test's login: no configuration, never a prompt, no
# known_hosts (each login is fresh), a bounded connect.
SSH_TEST_OPTIONS = [
    "-F", "/dev/null",
    "-o", "BatchMode=yes",
    "-o", "StrictHostKeyChecking=no",
    "-o", "UserKnownHostsFile=/dev/null",
    "-o", "ConnectTimeout=10",
]  # fmt: skip
SECURITY_HEADERS = {
    "strict-transport-security": "max-age=31536000",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "content-security-policy": "frame-ancestors 'none'",
    "referrer-policy": "strict-origin-when-cross-origin",
}


def inventory() -> str:
    """Molecule's inventory of the scenario's instances."""
    return os.environ["MOLECULE_INVENTORY_FILE"]


def scenario_dir() -> Path:
    """The directory of the scenario under test (its molecule.yml, converge.yml)."""
    return Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"])


def instance_names() -> list[str]:
    """Every instance of the scenario: a test module's `testinfra_hosts`."""
    return testinfra.utils.ansible_runner.AnsibleRunner(inventory()).get_hosts("all")


def instance_host(name: str):
    """The testinfra host of an instance, by inventory name."""
    return testinfra.get_host(f"ansible://{name}?ansible_inventory={inventory()}")


def converge_instance(
    hostname: str,
    extra_vars: Mapping | None = None,
    timeout: int = 600,
    *,
    playbook: str = "converge.yml",
    tags: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess:
    """converge.yml (or another playbook) of the scenario on one of its instances.

    For tests that converge again with other values (a changed setting, a
    broken config). `hostname` is an inventory name or pattern ("all");
    `tags` limits the run to those tags (the argument checks of the roles
    still run: Ansible tags them `always`); `env` adds environment
    variables (e.g. ANSIBLE_VERBOSITY). The caller judges the exit code
    and output.
    """
    command = [
        str(Path(sys.executable).with_name("ansible-playbook")),
        "-i",
        inventory(),
        str(scenario_dir() / playbook),
        "--limit",
        hostname,
        "-e",
        json.dumps(extra_vars or {}),
    ]
    if tags:
        command += ["--tags", ",".join(tags)]
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=scenario_dir(),
        env={
            **os.environ,
            "ANSIBLE_ROLES_PATH": str(ROLES_DIR),
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_FORCE_COLOR": "0",
            **(env or {}),
        },
    )


def converge_result(target, extra_vars: Mapping | None = None, **options) -> tuple[int, str]:
    """converge_instance on a testinfra host (or an inventory name): exit code and whole output."""
    hostname = target if isinstance(target, str) else target.backend.get_hostname()
    result = converge_instance(hostname, extra_vars, **options)
    return result.returncode, result.stdout + result.stderr


def converge(host, extra_vars: Mapping | None = None, **options) -> str:
    """converge_instance on this host, which must succeed: its output (the recap, handlers)."""
    result = converge_instance(host.backend.get_hostname(), extra_vars, **options)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    return result.stdout


def original_values_put_back():
    """A fixture for tests that converge with other values: converge.yml's own again after each.

    A test module names it: `original = original_values_put_back()`.
    """

    @pytest.fixture
    def original(host):
        yield
        converge(host)

    return original


def refusals_on(
    host,
    role: str,
    cases: Mapping[str, dict],
    *,
    only_on: str | None = None,
    files: Iterable[str] = (),
    probes: Mapping[str, Callable[[], object]] | None = None,
) -> Outcome:
    """sctools.refusals of `role` on this host, for the fixture of a test_guards.py.

    only_on: "bookworm" or "trixie": the other instance skips (the guards
    are the same on both releases). What must stay as it was: `files` (by
    checksum) and `probes` (name: a function read before and after);
    the outcome's `altered` lists those that changed.
    """
    name = host.backend.get_hostname()
    if only_on and not name.endswith(f"-{only_on}"):
        pytest.skip(f"guards are checked on the {only_on} instance")
    watched = {path: lambda path=path: host.file(path).sha256sum for path in files}
    watched.update(probes or {})
    before = {what: read() for what, read in watched.items()}
    outcome = refusals(name, role, cases)
    outcome.altered = [what for what, read in watched.items() if read() != before[what]]
    return outcome


def variable_of(case: str, cases: Mapping[str, Mapping], overrides: Mapping | None = None) -> str:
    """The variable a refusal of `case` must name: its override, or the first one its values set.

    `cases` are the bad values alone (not merged with the good ones every
    case shares), so that a case's first key is the variable at fault.
    """
    return (overrides or {}).get(case) or next(iter(cases[case]))


def assert_nothing_changed(
    outcome: Outcome,
    host=None,
    directories: Mapping[str, int] | None = None,
    *,
    group: str | None = None,
) -> None:
    """The refused runs of a test_guards.py changed nothing, and would have changed nothing.

    No task changed or would have (check mode), nothing that refusals_on
    watched was altered, and each of `directories` (path: mode), those the
    bad values named, is still root's (and `group`'s, where given) with
    that mode.
    """
    assert outcome.changed == 0, outcome.output[-3000:]
    assert outcome.altered == [], f"altered by the refused runs: {', '.join(outcome.altered)}"
    for path, mode in (directories or {}).items():
        found = host.file(path)
        owner = f"{found.user}:{found.group}" if group else found.user
        wanted = f"root:{group}" if group else "root"
        assert (owner, found.mode) == (wanted, mode), (
            f"{path} is {owner} {found.mode:o}, not {wanted} {mode:o}"
        )


def headers_of(result) -> list[tuple[str, str]]:
    """The (lower-case name, value) headers a `curl -D -` printed, status line dropped."""
    assert result.rc == 0, result.stderr
    lines = result.stdout.splitlines()[1:]
    return [(n.strip().lower(), v.strip()) for n, _, v in (x.partition(":") for x in lines if x)]


def wait_for(what: str, predicate, timeout: float = 120):
    """Poll predicate() until it returns something true; its last value.

    For a condition that comes true on its own (a service restarted, a
    tenant loaded); `timeout` only bounds a wait that would never end.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            assert value, f"timed out after {timeout} s waiting for {what}"
            return value
        time.sleep(2)


def curl(host, *args: str):
    """curl on the instance (quiet, errors shown, 30 s at most): testinfra's result."""
    return host.run("curl -sS --max-time 30 " + " ".join(shlex.quote(a) for a in args))


def pebble_root_on(host) -> str:
    """Save the root pebble (tests/standins/pebble.yml) signs with on the instance; its path.

    A new root at each pebble start: a scenario's conftest.py makes it a
    module fixture for the tests that verify certificates.
    """
    path = "/tmp/pebble-root.pem"
    host.run_test(
        f"curl -sSf --cacert /etc/pebble/tls/ca.pem https://localhost:15000/roots/0 -o {path}"
    )
    return path
