"""run-all: converge the fleet by running every scheduled playbook.

Reads schedule.yaml, then runs the playbooks with bounded parallelism in
dependency order, each under its own timeout. When a playbook fails on some
hosts, the playbooks that depend on it still run, without those hosts; when
it fails as a whole (syntax error, timeout), they are skipped. Two runs never
overlap (a lock file names the holder); an emergency-stop file makes run-all
do nothing and say why. Hosts in the `disabled` group are excluded by every
playbook's host pattern.

The playbooks are playbooks/<name>.yaml beside the schedule (each must
exist when the schedule is loaded) and ansible-playbook runs in the
schedule's directory: the checkout, for the default schedule.

A playbook that ran without hosts that failed upstream, and would have
run on them (ansible-playbook --list-hosts limited to those hosts says so),
has left them out: its status is "partial", not "ok", even when it
succeeded on every host it ran on, and its success metric is 0. A host
excluded only because it failed in a dependency the playbook does not
target (a mirror playbook without a failed ZooKeeper member) is not
counted.

Each run writes, under --log-dir/<run id>/, one log per playbook and
report.json (per playbook: start, duration, status, the hosts excluded
because they failed upstream and those of them it targets, hosts_left_out,
and per host ok, changed, failed, unreachable; the run's exit_code); older
runs beyond --keep-runs are deleted. --report-file also writes
report.json where a caller wants it: callers read the report there, never
from the printed summary. Durations and results are exported as a
Prometheus textfile (--metrics-file) for node-exporter's textfile
collector.

A playbook never outlives the run's hold on the lock. ansible-playbook
inherits the lock's file descriptor, and an flock lasts until the last
descriptor of it is closed: a run-all killed with SIGKILL leaves the lock
held for as long as its playbook still runs, so the next run-all cannot
overlap it (it exits 3). On Linux each playbook also gets SIGTERM when
run-all dies (PR_SET_PDEATHSIG), so such an orphan does not converge on
alone. SIGTERM or Ctrl-C to run-all, and a playbook's timeout, stop the
playbook's whole process group (TERM, then KILL after a grace period).

Exit codes (sctools.cli, the one table of every tool, in README.md):
  0    every playbook succeeded on every host
  1    a playbook failed (on some or all hosts), timed out, was skipped or
       left out hosts that failed upstream (partial)
  2    bad usage or a malformed schedule, or what the run needs is missing
       (a scheduled playbook's file, ansible-playbook, a usable lock file,
       log directory or --report-file): found before any playbook runs
  3    another run holds the lock (its pid and start time are printed)
  4    the emergency stop is on: anything at the stop path (a file, whose
       content is the reason, but also a dangling symlink, a directory or a
       file that cannot be read: the stop fails closed)
  130  interrupted (Ctrl-C or SIGTERM): the running playbooks are stopped,
       the report is still written
"""

from __future__ import annotations

import argparse
import ctypes
import fcntl
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import TextIO

from sctools import REPO_ROOT
from sctools.cli import Exit, ToolError, command
from sctools.processes import alive
from sctools.recap import broken_hosts, parse_recap
from sctools.schedule import Schedule, ScheduleError, load_schedule

KILL_GRACE_SECONDS = 10
LIST_HOSTS_TIMEOUT = 300
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _load_prctl() -> Callable[..., int] | None:
    """libc's prctl on Linux, else None. Loaded here, in the parent: a child
    between fork and exec must not dlopen (another thread may hold the
    loader's lock)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _load_prctl()


def die_with_run_all() -> Callable[[], None] | None:
    """A preexec_fn that makes the child get SIGTERM when run-all dies, or None.

    The signal follows the death of the thread that started the child: the
    worker thread of run_playbook, which waits for its child before it ends.
    """
    if _PRCTL is None:
        return None
    parent, sigterm = os.getpid(), int(signal.SIGTERM)

    def preexec() -> None:
        _PRCTL(PR_SET_PDEATHSIG, sigterm)
        if os.getppid() != parent:  # run-all died before prctl: nobody would signal
            os._exit(128 + sigterm)

    return preexec


@dataclass
class Outcome:
    """What happened to one playbook in this run."""

    name: str
    # waiting, running, ok, partial (ok, without hosts that failed upstream),
    # failed, timed_out, skipped, not_run
    status: str = "waiting"
    started: str | None = None
    duration: float = 0.0
    returncode: int | None = None
    excluded_hosts: list[str] = field(default_factory=list)  # failed upstream
    hosts_left_out: list[str] = field(default_factory=list)  # of those, the ones it targets
    hosts: dict[str, dict] = field(default_factory=dict)
    reason: str = ""
    log: str = ""

    @property
    def failed_hosts(self) -> list[str]:
        return sorted(h for h, r in self.hosts.items() if r["status"] in ("failed", "unreachable"))


def stop_reason(path: Path) -> str | None:
    """None when nothing is at the emergency-stop path, else why run-all stops.

    Fails closed: whatever is there stops the run, not only a readable file.
    A dangling symlink, a directory or an unreadable file is most likely
    someone's attempt at a stop, and running the fleet anyway is the worse
    mistake.
    """
    try:
        link = stat.S_ISLNK(os.lstat(path).st_mode)
    except FileNotFoundError:
        return None
    except OSError as exc:  # e.g. a parent we may not search: we cannot tell
        return f"{path} cannot be checked ({exc.strerror}); fix or remove it to run"
    remove = "remove it to run"
    try:
        # O_NONBLOCK: a FIFO at the path must not hang the run.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    except FileNotFoundError:
        if link:
            return f"{path} is a dangling symlink; {remove}"
        return f"{path} vanished while being read; run again"
    except OSError as exc:
        return f"{path} exists but cannot be read ({exc.strerror}); {remove}"
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            return f"{path} is a directory; {remove}"
        if not stat.S_ISREG(mode):
            return f"{path} exists and is not a regular file; {remove}"
        text = os.read(fd, 4096).decode(errors="replace").strip()
    except OSError as exc:
        return f"{path} exists but cannot be read ({exc.strerror}); {remove}"
    finally:
        os.close(fd)
    return f"{path} exists, doing nothing. Reason: {text or '(no reason given)'}"


def host_status(counts: dict[str, int]) -> str:
    if counts["unreachable"]:
        return "unreachable"
    if counts["failed"]:
        return "failed"
    return "changed" if counts["changed"] else "ok"


HOLDER = re.compile(r"pid (\d+) started (\S+)\n")
HOLDER_WAIT_SECONDS = 2.0  # how long a loser looks for the holder's record


class Lock:
    """An flock on a file whose first line names the holder.

    The holder writes "pid N started T" right after it takes the lock, in one
    write at offset 0, and replaces it by "free: ..." just before it lets
    go: the file never goes empty while the lock is held (issue 17, item 4:
    a loser saw an empty file 1 time in 15). A loser trusts a record only
    while the lock is held and its pid lives, and otherwise looks again
    (the new holder has not written yet, or the lock was just freed, when
    it may take it after all).
    """

    def __init__(self, path: Path):
        self.path = path
        self.fd: int | None = None

    def acquire(self) -> str | None:
        """Take the lock; return None, or a description of the current holder."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Not append mode: Linux's pwrite to an O_APPEND file ignores the offset.
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        deadline = time.monotonic() + HOLDER_WAIT_SECONDS
        record = ""
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                record = os.pread(fd, 4096, 0).decode(errors="replace")
                match = HOLDER.match(record)
                if match and alive(int(match[1])):
                    os.close(fd)
                    return match[0].strip()
                if time.monotonic() > deadline:
                    os.close(fd)
                    return _unnamed_holder(match)
                time.sleep(0.01)
            except BaseException:
                os.close(fd)
                raise
        self._record(fd, f"pid {os.getpid()} started {_now()}\n")
        self.fd = fd
        return None

    @staticmethod
    def _record(fd: int, line: str) -> None:
        data = line.encode()
        os.pwrite(fd, data, 0)  # one write: a reader sees the old line or the new one
        os.ftruncate(fd, len(data))  # drop the rest of a longer old line

    def fileno(self) -> int:
        """The descriptor the playbooks inherit: the lock lasts while any of them runs."""
        assert self.fd is not None
        return self.fd

    def release(self) -> None:
        # Closing, not LOCK_UN: unlocking would free the lock for the
        # playbooks' inherited descriptors too, were one still running.
        if self.fd is not None:
            self._record(self.fd, f"free: pid {os.getpid()} let go {_now()}\n")
            os.close(self.fd)
            self.fd = None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _unnamed_holder(match: re.Match | None) -> str:
    if match:  # its pid is gone, but the lock is held: by what it started
        return f"{match[0].strip()}; that run-all is gone, a playbook it started still runs"
    return "a process that did not record itself, e.g. the bootstrap job's flock"


class Progress:
    """Event lines for logs; on a terminal also a live status line."""

    def __init__(self, outcomes: dict[str, Outcome], stream: TextIO = sys.stdout):
        self.outcomes = outcomes
        self.stream = stream
        self.live = stream.isatty()
        self.lock = threading.Lock()

    def event(self, message: str) -> None:
        with self.lock:
            stamp = datetime.now(UTC).strftime("%H:%M:%S")
            prefix = "\r\033[K" if self.live else ""
            self.stream.write(f"{prefix}{stamp} {message}\n")
            if self.live:
                self.stream.write(self.status_line())
            self.stream.flush()

    def status_line(self) -> str:
        by: dict[str, list[str]] = {}
        for o in self.outcomes.values():
            by.setdefault(
                "running"
                if o.status == "running"
                else "waiting"
                if o.status == "waiting"
                else "done",
                [],
            ).append(o.name)
        return (
            f"running: {', '.join(by.get('running', [])) or '-'} | "
            f"waiting: {len(by.get('waiting', []))} | done: {len(by.get('done', []))}"
            f"/{len(self.outcomes)}"
        )

    def tick(self) -> None:
        if self.live:
            with self.lock:
                self.stream.write("\r\033[K" + self.status_line())
                self.stream.flush()

    def close(self) -> None:
        if self.live:
            with self.lock:
                self.stream.write("\r\033[K")
                self.stream.flush()


@dataclass
class Options:
    ansible_playbook: list[str]
    root: Path  # where ansible-playbook runs: the schedule's checkout
    lock_fd: int  # inherited by every playbook (see the module's docstring)
    inventories: list[str]
    limit: str | None
    check: bool
    diff: bool
    jobs: int
    run_dir: Path


def limit_pattern(user_limit: str | None, excluded: list[str]) -> str | None:
    """The --limit for ansible-playbook: the user's limit minus excluded hosts."""
    if not excluded:
        return user_limit
    return ":".join([user_limit or "all", *(f"!{h}" for h in excluded)])


def child_options(options: Options) -> dict:
    """Popen arguments for every child: see the module's docstring."""
    return {
        "start_new_session": True,  # its own process group: terminate() stops all of it
        "pass_fds": (options.lock_fd,),
        "preexec_fn": die_with_run_all(),
    }


HOSTS_HEADER = re.compile(r"^(\s+)hosts \((\d+)\):$")


def parse_list_hosts(output: str) -> set[str] | None:
    """The hosts of every play in `ansible-playbook --list-hosts` output;
    None when the output is not that."""
    hosts: set[str] = set()
    lines = output.splitlines()
    headers = 0
    for i, line in enumerate(lines):
        match = HOSTS_HEADER.match(line)
        if not match:
            continue
        headers += 1
        count, indent = int(match[2]), len(match[1])
        listed = lines[i + 1 : i + 1 + count]
        if len(listed) != count or any(
            len(h) - len(h.lstrip()) <= indent or not h.strip() for h in listed
        ):
            return None
        hosts |= {h.strip() for h in listed}
    return hosts if headers else None


def targeted(playbook_path: str, hosts: list[str], options: Options) -> tuple[list[str], str]:
    """Which of hosts the playbook would run on, and '' or why that is unknown.

    Asks ansible-playbook --list-hosts, limited to those hosts. When it
    cannot tell, every one of them counts: better a false "partial" than a
    false "ok".
    """
    command = [*options.ansible_playbook]
    for inventory in options.inventories:
        command += ["-i", inventory]
    command += ["--list-hosts", "--limit", ":".join(hosts), playbook_path]
    try:
        result = subprocess.run(
            command,
            cwd=options.root,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=LIST_HOSTS_TIMEOUT,
            **child_options(options),
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return hosts, f"could not list its hosts ({exc})"
    listed = parse_list_hosts(result.stdout) if result.returncode == 0 else None
    if listed is None:
        return hosts, f"could not list its hosts (--list-hosts exited {result.returncode})"
    return sorted(set(hosts) & listed), ""


def run_playbook(
    schedule: Schedule,
    outcome: Outcome,
    options: Options,
    progress: Progress,
    stop: threading.Event,
) -> None:
    playbook = schedule.playbooks[outcome.name]
    command = [*options.ansible_playbook]
    for inventory in options.inventories:
        command += ["-i", inventory]
    pattern = limit_pattern(options.limit, outcome.excluded_hosts)
    if pattern:
        command += ["--limit", pattern]
    if options.check:
        command.append("--check")
    if options.diff:
        command.append("--diff")
    command.append(playbook.path)
    log = options.run_dir / f"{outcome.name}.log"
    outcome.log = str(log)
    outcome.started = datetime.now(UTC).isoformat(timespec="seconds")
    outcome.status = "running"
    note = f" without {', '.join(outcome.excluded_hosts)}" if outcome.excluded_hosts else ""
    progress.event(f"start {outcome.name}{note} (timeout {playbook.timeout} s)")
    start = time.monotonic()
    env = dict(os.environ, ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1")
    with log.open("w") as out:
        out.write(f"$ {' '.join(command)}\n")
        out.flush()
        proc = subprocess.Popen(
            command,
            cwd=options.root,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            **child_options(options),
        )
        timed_out = False
        while proc.poll() is None:
            if time.monotonic() - start > playbook.timeout or stop.is_set():
                timed_out = not stop.is_set()
                terminate(proc)
                break
            time.sleep(0.2)
    outcome.duration = round(time.monotonic() - start, 2)
    outcome.returncode = proc.returncode
    outcome.hosts = {
        h: {"status": host_status(c), **c}
        for h, c in parse_recap(log.read_text(errors="replace")).items()
    }
    unknown = ""
    if outcome.excluded_hosts and not stop.is_set():
        outcome.hosts_left_out, unknown = targeted(playbook.path, outcome.excluded_hosts, options)
    if timed_out:
        outcome.status = "timed_out"
        outcome.reason = f"killed after its timeout of {playbook.timeout} s"
    elif stop.is_set():
        outcome.status = "failed"
        outcome.reason = "interrupted"
    elif proc.returncode == 0 and outcome.hosts_left_out:
        # Not "ok": it did not converge every host it targets (issue 17, item 3).
        outcome.status = "partial"
        outcome.reason = f"left out {', '.join(outcome.hosts_left_out)} (failed upstream)" + (
            f"; {unknown}" if unknown else ""
        )
    elif proc.returncode == 0:
        outcome.status = "ok"
    else:
        outcome.status = "failed"
        broken = broken_hosts({h: c for h, c in outcome.hosts.items()})
        outcome.reason = (
            f"failed on {', '.join(broken)}"
            if broken
            else f"ansible-playbook exited {proc.returncode}; see {log}"
        )
    changed = sum(1 for r in outcome.hosts.values() if r["status"] == "changed")
    progress.event(
        f"{outcome.status:<9} {outcome.name} in {outcome.duration:.0f} s: "
        f"{len(outcome.hosts)} hosts, {changed} changed"
        + (f"; {outcome.reason}" if outcome.reason else "")
    )


def terminate(proc: subprocess.Popen) -> None:
    """Stop ansible-playbook and everything it started: TERM, then KILL."""
    for sig, grace in ((signal.SIGTERM, KILL_GRACE_SECONDS), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


def blocked_by(
    schedule: Schedule, name: str, outcomes: dict[str, Outcome]
) -> tuple[str, list[str]]:
    """Why a playbook cannot run at all ('' if it can), and hosts it must skip."""
    excluded: set[str] = set()
    for dep in schedule.playbooks[name].depends_on:
        if dep not in outcomes:  # not selected in this run (other owner, --only)
            continue
        result = outcomes[dep]
        if result.status in ("timed_out", "skipped") or (
            result.status == "failed" and not result.failed_hosts
        ):
            return f"{dep} {result.status.replace('_', ' ')}", []
        excluded |= set(result.failed_hosts) | set(result.excluded_hosts)
    return "", sorted(excluded)


def execute(
    schedule: Schedule,
    selected: list[str],
    options: Options,
    progress: Progress,
    outcomes: dict[str, Outcome],
) -> None:
    stop = threading.Event()
    running: dict[Future, str] = {}
    with ThreadPoolExecutor(max_workers=options.jobs) as pool:
        try:
            while True:
                for name in selected:
                    o = outcomes[name]
                    if o.status != "waiting":
                        continue
                    deps = [d for d in schedule.playbooks[name].depends_on if d in outcomes]
                    if any(outcomes[d].status in ("waiting", "running") for d in deps):
                        continue
                    reason, excluded = blocked_by(schedule, name, outcomes)
                    if reason:
                        o.status, o.reason = "skipped", f"dependency {reason}"
                        progress.event(f"skipped   {name}: {o.reason}")
                        continue
                    if len(running) >= options.jobs:
                        break
                    o.excluded_hosts = excluded
                    o.status = "running"
                    running[pool.submit(run_playbook, schedule, o, options, progress, stop)] = name
                if not running:
                    break
                done, _ = wait(running, timeout=1, return_when=FIRST_COMPLETED)
                for future in done:
                    future.result()
                    del running[future]
                progress.tick()
        except KeyboardInterrupt:
            stop.set()
            progress.event("interrupted: stopping the running playbooks")
            raise


def write_atomically(path: Path, text: str) -> None:
    """Write a file that readers see whole or not at all."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)


def rotate(log_dir: Path, keep: int) -> None:
    runs = sorted(p for p in log_dir.iterdir() if p.is_dir() and p.name[:1].isdigit())
    for old in runs[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)


# Per-playbook gauges: name, help text, value of an outcome.
PLAYBOOK_METRICS = (
    ("run_all_playbook_duration_seconds", "Wall time of the playbook in the last run.",
     lambda o: o.duration),
    ("run_all_playbook_success",
     "1 if the playbook succeeded on every host it targets; 0 also when it left out hosts "
     "that failed upstream (status partial).",
     lambda o: int(o.status == "ok")),
    ("run_all_playbook_failed_hosts", "Hosts that failed or were unreachable.",
     lambda o: len(o.failed_hosts)),
    ("run_all_playbook_hosts_left_out",
     "Hosts the playbook targets but ran without, because they failed upstream.",
     lambda o: len(o.hosts_left_out)),
)  # fmt: skip


def write_metrics(path: Path, outcomes: dict[str, Outcome], finished: float) -> None:
    """A Prometheus textfile for node-exporter's textfile collector."""
    lines = []
    for name, help_text, value in PLAYBOOK_METRICS:
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
        lines += [f'{name}{{playbook="{o.name}"}} {value(o)}' for o in outcomes.values()]
    lines += [
        "# HELP run_all_last_run_timestamp_seconds When the last run finished.",
        "# TYPE run_all_last_run_timestamp_seconds gauge",
        f"run_all_last_run_timestamp_seconds {finished:.0f}",
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(path)  # atomic: the collector never reads half a file


def summary(outcomes: dict[str, Outcome]) -> str:
    rows = [
        f"{'playbook':<24} {'status':<10} {'seconds':>8} {'hosts':>6} {'changed':>8} "
        f"{'failed':>7}  notes"
    ]
    for o in outcomes.values():
        changed = sum(1 for r in o.hosts.values() if r["status"] == "changed")
        rows.append(
            f"{o.name:<24} {o.status:<10} {o.duration:>8.1f} {len(o.hosts):>6} "
            f"{changed:>8} {len(o.failed_hosts):>7}  {o.reason}"
        )
    return "\n".join(rows)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="run-all", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--schedule",
        type=Path,
        default=REPO_ROOT / "schedule.yaml",
        help="the schedule file (default: schedule.yaml of this checkout); its playbooks "
        "are playbooks/<name>.yaml beside it, run from its directory",
    )
    parser.add_argument(
        "-i",
        "--inventory",
        action="append",
        default=[],
        help="inventory source, repeatable (default: ansible.cfg's)",
    )
    parser.add_argument("--limit", help="host pattern, as ansible-playbook --limit")
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="PLAYBOOK",
        help="run only these playbooks (repeatable)",
    )
    parser.add_argument(
        "--skip",
        action="append",
        default=[],
        metavar="PLAYBOOK",
        help="do not run these playbooks (repeatable)",
    )
    parser.add_argument(
        "--owner",
        choices=["cron", "all"],
        default="cron",
        help="cron: the playbooks cron owns (default); all: every playbook",
    )
    parser.add_argument("--check", action="store_true", help="pass --check (dry run)")
    parser.add_argument("--diff", action="store_true", help="pass --diff")
    parser.add_argument(
        "--list",
        action="store_true",
        help="print the plan (order, dependencies, timeouts) and exit",
    )
    parser.add_argument(
        "-j", "--jobs", type=int, default=4, help="playbooks run at the same time (default: 4)"
    )
    parser.add_argument(
        "--log-dir",
        type=Path,
        default=Path("/var/log/run-all"),
        help="where run directories go (default: /var/log/run-all)",
    )
    parser.add_argument(
        "--report-file",
        type=Path,
        help="also write the run's report.json to this file (replaced atomically), for a "
        "caller that reads it; nothing is written when no playbook ran (exit 2, 3 or 4)",
    )
    parser.add_argument(
        "--keep-runs",
        type=int,
        default=100,
        help="run directories kept; older ones are deleted (default: 100)",
    )
    parser.add_argument(
        "--lock-file",
        type=Path,
        default=Path("/run/run-all.lock"),
        help="lock against overlapping runs (default: /run/run-all.lock)",
    )
    parser.add_argument(
        "--stop-file",
        type=Path,
        default=Path("/etc/system-config/emergency-stop"),
        help="if anything is at this path, do nothing and print why: a file's content, "
        "or what else is there (default: /etc/system-config/emergency-stop)",
    )
    parser.add_argument(
        "--metrics-file",
        type=Path,
        default=Path("/var/lib/prometheus/node-exporter/run_all.prom"),
        help="Prometheus textfile written after each run",
    )
    parser.add_argument(
        "--ansible-playbook",
        default="ansible-playbook",
        help="the ansible-playbook command (default: from PATH)",
    )
    return parser.parse_args(argv)


def select(schedule: Schedule, args: argparse.Namespace) -> list[str]:
    unknown = sorted(set(args.only + args.skip) - set(schedule.playbooks))
    if unknown:
        raise ScheduleError(
            f"--only/--skip: unknown playbook(s) {', '.join(unknown)}; "
            f"known: {', '.join(sorted(schedule.playbooks))}"
        )
    names = [
        n for n in schedule.order() if args.owner == "all" or schedule.playbooks[n].owner == "cron"
    ]
    if args.only:
        names = [n for n in names if n in args.only]
    return [n for n in names if n not in args.skip]


def print_plan(schedule: Schedule, names: list[str]) -> None:
    print(f"{'playbook':<24} {'owner':<6} {'timeout':>8}  depends on")
    for name in names:
        p = schedule.playbooks[name]
        print(f"{name:<24} {p.owner:<6} {p.timeout:>8}  {', '.join(p.depends_on) or '-'}")


def command_problem(command: list[str], cwd: Path) -> str | None:
    """Why the ansible-playbook command cannot be started from cwd, or None."""
    if not command:
        return "is empty"
    program = command[0]
    if "/" not in program:
        return None if shutil.which(program) else f"'{program}' is not in PATH"
    # Popen looks a relative path up from its cwd, not from ours.
    path = cwd / program
    if not path.is_file() or not os.access(path, os.X_OK):
        return f"'{program}' is not an executable file"
    return None


def make_run_dir(log_dir: Path) -> tuple[str, Path]:
    """A new run directory under log_dir: its run id and path."""
    run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    run_dir = log_dir / run_id
    run_dir.mkdir(parents=True)
    return run_id, run_dir


def usage_error(message: str) -> ToolError:
    return ToolError(message, Exit.USAGE)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@command("run-all")
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    root = args.schedule.absolute().parent
    try:
        schedule = load_schedule(args.schedule, playbook_dir=root / "playbooks")
        names = select(schedule, args)
    except ScheduleError as exc:
        raise usage_error(str(exc)) from exc
    if args.jobs < 1:
        raise usage_error("--jobs must be at least 1")
    if args.list:
        print_plan(schedule, names)
        return Exit.OK
    if not names:
        raise usage_error("no playbook selected")
    problem = command_problem(args.ansible_playbook.split(), root)
    if problem:
        raise usage_error(f"--ansible-playbook: {problem}")
    if args.report_file:
        folder = args.report_file.absolute().parent
        if not (folder.is_dir() and os.access(folder, os.W_OK | os.X_OK)):
            raise usage_error(
                f"--report-file {args.report_file}: {folder} is not a writable directory"
            )
    stopped = stop_reason(args.stop_file)
    if stopped:
        raise ToolError(f"emergency stop: {stopped}", Exit.STOPPED)
    # cron, systemd and `kill` stop us with SIGTERM: stop the playbooks too,
    # and still write the report, as for Ctrl-C.
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)
    lock = Lock(args.lock_file)
    try:
        holder = lock.acquire()
    except OSError as exc:
        raise usage_error(f"--lock-file {args.lock_file}: {exc.strerror or exc}") from exc
    if holder:
        raise ToolError(f"another run holds {args.lock_file} ({holder}); exiting", Exit.BUSY)
    try:
        try:
            run_id, run_dir = make_run_dir(args.log_dir)
        except OSError as exc:
            raise usage_error(
                f"--log-dir {args.log_dir}: cannot write a run directory there "
                f"({exc.strerror or exc})"
            ) from exc
        options = Options(
            ansible_playbook=args.ansible_playbook.split(),
            root=root,
            lock_fd=lock.fileno(),
            inventories=args.inventory,
            limit=args.limit,
            check=args.check,
            diff=args.diff,
            jobs=args.jobs,
            run_dir=run_dir,
        )
        return run(schedule, names, args, options, run_id)
    finally:
        lock.release()


def run(
    schedule: Schedule,
    names: list[str],
    args: argparse.Namespace,
    options: Options,
    run_id: str,
) -> int:
    run_dir = options.run_dir
    outcomes = {n: Outcome(n) for n in names}
    progress = Progress(outcomes)
    started = time.time()
    progress.event(
        f"run {run_id}: {len(names)} playbooks, {args.jobs} at a time; logs in {run_dir}"
    )
    interrupted = False
    try:
        execute(schedule, names, options, progress, outcomes)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        progress.close()
    for outcome in outcomes.values():
        if outcome.status == "waiting":
            outcome.status, outcome.reason = "not_run", "the run was interrupted"
    finished = time.time()
    ok = all(o.status == "ok" for o in outcomes.values()) and not interrupted
    code = Exit.INTERRUPTED if interrupted else Exit.OK if ok else Exit.FAILED
    report = {
        "run_id": run_id,
        "started": datetime.fromtimestamp(started, UTC).isoformat(timespec="seconds"),
        "duration": round(finished - started, 2),
        "exit_code": int(code),
        "check": args.check,
        "limit": args.limit,
        "playbooks": [asdict(o) for o in outcomes.values()],
    }
    text = json.dumps(report, indent=2) + "\n"
    (run_dir / "report.json").write_text(text)
    if args.report_file:
        write_atomically(args.report_file, text)
    rotate(args.log_dir, args.keep_runs)
    try:
        write_metrics(args.metrics_file, outcomes, finished)
    except OSError as exc:
        print(f"run-all: warning: cannot write metrics {args.metrics_file}: {exc}", file=sys.stderr)
    print(summary(outcomes))
    failed_hosts = sorted({h for o in outcomes.values() for h in o.failed_hosts})
    print(
        f"run {run_id}: {'OK' if ok else 'FAILED'} in {finished - started:.0f} s"
        + (f"; failed or unreachable hosts: {', '.join(failed_hosts)}" if failed_hosts else "")
        + f"; report: {run_dir / 'report.json'}"
    )
    return code


if __name__ == "__main__":
    sys.exit(main())
