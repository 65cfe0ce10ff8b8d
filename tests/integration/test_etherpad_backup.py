"""etherpad01's backups to backup01 and backup02, and the restore of one pad.

run-all deployed service-borg-backup: etherpad01 backs up its files and its
database (a mysqldump stream) to both servers. The restore test runs the
shell blocks of docs/etherpad.md, "Restoring one pad", exactly as written
(only the pad's name and the server in step 1 are the test's): what the
docs tell an infra root is what is proven here.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import textwrap
import time
import uuid

import pytest
from etherpad_api import ETHERPAD, api, read_api_key
from fleet_helpers import HOSTS, on, tcp_probes

from sctools.fleet import REPO_ROOT

SERVERS = [HOSTS["backup01.fleet.test"], HOSTS["backup02.fleet.test"]]
OUTSIDER = HOSTS["zuul01.fleet.test"]
DOCS = REPO_ROOT / "docs" / "etherpad.md"
CLIENT_HOME = "/opt/backups/borg-etherpad01"


# docs/etherpad.md's blocks, in their order.
RESTORE_STEPS = ["name", "pick", "load", "stop", "copy", "start", "drop"]


def restore_steps() -> dict[str, str]:
    """The shell blocks of "Restoring one pad", by their `<!-- restore: NAME -->` marker."""
    found = re.findall(r"<!-- restore: (\w+) -->\n *```sh\n(.*?\n) *```\n", DOCS.read_text(), re.S)
    steps = {name: textwrap.dedent(body) for name, body in found}
    assert list(steps) == RESTORE_STEPS, list(steps)
    return steps


def restore_script(steps: list[str], pad: str, server: str) -> str:
    """The blocks named, in order, in one shell; step 1's example values
    (its only lines: PAD=... and SERVER=...) replaced by the test's."""
    blocks = restore_steps()
    name_lines = blocks["name"].splitlines()
    assert [line.split("=", 1)[0] for line in name_lines] == ["PAD", "SERVER"], name_lines
    blocks["name"] = f"PAD={shlex.quote(pad)}\nSERVER={shlex.quote(server)}\n"
    return "set -euo pipefail\n" + "".join(blocks[step] for step in steps)


def run_on_etherpad(script: str, timeout: int = 900) -> str:
    result = on(ETHERPAD, script, timeout=timeout)
    assert result.returncode == 0, (
        f"{script}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
    )
    return result.stdout


def start_as_documented(pad: str, server: str) -> None:
    """The start step, and once more if the container runtime refused the
    start, as the docs say to (a platform flake under load, seen in CI)."""
    script = restore_script(["start"], pad, server)
    first = on(ETHERPAD, script, timeout=900)
    result = first
    if first.returncode != 0 and "OCI runtime create failed" in first.stderr:
        result = on(ETHERPAD, script, timeout=900)
    assert result.returncode == 0, (
        f"{script}\n--- stderr\n{result.stderr}\n--- first attempt\n{first.stderr}"
    )


def stored_head(pad: str) -> int | None:
    """The pad's head revision as Etherpad wrote it to MariaDB (None: no row)."""
    name = pad.encode().hex()  # any name, no quoting
    key = f"CONCAT('pad:', CONVERT(X'{name}' USING utf8mb4)) COLLATE utf8mb4_bin"
    query = f"SELECT value FROM store WHERE `key` = {key}"
    out = run_on_etherpad(f"mariadb -N etherpad -e {shlex.quote(query)}").strip()
    return json.loads(out)["head"] if out else None


def wait_until_stored(pad: str, head: int | None, deadline: float = 120) -> None:
    """Etherpad writes to the database from a buffer: wait until the row says so."""
    end = time.monotonic() + deadline
    while stored_head(pad) != head:
        assert time.monotonic() < end, f"pad {pad}: head in MariaDB never became {head}"
        time.sleep(0.5)


def etherpad_archives(server) -> list[str]:
    out = run_on_etherpad(
        f"borg-backup-repo {server.name} list --short --glob-archives '*-etherpad-*'"
    )
    return out.split()


def run_backup() -> subprocess.CompletedProcess:
    """The timer's unit, started by hand; returns when the backup is done."""
    time.sleep(1.1)  # archive names carry the second: never two runs in one
    return on(ETHERPAD, "systemctl start borg-backup.service", timeout=900)


def pad_state(api_key: str, pad: str) -> dict:
    return {
        "text": api(api_key, "getText", padID=pad)["text"],
        "revisions": api(api_key, "getRevisionsCount", padID=pad)["revisions"],
    }


def write_pad(api_key: str, pad: str, revisions: int) -> dict:
    api(api_key, "createPad", padID=pad, text=f"{pad}: revision 0\n")
    for n in range(1, revisions):
        api(api_key, "appendText", padID=pad, text=f"{pad}: revision {n}\n")
    wait_until_stored(pad, revisions - 1)
    return pad_state(api_key, pad)


@pytest.fixture(scope="module")
def api_key(deployed) -> str:
    return read_api_key()


@pytest.fixture(scope="module", autouse=True)
def timer_held(deployed):
    """No backup but the tests' own while they run: the nightly timer could
    fire in the middle (and add archives the tests count, or one newer than
    the damage). It is stopped, a run it started is waited for, and it is
    started again after."""
    on(ETHERPAD, "systemctl stop borg-backup.timer")
    end = time.monotonic() + 900
    while on(ETHERPAD, "systemctl is-active borg-backup.service").stdout.strip() == "activating":
        assert time.monotonic() < end, "a backup started by the timer never ended"
        time.sleep(1)
    yield
    assert on(ETHERPAD, "systemctl start borg-backup.timer").returncode == 0


def test_a_pad_blanked_and_a_pad_deleted_come_back_from_the_backups(api_key):
    run = uuid.uuid4().hex[:8]
    # A name with a quote and SQL's wildcards, and a pad whose name those
    # wildcards would match (LIKE 'pad:...s_50%:%'): it must stay as it is.
    vandalised = f"restore-{run}'s_50%"
    neighbour = f"restore-{run}'sx50%-notes"
    deleted, later = (f"restore-{run}-{what}" for what in ("deleted", "later"))
    # 1. pads in several revisions; 2. the backup, as the timer runs it.
    before = {pad: write_pad(api_key, pad, n) for pad, n in ((vandalised, 4), (deleted, 3))}
    write_pad(api_key, neighbour, 2)
    readonly = api(api_key, "getReadOnlyID", padID=deleted)["readOnlyID"]
    backup = run_backup()
    assert backup.returncode == 0, backup.stderr
    # 3. the damage, and pads written after the backup.
    api(api_key, "setText", padID=vandalised, text="all gone\n")
    api(api_key, "deletePad", padID=deleted)
    api(api_key, "appendText", padID=neighbour, text="written after the backup\n")
    wait_until_stored(vandalised, 4)
    wait_until_stored(deleted, None)
    wait_until_stored(neighbour, 2)
    after_backup = {later: write_pad(api_key, later, 2), neighbour: pad_state(api_key, neighbour)}

    # 4. the documented restore: one pad from each server, both while
    # Etherpad is stopped ("another pad: before the start"); the first
    # scratch database dropped before the second is loaded.
    first, second = (server.name for server in SERVERS)
    steps = ["name", "pick", "load", "stop", "copy", "drop"]
    run_on_etherpad(restore_script(steps, vandalised, first))
    run_on_etherpad(restore_script(steps[:-1], deleted, second))
    start_as_documented(deleted, second)
    run_on_etherpad(restore_script(["drop"], deleted, second))

    # 5. both pads as they were, the later ones untouched, no scratch left.
    assert pad_state(api_key, vandalised) == before[vandalised]
    assert pad_state(api_key, deleted) == before[deleted]
    assert api(api_key, "getPadID", roID=readonly)["padID"] == deleted
    for pad, state in after_backup.items():
        assert pad_state(api_key, pad) == state, pad
    assert run_on_etherpad("mariadb -N -e \"SHOW DATABASES LIKE 'etherpad_restore'\"") == ""


def test_restoring_a_pad_the_backup_does_not_have_changes_nothing(api_key):
    pad = f"restore-{uuid.uuid4().hex[:8]}-never-backed-up"
    state = write_pad(api_key, pad, 2)
    steps = ["name", "pick", "load", "copy", "drop"]
    out = run_on_etherpad(restore_script(steps, pad, SERVERS[0].name))
    assert f"pad {pad} is not in this backup: nothing changed" in out
    assert stored_head(pad) == 1
    assert pad_state(api_key, pad) == state


def test_a_server_down_still_lets_the_other_get_the_backup_and_the_failure_shows(deployed):
    down, up = SERVERS
    counts = {server.name: len(etherpad_archives(server)) for server in SERVERS}
    subprocess.run(["docker", "pause", down.name], check=True)
    try:
        backup = run_backup()
    finally:
        subprocess.run(["docker", "unpause", down.name], check=True)
    assert backup.returncode != 0
    assert on(ETHERPAD, "systemctl is-failed borg-backup.service").stdout.strip() == "failed"
    journal = on(ETHERPAD, "journalctl -u borg-backup.service -n 30 --no-pager").stdout
    assert f"FAILED on: {down.name}" in journal, journal
    assert len(etherpad_archives(up)) == counts[up.name] + 1
    assert len(etherpad_archives(down)) == counts[down.name]
    # The server back: the next run reaches both again and the unit recovers.
    assert run_backup().returncode == 0
    assert on(ETHERPAD, "systemctl is-failed borg-backup.service").stdout.strip() == "inactive"


@pytest.fixture(scope="module")
def ssh_probes(deployed) -> dict[tuple[str, str, int], bool]:
    """ssh of each server from the client and from the outsider, probed at once."""
    return tcp_probes(
        [(source, server.ipv4, 22) for source in (ETHERPAD, OUTSIDER) for server in SERVERS]
    )


@pytest.mark.parametrize("server", SERVERS, ids=lambda h: h.name)
def test_backup_servers_take_ssh_from_their_client_only(ssh_probes, server):
    assert ssh_probes[(ETHERPAD.name, server.ipv4, 22)]
    assert not ssh_probes[(OUTSIDER.name, server.ipv4, 22)]


@pytest.mark.parametrize("server", SERVERS, ids=lambda h: h.name)
def test_only_the_clients_account_reads_its_backups(deployed, server):
    assert on(server, f"stat -c '%U %a' {CLIENT_HOME}").stdout.split() == ["borg-etherpad01", "700"]
    assert on(server, f"runuser -u nobody -- ls {CLIENT_HOME}").returncode != 0
    assert on(ETHERPAD, "stat -c '%U %a' /etc/borg-backup").stdout.split() == ["root", "700"]


@pytest.mark.parametrize("server", SERVERS, ids=lambda h: h.name)
def test_the_clients_key_only_appends_to_its_own_repository(deployed, server):
    keys = on(server, f"cat {CLIENT_HOME}/.ssh/authorized_keys").stdout
    assert f"borg serve --append-only --restrict-to-path {CLIENT_HOME}/backup" in keys, keys
    config = on(server, f"cat {CLIENT_HOME}/backup/config").stdout
    assert re.search(r"^append_only = 1$", config, re.M), config
