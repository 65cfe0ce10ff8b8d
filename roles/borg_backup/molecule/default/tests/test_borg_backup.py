"""Behaviour of borg_backup (client) and borg_backup_server together.

Both instances are servers; the Debian 13 one (borg 1.4) is also the
client, so its backups go to a borg 1.2 server (Debian 12) and a borg 1.4
one. prepare.yml gives the client a file to back up and a "database"
(/srv/borg-test/database.sql) that the stream `cat ... | tr a-z A-Z`
dumps. The tests run the backup unit as the timer would and read the
results on the servers as the client's own account, with borg.
"""

import re
import time

import pytest
from scenario import instance_host, instance_names

SERVERS = sorted(instance_names())
CLIENT = next(name for name in SERVERS if name.endswith("-trixie"))
DOWN = next(name for name in SERVERS if name.endswith("-bookworm"))
USER = f"borg-{CLIENT}"
HOME = f"/opt/backups/{USER}"
REPO = f"{HOME}/backup"
DATABASE = "/srv/borg-test/database.sql"
PRECIOUS = "/srv/borg-test/precious.txt"
CLIENT_ENV = (
    "BORG_BASE_DIR=/var/lib/borg-backup BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes "
    "BORG_RSH='ssh -i /etc/borg-backup/id_ed25519 -o BatchMode=yes -o StrictHostKeyChecking=yes "
    "-o UserKnownHostsFile=/etc/borg-backup/known_hosts'"
)

testinfra_hosts = [CLIENT]


def server(name):
    return instance_host(name)


def borg_on_server(name, args, repo=REPO):
    """borg as the client's account on a server (as an admin would read a backup).

    `@REPO` in args is the repository. A copy is read as root with a home
    of its own, so the account's borg security records stay as they are.
    """
    env = "BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes BORG_RELOCATED_REPO_ACCESS_IS_OK=yes"
    who = f"runuser -u {USER} -- env HOME={HOME}" if repo == REPO else f"env HOME={repo}-home"
    return server(name).run(f"{who} {env} borg {args}".replace("@REPO", repo))


def archives(name, repo=REPO):
    result = borg_on_server(name, "list --short @REPO", repo)
    assert result.rc == 0, result.stderr
    return result.stdout.split()


def run_backup(host):
    """The unit, as the timer starts it; waits for it (oneshot). Returns (rc, journal)."""
    time.sleep(1.1)  # archive names carry the second
    host.run("systemctl reset-failed borg-backup.service")
    result = host.run("systemctl start borg-backup.service")
    journal = host.run("journalctl -u borg-backup.service -n 40 --no-pager").stdout
    return result.rc, journal


def new_archives(host, expect_ok=True):
    before = {name: set(archives(name)) for name in SERVERS}
    rc, journal = run_backup(host)
    assert (rc == 0) == expect_ok, journal
    return {name: sorted(set(archives(name)) - before[name]) for name in SERVERS}


def kind(archive):
    return re.fullmatch(rf"{CLIENT}-(.*)-\d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\d", archive)[1]


@pytest.fixture(scope="module")
def first_backup(host):
    return new_archives(host)


def test_a_backup_makes_both_archives_on_every_server(first_backup):
    for name in SERVERS:
        assert sorted(kind(a) for a in first_backup[name]) == ["database", "filesystem"], name


def test_the_stream_archive_holds_the_commands_output(host, first_backup):
    expected = host.file(DATABASE).content_string.upper()
    for name in SERVERS:
        archive = next(a for a in first_backup[name] if kind(a) == "database")
        result = borg_on_server(name, f"extract --stdout @REPO::{archive}")
        assert result.rc == 0, result.stderr
        assert result.stdout == expected, name


def test_the_paths_archive_holds_the_files(host, first_backup):
    for name in SERVERS:
        archive = next(a for a in first_backup[name] if kind(a) == "filesystem")
        result = borg_on_server(name, f"extract --stdout @REPO::{archive} {PRECIOUS[1:]}")
        assert result.rc == 0, result.stderr
        assert result.stdout == host.file(PRECIOUS).content_string, name


def test_a_server_down_still_lets_the_other_get_its_backup_and_the_unit_fails(host, first_backup):
    down = server(DOWN)
    down.check_output("systemctl stop ssh.service")
    try:
        made = new_archives(host, expect_ok=False)
        assert host.run("systemctl is-failed borg-backup.service").stdout.strip() == "failed"
        failed_units = host.check_output("systemctl --failed --plain --no-legend")
        assert "borg-backup.service" in failed_units
    finally:
        down.check_output("systemctl start ssh.service")
    assert made[DOWN] == []
    for name in SERVERS:
        if name != DOWN:
            assert sorted(kind(a) for a in made[name]) == ["database", "filesystem"], name


def test_a_failing_stream_command_stores_no_archive_and_fails_the_unit(host, first_backup):
    host.check_output(f"mv {DATABASE} {DATABASE}.away")
    try:
        made = new_archives(host, expect_ok=False)
        assert host.run("systemctl is-failed borg-backup.service").stdout.strip() == "failed"
    finally:
        host.check_output(f"mv {DATABASE}.away {DATABASE}")
    for name in SERVERS:
        assert [kind(a) for a in made[name]] == ["filesystem"], name


def prune(name):
    """The servers' prune, as its timer starts it: (rc, journal)."""
    result = server(name).run("systemctl start borg-prune.service")
    journal = server(name).run("journalctl -u borg-prune.service -n 30 --no-pager").stdout
    server(name).run("systemctl reset-failed borg-prune.service")
    return result.rc, journal


def append_only(name):
    config = server(name).file(f"{REPO}/config").content_string
    return re.search(r"^append_only = 1$", config, re.M) is not None


def test_the_server_prune_keeps_the_newest_and_oldest_of_each_kind_and_append_only(host):
    """All archives are from today: keep-daily keeps the newest of each kind,
    and borg (1.2 and 1.4) keeps the oldest while the retention is not full."""
    for name in SERVERS:
        before = archives(name)
        rc, journal = prune(name)
        assert rc == 0, journal
        assert append_only(name)
        after = archives(name)
        for what in ("database", "filesystem"):
            of_kind = [a for a in before if kind(a) == what]
            kept = sorted({of_kind[0], of_kind[-1]})
            assert [a for a in after if kind(a) == what] == kept, name


def segments(name, repo=REPO):
    return {
        int(p.rsplit("/", 1)[1])
        for p in server(name).check_output(f"find {repo}/data -type f").split()
    }


def test_the_client_cannot_delete_its_archives(host, first_backup):
    """Through borg serve --append-only, delete, prune and compact from the
    client answer 0 and hide archives from the listing, but nothing is
    removed: the repository rolled back to the transaction before them
    (what an admin does after a compromised client) still has the archive
    and its data."""
    for name in SERVERS:
        archive = [a for a in archives(name) if kind(a) == "database"][-1]
        before = segments(name)
        for command in (f"delete ::{archive}", "prune --keep-last 1", "compact"):
            host.run(f"borg-backup-repo {name} {command}")
        assert archive not in archives(name)  # the client's view
        assert segments(name) >= before  # no segment file was removed
        copy = f"/tmp/restore-{CLIENT}"
        server(name).check_output(
            f"rm -rf {copy} {copy}-home && cp -a {REPO} {copy}"
            f" && rm -f {copy}/index.* {copy}/hints.* {copy}/integrity.*"
        )
        for segment in segments(name, copy):
            if segment > max(before):
                server(name).check_output(f"rm {copy}/data/*/{segment}")
        try:
            assert archive in archives(name, copy)
            result = borg_on_server(name, f"extract --stdout @REPO::{archive}", copy)
            assert result.stdout == host.file(DATABASE).content_string.upper(), result.stderr
        finally:
            server(name).check_output(f"rm -rf {copy} {copy}-home")


@pytest.mark.parametrize("name", SERVERS)
def test_the_client_key_runs_only_borg_serve_of_its_repository(host, name):
    ssh = (
        "ssh -i /etc/borg-backup/id_ed25519 -o BatchMode=yes -o StrictHostKeyChecking=yes "
        f"-o UserKnownHostsFile=/etc/borg-backup/known_hosts {USER}@{name}"
    )
    result = host.run(f"{ssh} cat /etc/passwd < /dev/null")
    assert "root:" not in result.stdout
    other = host.run(f"env {CLIENT_ENV} borg list ssh://{USER}@{name}:22/etc")
    assert other.rc != 0
    assert "path not allowed" in other.stderr.lower(), other.stderr


@pytest.mark.parametrize("name", SERVERS)
def test_borg_backup_repo_lists_the_archives_of_each_server(host, first_backup, name):
    """The restore's way in (docs/etherpad.md): borg against one server's
    repository of this client, the same archives its account sees there."""
    listed = host.check_output(f"borg-backup-repo {name} list --short").split()
    assert listed == archives(name)


def test_borg_backup_repo_refuses_a_server_it_does_not_back_up_to(host):
    result = host.run("borg-backup-repo backup99.example.org list")
    assert result.rc == 2
    assert all(name in result.stderr for name in SERVERS), result.stderr


@pytest.mark.parametrize("name", SERVERS)
def test_the_repository_is_append_only_on_disk(name):
    config = server(name).file(f"{REPO}/config").content_string
    assert re.search(r"^append_only = 1$", config, re.M), config


@pytest.mark.parametrize("name", SERVERS)
def test_the_repository_is_only_the_client_accounts(name):
    home = server(name).file(HOME)
    assert (home.user, home.group, home.mode) == (USER, USER, 0o700)
    repo = server(name).file(REPO)
    assert (repo.user, repo.mode) == (USER, 0o700)
    keys = server(name).file(f"{HOME}/.ssh/authorized_keys")
    assert (keys.user, keys.mode) == ("root", 0o640)
    line = keys.content_string.strip()
    assert line.startswith(
        f'command="borg serve --append-only --restrict-to-path {REPO}",restrict ssh-ed25519 '
    ), line


def test_the_backup_key_script_and_cache_are_roots_only(host):
    for path, mode in {
        "/etc/borg-backup": 0o700,
        "/etc/borg-backup/id_ed25519": 0o600,
        "/usr/local/sbin/borg-backup": 0o700,
        "/var/lib/borg-backup": 0o700,
    }.items():
        found = host.file(path)
        assert (found.user, found.mode) == ("root", mode), path
    assert host.run("find /var/lib/borg-backup ! -user root").stdout == ""


def test_each_servers_host_key_is_the_one_the_backup_trusts(host):
    known = host.file("/etc/borg-backup/known_hosts").content_string.splitlines()
    for name in SERVERS:
        key = server(name).file("/etc/ssh/ssh_host_ed25519_key.pub").content_string.split()
        assert f"{name} {key[0]} {key[1]}" in known
    script = host.file("/usr/local/sbin/borg-backup-repo").content_string
    assert "StrictHostKeyChecking=yes" in script


def test_the_timers_are_enabled(host):
    assert host.service("borg-backup.timer").is_enabled
    assert host.service("borg-backup.timer").is_running
    for name in SERVERS:
        assert server(name).service("borg-prune.timer").is_enabled
        assert server(name).service("borg-prune.timer").is_running


def test_the_server_prune_refuses_after_the_client_deleted_archives(host):
    """The client's hidden deletions (the test before) would become permanent
    if the prune lifted append-only: it fails instead and changes nothing."""
    for name in SERVERS:
        before = segments(name)
        rc, journal = prune(name)
        assert rc != 0, journal
        assert "deleted since the last prune" in journal
        assert append_only(name)
        assert segments(name) >= before
