"""Unit tests of run-all, with a stand-in for ansible-playbook."""

from __future__ import annotations

import fcntl
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from sctools import run_all
from sctools.cli import Exit

FAKE = Path(__file__).with_name("fake_ansible_playbook.py")

# The fake, plus what run-all asks of --list-hosts: the hosts of the plan's
# "targets" (default: its "hosts") within --limit; "targets": null fails.
LIST_HOSTS = """
import json, os, sys
args = sys.argv[1:]
if "--list-hosts" not in args:
    os.execv(sys.executable, [sys.executable, FAKE, *args])
plan = json.load(open(os.environ["FAKE_PLAN"])).get(args[-1], {})
targets = plan.get("targets", list(plan.get("hosts", {"h1": "ok"})))
if targets is None:
    sys.exit("ERROR! cannot list")
limit = args[args.index("--limit") + 1].split(":")
hosts = [h for h in targets if h in limit]
print(f"\\nplaybook: {args[-1]}\\n\\n  play #1 (all:!disabled): Play\\tTAGS: []")
print(f"    pattern: ['all:!disabled']\\n    hosts ({len(hosts)}):")
for host in hosts:
    print(f"      {host}")
"""


class Bench:
    """A schedule, a plan for the fake ansible-playbook, and run-all's paths."""

    def __init__(self, tmp_path: Path, monkeypatch):
        self.tmp = tmp_path
        self.calls = tmp_path / "calls.jsonl"
        self.plan_file = tmp_path / "plan.json"
        monkeypatch.setenv("FAKE_CALLS", str(self.calls))
        monkeypatch.setenv("FAKE_PLAN", str(self.plan_file))
        self.plan_file.write_text("{}")
        self.fake = tmp_path / "fake_with_list_hosts.py"
        self.fake.write_text(f"FAKE = {str(FAKE)!r}\n{LIST_HOSTS}")

    def schedule(self, playbooks: dict) -> None:
        entries = {
            name: {"depends_on": deps, "timeout": timeout, "owner": owner}
            for name, (deps, timeout, owner) in playbooks.items()
        }
        (self.tmp / "schedule.yaml").write_text(json.dumps({"playbooks": entries}))
        # run-all checks that each playbook exists; the fake never reads it.
        (self.tmp / "playbooks").mkdir(exist_ok=True)
        for name in playbooks:
            (self.tmp / "playbooks" / f"{name}.yaml").write_text("[]\n")

    def plan(self, plan: dict) -> None:
        self.plan_file.write_text(json.dumps({f"playbooks/{k}.yaml": v for k, v in plan.items()}))

    def args(self, *extra: str) -> list[str]:
        return [
            "--schedule", str(self.tmp / "schedule.yaml"),
            "--log-dir", str(self.tmp / "logs"),
            "--lock-file", str(self.tmp / "run-all.lock"),
            "--stop-file", str(self.tmp / "emergency-stop"),
            "--metrics-file", str(self.tmp / "metrics" / "run_all.prom"),
            "--ansible-playbook", f"{sys.executable} {self.fake}",
            *extra,
        ]  # fmt: skip

    def run(self, *extra: str) -> int:
        return run_all.main(self.args(*extra))

    def calls_made(self) -> list[dict]:
        if not self.calls.exists():
            return []
        return [json.loads(line) for line in self.calls.read_text().splitlines()]

    def called(self, name: str) -> dict:
        matches = [c for c in self.calls_made() if c["argv"][-1] == f"playbooks/{name}.yaml"]
        assert len(matches) == 1, f"{name} called {len(matches)} times"
        return matches[0]

    def report(self) -> dict:
        reports = sorted((self.tmp / "logs").glob("*/report.json"))
        return json.loads(reports[-1].read_text())

    def outcome(self, name: str) -> dict:
        return next(p for p in self.report()["playbooks"] if p["name"] == name)


@pytest.fixture
def bench(tmp_path, monkeypatch):
    return Bench(tmp_path, monkeypatch)


DIAMOND = {
    "base": ([], 30, "cron"),
    "certs": (["base"], 30, "cron"),
    "mirror": (["certs"], 30, "cron"),
    "zuul": (["base"], 30, "cron"),
}


def test_dependencies_run_before_their_dependents(bench):
    bench.schedule(DIAMOND)
    assert bench.run() == Exit.OK
    assert bench.called("base")["end"] <= bench.called("certs")["start"]
    assert bench.called("certs")["end"] <= bench.called("mirror")["start"]
    assert bench.called("base")["end"] <= bench.called("zuul")["start"]


def test_independent_playbooks_run_in_parallel(bench):
    bench.schedule({"a": ([], 30, "cron"), "b": ([], 30, "cron"), "c": ([], 30, "cron")})
    bench.plan({name: {"sleep": 1.0} for name in "abc"})
    started = time.monotonic()
    assert bench.run("--jobs", "3") == Exit.OK
    calls = bench.calls_made()
    assert max(c["start"] for c in calls) < min(c["end"] for c in calls), "no overlap"
    assert time.monotonic() - started < 2.9


def test_parallelism_is_bounded_by_jobs(bench):
    bench.schedule({"a": ([], 30, "cron"), "b": ([], 30, "cron"), "c": ([], 30, "cron")})
    bench.plan({name: {"sleep": 0.5} for name in "abc"})
    assert bench.run("--jobs", "1") == Exit.OK
    calls = sorted(bench.calls_made(), key=lambda c: c["start"])
    for before, after in zip(calls, calls[1:], strict=False):
        assert before["end"] <= after["start"]


def test_timeout_kills_the_playbook_and_skips_its_dependents(bench):
    bench.schedule({"slow": ([], 1, "cron"), "after": (["slow"], 30, "cron")})
    bench.plan({"slow": {"sleep": 60}})
    started = time.monotonic()
    assert bench.run() == Exit.FAILED
    assert time.monotonic() - started < 15
    assert bench.outcome("slow")["status"] == "timed_out"
    assert "timeout of 1 s" in bench.outcome("slow")["reason"]
    assert bench.outcome("after")["status"] == "skipped"
    assert bench.calls_made() == []  # the fake was killed before it recorded anything


def test_failure_on_one_host_skips_only_that_host_downstream(bench):
    bench.schedule(DIAMOND)
    hosts = {"h1": "ok", "h2": "unreachable", "h3": "changed"}
    bench.plan({"base": {"hosts": hosts}, "certs": {"hosts": hosts}, "zuul": {"hosts": hosts}})
    assert bench.run() == Exit.FAILED
    base = bench.outcome("base")
    assert base["status"] == "failed"
    assert base["hosts"]["h2"]["status"] == "unreachable"
    assert base["hosts"]["h3"]["status"] == "changed"
    for dependent in ("certs", "zuul", "mirror"):
        assert (
            bench.called(dependent)["argv"][bench.called(dependent)["argv"].index("--limit") + 1]
            == "all:!h2"
        )
        assert bench.outcome(dependent)["excluded_hosts"] == ["h2"]
    # certs and zuul would have run on h2; mirror (only h1) would not.
    for dependent in ("certs", "zuul"):
        assert bench.outcome(dependent)["status"] == "partial"
        assert bench.outcome(dependent)["hosts_left_out"] == ["h2"]
    assert bench.outcome("mirror")["status"] == "ok"
    assert bench.outcome("mirror")["hosts_left_out"] == []
    assert "h2" not in bench.outcome("zuul")["hosts"]


ZOOKEEPER = {
    "base": ([], 30, "cron"),
    "service-zookeeper": (["base"], 30, "cron"),
    "service-mirror": (["base"], 30, "cron"),
}


def metric(bench, name: str, playbook: str) -> str:
    metrics = (bench.tmp / "metrics" / "run_all.prom").read_text()
    [line] = [m for m in metrics.splitlines() if m.startswith(f'{name}{{playbook="{playbook}"}}')]
    return line.split()[-1]


def test_a_playbook_that_left_out_a_host_that_failed_upstream_is_not_a_success(bench):
    """Issue 17, item 3: zk02 unreachable during base; service-zookeeper ran on
    2 of 3 members and its metric said success=1."""
    bench.schedule(ZOOKEEPER)
    members = {"zk01": "ok", "zk02": "ok", "zk03": "ok"}
    bench.plan({
        "base": {"hosts": {**members, "zk02": "unreachable", "mirror01": "ok"}},
        "service-zookeeper": {"hosts": members},
        "service-mirror": {"hosts": {"mirror01": "ok"}},
    })  # fmt: skip
    assert bench.run() == Exit.FAILED
    zookeeper = bench.outcome("service-zookeeper")
    assert sorted(zookeeper["hosts"]) == ["zk01", "zk03"]
    assert zookeeper["status"] == "partial"
    assert zookeeper["hosts_left_out"] == ["zk02"]
    assert "left out zk02" in zookeeper["reason"]
    assert metric(bench, "run_all_playbook_success", "service-zookeeper") == "0"
    assert metric(bench, "run_all_playbook_hosts_left_out", "service-zookeeper") == "1"
    # zk02 is no mirror: service-mirror left nobody out.
    mirror = bench.outcome("service-mirror")
    assert (mirror["status"], mirror["hosts_left_out"]) == ("ok", [])
    assert mirror["excluded_hosts"] == ["zk02"]
    assert metric(bench, "run_all_playbook_success", "service-mirror") == "1"
    assert metric(bench, "run_all_playbook_hosts_left_out", "service-mirror") == "0"
    assert metric(bench, "run_all_playbook_hosts_left_out", "base") == "0"


def test_hosts_left_out_count_all_excluded_ones_when_they_cannot_be_listed(bench):
    bench.schedule(ZOOKEEPER)
    bench.plan({
        "base": {"hosts": {"zk01": "ok", "zk02": "unreachable"}},
        "service-mirror": {"hosts": {"mirror01": "ok"}, "targets": None},
    })  # fmt: skip
    bench.run()
    mirror = bench.outcome("service-mirror")
    assert (mirror["status"], mirror["hosts_left_out"]) == ("partial", ["zk02"])
    assert "could not list its hosts" in mirror["reason"]


def test_parse_list_hosts():
    output = (
        "\nplaybook: playbooks/a.yaml\n\n"
        "  play #1 (zookeeper:!disabled): Zk\tTAGS: []\n"
        "    pattern: ['zookeeper:!disabled']\n    hosts (2):\n      zk01\n      zk02\n\n"
        "  play #2 (mirror): Mirror\tTAGS: []\n    pattern: ['mirror']\n    hosts (0):\n"
    )
    assert run_all.parse_list_hosts(output) == {"zk01", "zk02"}
    assert run_all.parse_list_hosts("PLAY RECAP\n") is None
    assert run_all.parse_list_hosts("    hosts (2):\n      zk01\n") is None


def test_user_limit_is_combined_with_excluded_hosts(bench):
    bench.schedule({"base": ([], 30, "cron"), "svc": (["base"], 30, "cron")})
    bench.plan({"base": {"hosts": {"h1": "failed", "h2": "ok"}}})
    bench.run("--limit", "mirror")
    argv = bench.called("svc")["argv"]
    assert argv[argv.index("--limit") + 1] == "mirror:!h1"


def test_whole_playbook_failure_skips_dependents(bench):
    bench.schedule({"base": ([], 30, "cron"), "svc": (["base"], 30, "cron")})
    bench.plan({"base": {"rc": 4, "hosts": {}}})
    assert bench.run() == Exit.FAILED
    assert bench.outcome("svc")["status"] == "skipped"
    assert "dependency base failed" in bench.outcome("svc")["reason"]


def test_second_run_exits_at_once_naming_the_holder(bench, capsys):
    bench.schedule({"a": ([], 30, "cron")})
    lock = run_all.Lock(bench.tmp / "run-all.lock")
    assert lock.acquire() is None
    try:
        assert bench.run() == Exit.BUSY
    finally:
        lock.release()
    err = capsys.readouterr().err
    assert f"pid {os.getpid()} started" in err
    assert bench.calls_made() == []


CONTENDER = """
import json, os, sys, time
from pathlib import Path
from sctools.run_all import Lock
signals, lock_path, tries = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
def wait_for(name):
    while not (signals / name).exists():
        time.sleep(0.001)
lost = []
# Phase 1: the test holds the lock; this one loses and must name it.
wait_for("go")
holder = Lock(lock_path).acquire()
lost.append(holder)
(signals / f"tried-{os.getpid()}").touch()
# Phase 2: every contender takes and releases as fast as it can.
wait_for("race")
won = 0
for _ in range(tries):
    lock = Lock(lock_path)
    holder = lock.acquire()
    if holder is None:
        won += 1
        lock.release()
    else:
        lost.append(holder)
print(json.dumps({"pid": os.getpid(), "won": won, "lost": lost}))
"""


def wait_for_files(directory: Path, pattern: str, count: int) -> None:
    """Until count files match (a condition, not a time); fails after minutes."""
    deadline = time.monotonic() + 300
    while len(list(directory.glob(pattern))) < count:
        assert time.monotonic() < deadline, f"{count} {pattern} files not within 300 s"
        time.sleep(0.01)


def test_every_loser_of_a_lock_race_names_the_holder(tmp_path):
    """Issue 17, item 4: the loser of a race sometimes could not name the
    holder (its record was written after the flock and erased before the
    unlock). The test holds the lock while every contender tries once (each
    loses, so losers exist whatever the machine's load), then lets go, and
    the contenders take and release it as fast as they can; every one that
    loses must name one of the holders."""
    signals, lock = tmp_path / "signals", tmp_path / "run-all.lock"
    signals.mkdir()
    env = dict(os.environ, PYTHONPATH=str(Path(run_all.__file__).parents[1]))
    first = run_all.Lock(lock)
    assert first.acquire() is None
    contenders = [
        subprocess.Popen(
            [sys.executable, "-c", CONTENDER, str(signals), str(lock), "100"],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )  # fmt: skip
        for _ in range(12)
    ]
    (signals / "go").touch()
    wait_for_files(signals, "tried-*", len(contenders))
    first.release()
    (signals / "race").touch()
    results = [json.loads(c.communicate(timeout=300)[0]) for c in contenders]
    pids = {r["pid"] for r in results} | {os.getpid()}
    lost = [holder for r in results for holder in r["lost"]]
    assert len(lost) >= len(contenders), "each contender lost while the test held the lock"
    unnamed = [
        h for h in lost if not (m := re.match(r"pid (\d+) started", h)) or int(m[1]) not in pids
    ]
    assert not unnamed, (
        f"{len(unnamed)} of {len(lost)} losers did not name the holder: {unnamed[:3]}"
    )
    assert lock.read_text().startswith("free: "), "the last holder says it let go"


def test_a_loser_waits_for_the_new_holders_record(tmp_path, monkeypatch):
    """The holder has the lock but has not written its record yet: the
    loser looks again instead of naming nobody (or the previous holder)."""
    path = tmp_path / "run-all.lock"
    path.write_text("free: pid 1 let go 2026-01-01T00:00:00+00:00\n")
    holder = path.open("r+")
    fcntl.flock(holder, fcntl.LOCK_EX)
    real_pread = os.pread

    def pread_then_holder_writes(fd, n, offset):
        data = real_pread(fd, n, offset)
        if not data.startswith(b"pid "):  # the loser has looked once: now the holder writes
            os.pwrite(holder.fileno(), f"pid {os.getpid()} started now\n".encode(), 0)
        return data

    monkeypatch.setattr(os, "pread", pread_then_holder_writes)
    try:
        assert run_all.Lock(path).acquire() == f"pid {os.getpid()} started now"
    finally:
        holder.close()


def test_a_lock_held_after_its_run_all_died_names_that_run(tmp_path, monkeypatch):
    """A record whose pid is gone, on a held lock: what the killed run started holds it."""
    monkeypatch.setattr(run_all, "HOLDER_WAIT_SECONDS", 0.2)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    path = tmp_path / "run-all.lock"
    path.write_text(f"pid {dead.pid} started 2026-01-01T00:00:00+00:00\n")
    with path.open("r") as holder:
        fcntl.flock(holder, fcntl.LOCK_EX)
        said = run_all.Lock(path).acquire()
    assert said.startswith(f"pid {dead.pid} started ")
    assert "that run-all is gone, a playbook it started still runs" in said


def test_lock_is_free_again_after_a_run(bench):
    bench.schedule({"a": ([], 30, "cron")})
    assert bench.run() == Exit.OK
    assert bench.run() == Exit.OK


def test_lock_held_by_another_thread_blocks_a_concurrent_run(bench):
    bench.schedule({"a": ([], 30, "cron")})
    bench.plan({"a": {"sleep": 1.5}})
    codes = []
    first = threading.Thread(target=lambda: codes.append(bench.run()))
    first.start()
    time.sleep(0.5)
    second_code = bench.run()
    first.join()
    assert second_code == Exit.BUSY
    assert codes == [Exit.OK]


def test_emergency_stop_does_nothing_and_says_why(bench, capsys):
    bench.schedule({"a": ([], 30, "cron")})
    (bench.tmp / "emergency-stop").write_text("gerrit upgrade in progress, ask alice\n")
    assert bench.run() == Exit.STOPPED
    assert "gerrit upgrade in progress, ask alice" in capsys.readouterr().err
    assert bench.calls_made() == []


def unreadable(path: Path, monkeypatch) -> None:
    """A stop file we may not read (root reads anything: open() is made to refuse)."""
    path.write_text("a reason nobody can read\n")
    real_open = os.open

    def refuse(name, *args, **kwargs):
        if Path(name) == path:
            raise PermissionError(13, "Permission denied", str(name))
        return real_open(name, *args, **kwargs)

    monkeypatch.setattr(os, "open", refuse)


@pytest.mark.parametrize(
    ("kind", "said"),
    [
        ("dangling symlink", "is a dangling symlink; remove it to run"),
        ("directory", "is a directory; remove it to run"),
        ("symlink loop", "cannot be read (Too many levels of symbolic links)"),
        ("unreadable file", "cannot be read (Permission denied)"),
        ("fifo", "is not a regular file"),  # and reading it does not hang
        ("under a file", "cannot be checked (Not a directory)"),
    ],
)
def test_anything_at_the_stop_path_stops_the_run(bench, capsys, monkeypatch, kind, said):
    """The stop fails closed: only "nothing there" lets a run start."""
    bench.schedule({"a": ([], 30, "cron")})
    stop = bench.tmp / "emergency-stop"
    if kind == "dangling symlink":
        stop.symlink_to(bench.tmp / "nowhere")
    elif kind == "directory":
        stop.mkdir()
    elif kind == "symlink loop":
        stop.symlink_to(stop)
    elif kind == "unreadable file":
        unreadable(stop, monkeypatch)
    elif kind == "fifo":
        os.mkfifo(stop)
    else:
        stop.write_text("")
        stop = stop / "emergency-stop"
    assert bench.run("--stop-file", str(stop)) == Exit.STOPPED
    err = capsys.readouterr().err
    assert f"run-all: error: emergency stop: {stop} " in err and said in err
    assert len(err.strip().splitlines()) == 1, err
    assert bench.calls_made() == []


def test_an_empty_stop_file_stops_too(bench, capsys):
    bench.schedule({"a": ([], 30, "cron")})
    (bench.tmp / "emergency-stop").write_text("")
    assert bench.run() == Exit.STOPPED
    assert "(no reason given)" in capsys.readouterr().err


def test_owner_cron_runs_only_cron_playbooks(bench):
    bench.schedule({"base": ([], 30, "cron"), "zuul": (["base"], 30, "zuul")})
    assert bench.run() == Exit.OK
    assert [c["argv"][-1] for c in bench.calls_made()] == ["playbooks/base.yaml"]
    assert bench.run("--owner", "all") == Exit.OK
    assert len(bench.calls_made()) == 3


def test_only_and_skip_select_playbooks(bench):
    bench.schedule(DIAMOND)
    bench.run("--only", "zuul")
    assert [c["argv"][-1] for c in bench.calls_made()] == ["playbooks/zuul.yaml"]
    bench.calls.unlink()
    bench.run("--skip", "zuul", "--skip", "mirror")
    assert {c["argv"][-1] for c in bench.calls_made()} == {
        "playbooks/base.yaml", "playbooks/certs.yaml"}  # fmt: skip


def test_unknown_playbook_in_only_is_a_usage_error(bench, capsys):
    bench.schedule(DIAMOND)
    assert bench.run("--only", "nope") == Exit.USAGE
    assert "unknown playbook(s) nope" in capsys.readouterr().err


def test_list_prints_the_plan_without_running(bench, capsys):
    bench.schedule(DIAMOND)
    assert bench.run("--list") == Exit.OK
    out = capsys.readouterr().out
    assert out.index("base") < out.index("certs") < out.index("mirror")
    assert bench.calls_made() == []


def test_check_and_diff_are_passed_through(bench):
    bench.schedule({"a": ([], 30, "cron")})
    bench.run("--check", "--diff")
    argv = bench.called("a")["argv"]
    assert "--check" in argv and "--diff" in argv


def test_report_log_and_metrics_are_written(bench):
    bench.schedule({"a": ([], 30, "cron")})
    bench.plan({"a": {"hosts": {"h1": "changed", "h2": "ok"}}})
    bench.run()
    outcome = bench.outcome("a")
    assert outcome["hosts"]["h1"] == {"status": "changed", "ok": 3, "changed": 1,
                                      "unreachable": 0, "failed": 0}  # fmt: skip
    assert "PLAY RECAP" in Path(outcome["log"]).read_text()
    metrics = (bench.tmp / "metrics" / "run_all.prom").read_text()
    assert 'run_all_playbook_success{playbook="a"} 1' in metrics
    assert 'run_all_playbook_hosts_left_out{playbook="a"} 0' in metrics
    assert bench.report()["exit_code"] == 0


def test_the_report_is_also_written_where_the_caller_asks(bench, capsys):
    bench.schedule({"a": ([], 30, "cron")})
    bench.plan({"a": {"hosts": {"h1": "failed"}}})
    wanted = bench.tmp / "caller" / "report.json"
    wanted.parent.mkdir()
    assert bench.run("--report-file", str(wanted)) == Exit.FAILED
    assert json.loads(wanted.read_text()) == bench.report()
    assert bench.report()["exit_code"] == Exit.FAILED
    assert [p.name for p in wanted.parent.iterdir()] == ["report.json"]  # no temporary left


def test_a_report_file_in_a_missing_directory_is_refused_before_anything_runs(bench, capsys):
    bench.schedule({"a": ([], 30, "cron")})
    missing = bench.tmp / "nowhere" / "report.json"
    err = usage_error(bench, capsys, "--report-file", str(missing))
    assert "--report-file" in err and "not a writable directory" in err


def test_old_runs_are_rotated(bench):
    bench.schedule({"a": ([], 30, "cron")})
    for _ in range(4):
        bench.run("--keep-runs", "2")
    assert len(list((bench.tmp / "logs").iterdir())) == 2


def test_malformed_schedule_is_a_usage_error_naming_the_file(bench, capsys):
    (bench.tmp / "schedule.yaml").write_text(
        "playbooks:\n  a: {depends_on: [], timeout: 0, owner: cron}\n"
    )
    assert bench.run() == Exit.USAGE
    err = capsys.readouterr().err
    assert "schedule.yaml: playbooks.a.timeout" in err


def usage_error(bench, capsys, *extra: str) -> str:
    """Run, expecting exit 2 with one line on stderr and no playbook run; that line."""
    assert bench.run(*extra) == Exit.USAGE
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("run-all: error: ")
    assert bench.calls_made() == []
    return err


def test_a_lock_file_that_is_a_directory_is_a_usage_error(bench, capsys):
    bench.schedule({"a": ([], 30, "cron")})
    (bench.tmp / "run-all.lock").mkdir()
    err = usage_error(bench, capsys)
    assert f"--lock-file {bench.tmp / 'run-all.lock'}: Is a directory" in err


@pytest.mark.parametrize("kind", ["a file", "under a file", "read-only"])
def test_a_log_dir_that_cannot_be_written_is_a_usage_error(bench, capsys, kind):
    bench.schedule({"a": ([], 30, "cron")})
    log_dir = bench.tmp / "logs"
    if kind == "a file":
        log_dir.write_text("")
    elif kind == "under a file":
        (bench.tmp / "file").write_text("")
        log_dir = bench.tmp / "file" / "logs"
    else:
        if os.geteuid() == 0:
            pytest.skip("root writes into a read-only directory")
        log_dir.mkdir()
        log_dir.chmod(0o555)
    err = usage_error(bench, capsys, "--log-dir", str(log_dir))
    assert f"--log-dir {log_dir}: cannot write a run directory there" in err
    # The lock is free again.
    assert run_all.Lock(bench.tmp / "run-all.lock").acquire() is None


@pytest.mark.parametrize(
    ("command", "said"),
    [
        ("no-such-ansible-playbook", "'no-such-ansible-playbook' is not in PATH"),
        ("/nonexistent/ansible-playbook", "'/nonexistent/ansible-playbook' is not an executable"),
        (__file__, "is not an executable file"),  # exists, not executable
        ("", "is empty"),
    ],
)
def test_a_missing_ansible_playbook_is_a_usage_error(bench, capsys, command, said):
    bench.schedule({"a": ([], 30, "cron")})
    err = usage_error(bench, capsys, "--ansible-playbook", command)
    assert "--ansible-playbook: " in err and said in err


def test_a_relative_ansible_playbook_is_found_from_the_checkout(bench):
    bench.schedule({"a": ([], 30, "cron")})
    wrapper = bench.tmp / "venv" / "bin" / "ansible-playbook"
    wrapper.parent.mkdir(parents=True)
    wrapper.write_text(f'#!/bin/sh\nexec {sys.executable} {FAKE} "$@"\n')
    wrapper.chmod(0o755)
    assert bench.run("--ansible-playbook", "venv/bin/ansible-playbook") == Exit.OK


def test_a_missing_playbook_file_is_found_when_the_schedule_is_loaded(bench, capsys):
    bench.schedule({"base": ([], 30, "cron"), "ghost": (["base"], 30, "cron")})
    (bench.tmp / "playbooks" / "ghost.yaml").unlink()
    err = usage_error(bench, capsys)
    assert f"{bench.tmp / 'schedule.yaml'}: playbooks.ghost: " in err
    assert f"{bench.tmp / 'playbooks' / 'ghost.yaml'} does not exist" in err


@pytest.mark.parametrize(
    ("name", "said"),
    [
        ("../x", "leaves playbooks/"),
        ("/etc/x", "leaves playbooks/"),
        ("a/../../x", "leaves playbooks/"),
        ("1", "not a string"),
    ],
)
def test_a_playbook_name_that_is_not_a_file_of_playbooks_is_a_usage_error(
    bench, capsys, name, said
):
    key = name if name == "1" else json.dumps(name)
    (bench.tmp / "schedule.yaml").write_text(
        f"playbooks:\n  {key}: {{depends_on: [], timeout: 30, owner: cron}}\n"
    )
    (bench.tmp / "x.yaml").write_text("[]\n")  # ../x from playbooks/ exists: still refused
    err = usage_error(bench, capsys)
    assert f"{bench.tmp / 'schedule.yaml'}" in err and said in err


def test_a_schedule_that_is_not_utf8_is_a_usage_error(bench, capsys):
    (bench.tmp / "schedule.yaml").write_bytes(
        b"playbooks:\n  a: {depends_on: [], timeout: 30, owner: cron, description: caf\xe9}\n"
    )
    err = usage_error(bench, capsys)
    assert f"{bench.tmp / 'schedule.yaml'}" in err and "UTF-8" in err


def test_limit_pattern():
    assert run_all.limit_pattern(None, []) is None
    assert run_all.limit_pattern("mirror", []) == "mirror"
    assert run_all.limit_pattern(None, ["a", "b"]) == "all:!a:!b"


def test_sigterm_stops_the_running_playbook_and_still_reports(bench, tmp_path):
    import signal
    import subprocess

    bench.schedule({"slow": ([], 300, "cron"), "after": (["slow"], 30, "cron")})
    bench.plan({"slow": {"sleep": 60}})
    env = dict(os.environ, PYTHONPATH=str(Path(run_all.__file__).parents[1]))
    proc = subprocess.Popen([sys.executable, "-m", "sctools.run_all", *bench.args()], env=env)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not list((bench.tmp / "logs").glob("*/slow.log")):
        time.sleep(0.1)
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == Exit.INTERRUPTED
    assert bench.report()["exit_code"] == Exit.INTERRUPTED
    assert bench.outcome("slow")["reason"] == "interrupted"
    assert bench.outcome("after")["status"] == "not_run"
    assert run_all.Lock(bench.tmp / "run-all.lock").acquire() is None


def wait_for(condition, what: str, seconds: float = 60) -> None:
    """Poll a condition (never a guessed delay); fail after a generous bound."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def running(pid: int) -> bool:
    """Whether pid runs (a zombie has exited and closed its descriptors)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def lock_is_free(path: Path) -> bool:
    with path.open("a+") as probe:
        try:
            fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True  # released when probe closes


class KilledRun:
    """run-all in a subprocess whose playbook `slow` writes its pid when it starts."""

    def __init__(self, bench: Bench, trap: str = ""):
        self.bench = bench
        bench.schedule({"slow": ([], 300, "cron"), "quick": ([], 30, "cron")})
        bench.plan({"slow": {"sleep": 300}})
        self.started = bench.tmp / "started"
        wrapper = bench.tmp / "ansible-playbook"
        wrapper.write_text(
            f"#!/bin/sh\n{trap}\necho $$ > {self.started}.tmp && mv {self.started}.tmp "
            f'{self.started}\nexec {sys.executable} {FAKE} "$@"\n'
        )
        wrapper.chmod(0o755)
        env = dict(os.environ, PYTHONPATH=str(Path(run_all.__file__).parents[1]))
        self.run_all = subprocess.Popen(
            [sys.executable, "-m", "sctools.run_all",
             *bench.args("--only", "slow", "--ansible-playbook", str(wrapper))],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        self.child = None

    def kill_once_the_playbook_runs(self) -> int:
        """SIGKILL run-all once its playbook runs; the playbook's pid."""
        wait_for(
            lambda: self.started.exists() or self.run_all.poll() is not None,
            "the playbook to start",
        )
        assert self.run_all.poll() is None, "run-all ended before its playbook started"
        self.child = int(self.started.read_text())
        self.run_all.send_signal(signal.SIGKILL)
        self.run_all.wait()
        return self.child

    def clean_up(self) -> None:
        if self.run_all.poll() is None:
            self.run_all.kill()
            self.run_all.wait()
        if self.child and running(self.child):
            os.kill(self.child, signal.SIGKILL)


linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


@linux_only
def test_a_killed_run_never_overlaps_its_orphaned_playbook_with_the_next_run(bench):
    """Issue 17, item 1: after kill -KILL of run-all, its playbook (in its own
    session) ran on while the next run-all took the free lock."""
    killed = KilledRun(bench)
    try:
        child = killed.kill_once_the_playbook_runs()
        lock = bench.tmp / "run-all.lock"

        def free_once_the_playbook_is_gone() -> bool:
            if not lock_is_free(lock):
                return False
            assert not running(child), "the lock is free while the killed run's playbook runs"
            return True

        wait_for(free_once_the_playbook_is_gone, "the lock to be free")
        wait_for(lambda: not running(child), "the orphaned playbook to die")
        assert bench.run("--only", "quick") == Exit.OK
    finally:
        killed.clean_up()


@linux_only
def test_an_orphaned_playbook_that_runs_on_keeps_the_lock(bench, capsys, monkeypatch):
    """A playbook slow to stop (here: it ignores the SIGTERM of its parent's
    death) holds the lock: the next run-all exits 3 until it is gone."""
    killed = KilledRun(bench, trap="trap '' TERM")  # ignored signals stay ignored over exec
    try:
        child = killed.kill_once_the_playbook_runs()
        monkeypatch.setattr(run_all, "HOLDER_WAIT_SECONDS", 0.2)
        assert bench.run("--only", "quick") == Exit.BUSY
        assert "that run-all is gone, a playbook it started still runs" in capsys.readouterr().err
        assert running(child)
        os.kill(child, signal.SIGKILL)
        wait_for(lambda: not running(child), "the orphaned playbook to die")
        assert bench.run("--only", "quick") == Exit.OK
        assert [c["argv"][-1] for c in bench.calls_made()] == ["playbooks/quick.yaml"]
    finally:
        killed.clean_up()
