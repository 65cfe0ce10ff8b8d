"""The schedule is valid and names exactly the playbooks that exist."""

import pytest

from sctools import schedule


def test_schedule_names_every_playbook_and_only_those():
    loaded = schedule.load_schedule(playbook_dir=schedule.PLAYBOOK_DIR)
    on_disk = schedule.playbooks_on_disk()
    assert set(loaded.playbooks) == on_disk, (
        f"not in schedule.yaml: {sorted(on_disk - set(loaded.playbooks))}; "
        f"in schedule.yaml but no playbook: {sorted(set(loaded.playbooks) - on_disk)}"
    )


def write(tmp_path, text):
    path = tmp_path / "schedule.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("playbooks:\n  a: {depends_on: [], timeout: 10, owner: cron, colour: red}\n",
         "playbooks.a: unknown key(s) colour"),
        ("playbooks:\n  a: {depends_on: [], timeout: 10}\n", "playbooks.a: missing owner"),
        ("playbooks:\n  a: {depends_on: [b], timeout: 10, owner: cron}\n",
         "playbooks.a.depends_on: 'b' is not in the schedule"),
        ("playbooks:\n  a: {depends_on: [], timeout: 10, owner: jenkins}\n",
         "playbooks.a.owner: 'jenkins' is not one of cron, zuul"),
        ("playbooks:\n  a: {depends_on: [], timeout: soon, owner: cron}\n",
         "playbooks.a.timeout: must be a positive number"),
        ("playbooks:\n  a: {depends_on: [b], timeout: 1, owner: cron}\n"
         "  b: {depends_on: [a], timeout: 1, owner: cron}\n", "dependency cycle a -> b -> a"),
        ("playbooks: [a\n", "schedule.yaml:2: YAML syntax error"),
        ("plays: {}\n", "only 'playbooks'"),
    ],
)  # fmt: skip
def test_malformed_schedule_names_file_and_field(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(schedule.ScheduleError) as error:
        schedule.load_schedule(path)
    assert str(path) in str(error.value)
    assert message in str(error.value)


def test_missing_playbook_file_is_reported(tmp_path):
    path = write(tmp_path, "playbooks:\n  ghost: {depends_on: [], timeout: 1, owner: cron}\n")
    with pytest.raises(schedule.ScheduleError, match="ghost.yaml does not exist"):
        schedule.load_schedule(path, playbook_dir=tmp_path)


@pytest.mark.parametrize("name", ["../x", "/etc/x", "a/../../x", "a/../b", ".."])
def test_a_playbook_name_that_leaves_playbooks_is_refused(tmp_path, name):
    """run-all runs playbooks/<name>.yaml: no name may lead out of there."""
    (tmp_path / "playbooks").mkdir()
    (tmp_path / "x.yaml").write_text("[]\n")  # ../x exists: refused all the same
    entry = "{depends_on: [], timeout: 1, owner: cron}"
    path = write(tmp_path, f'playbooks:\n  "{name}": {entry}\n')
    with pytest.raises(schedule.ScheduleError) as error:
        schedule.load_schedule(path, playbook_dir=tmp_path / "playbooks")
    assert str(error.value).startswith(f"{path}: playbooks: the name ")
    assert "leaves playbooks/" in str(error.value)


def test_a_playbook_name_in_a_subdirectory_of_playbooks_is_accepted(tmp_path):
    (tmp_path / "playbooks" / "a").mkdir(parents=True)
    (tmp_path / "playbooks" / "a" / "b.yaml").write_text("[]\n")
    path = write(tmp_path, "playbooks:\n  a/b: {depends_on: [], timeout: 1, owner: cron}\n")
    assert list(schedule.load_schedule(path, playbook_dir=tmp_path / "playbooks").playbooks) == [
        "a/b"
    ]


@pytest.mark.parametrize("key", ['""', '"a\\0b"'])
def test_a_playbook_name_that_cannot_be_a_file_name_is_refused(tmp_path, key):
    path = write(tmp_path, f"playbooks:\n  {key}: {{depends_on: [], timeout: 1, owner: cron}}\n")
    with pytest.raises(schedule.ScheduleError, match="cannot be a file name"):
        schedule.load_schedule(path)


@pytest.mark.parametrize("key", ["1", "null", "yes", "[a]"])
def test_a_playbook_name_that_is_not_a_string_is_refused(tmp_path, key):
    path = write(tmp_path, f"playbooks:\n  {key}: {{depends_on: [], timeout: 1, owner: cron}}\n")
    with pytest.raises(schedule.ScheduleError) as error:
        schedule.load_schedule(path)
    assert str(error.value).startswith(str(path)) and "not a string" in str(error.value)


def test_order_respects_dependencies():
    s = schedule.Schedule({
        n: schedule.Playbook(n, "", tuple(d), 1, "cron")
        for n, d in {"svc": ["certs"], "certs": ["base"], "base": [], "aaa": ["base"]}.items()
    })  # fmt: skip
    assert s.order() == ["base", "aaa", "certs", "svc"]


def test_every_play_of_every_scheduled_playbook_skips_disabled_hosts():
    import yaml

    for name in schedule.load_schedule().playbooks:
        path = schedule.PLAYBOOK_DIR / f"{name}.yaml"
        for play in yaml.safe_load(path.read_text()):
            if "import_playbook" in play:
                continue
            assert ":!disabled" in play["hosts"], f"{path}: play '{play['name']}' hosts"


def test_every_play_that_touches_hosts_waits_for_another_playbooks_apt():
    """run-all runs playbooks in parallel, and two may install packages on one
    host (docker and service-zuul-tenant-config on a scheduler): apt's default
    60 s wait for the dpkg lock failed a cold deploy on a loaded machine."""
    import yaml

    for name in schedule.load_schedule().playbooks:
        path = schedule.PLAYBOOK_DIR / f"{name}.yaml"
        for play in yaml.safe_load(path.read_text()):
            if "import_playbook" in play:
                continue
            defaults = (play.get("module_defaults") or {}).get("ansible.builtin.apt") or {}
            assert defaults.get("lock_timeout", 0) >= 600, (
                f"{path}: play '{play['name']}' must set module_defaults "
                "ansible.builtin.apt lock_timeout (at least 600)"
            )
