"""The production job playbooks of playbooks/zuul/, run for real.

ansible-playbook runs them as a Zuul executor would, with `zuul` variables
pointing into a temporary directory and bridge played by this machine
(connection local). run-all is the real one, from a copy of tools/; the
production playbook it starts is tests/unit/fake_ansible_playbook.py, so
nothing is deployed. The checks: the job succeeds and keeps run-all's
report; it waits while another run holds the lock; it stops at the
emergency stop and says why; the bootstrap job moves the checkout to the
prepared commit, and leaves it alone during an emergency stop.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sctools import REPO_ROOT

ANSIBLE_PLAYBOOK = Path(sys.executable).with_name("ansible-playbook")
FAKE = Path(__file__).with_name("fake_ansible_playbook.py")
SRC_DIR = "src/opendev.example.org/opendev/system-config"


def executable(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args],
        cwd=cwd, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip


class Bridge:
    """A temporary bridge: checkout, venv, logs, lock and stop files."""

    def __init__(self, base: Path, plan: dict):
        self.base = base
        self.checkout = base / "checkout"
        shutil.copytree(
            REPO_ROOT / "tools" / "sctools",
            self.checkout / "tools" / "sctools",
            ignore=shutil.ignore_patterns("__pycache__"),
        )
        (self.checkout / "schedule.yaml").write_text(
            "playbooks:\n  demo: {depends_on: [], timeout: 60, owner: zuul}\n"
        )
        (self.checkout / "playbooks").mkdir()
        (self.checkout / "playbooks" / "demo.yaml").write_text("[]\n")  # the fake never reads it
        venv = base / "venv" / "bin"
        executable(venv / "python", f'#!/bin/sh\nexec {sys.executable} "$@"\n')
        executable(venv / "ansible-playbook", f'#!/bin/sh\nexec {sys.executable} {FAKE} "$@"\n')
        (base / "plan.json").write_text(json.dumps({"playbooks/demo.yaml": plan}))
        self.lock = base / "run-all.lock"
        self.stop = base / "emergency-stop"
        self.log_root = base / "zuul-logs"
        self.log_root.mkdir()
        self.work_root = base / "work"
        # The job's HOME, where Zuul keeps the known_hosts its ssh reads.
        self.home = base / "home"
        (self.home / ".ssh").mkdir(parents=True)
        (self.home / ".ssh" / "known_hosts").touch()
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(base / "host_key")],
            check=True,
        )
        self.host_key = " ".join((base / "host_key.pub").read_text().split()[:2])
        self.vars = {
            "infra_prod_bridge_host": "bridge-under-test",
            "infra_prod_bridge_host_key": self.host_key,
            "infra_prod_bridge_user": "root",
            "infra_prod_checkout": str(self.checkout),
            "infra_prod_venv": str(base / "venv"),
            "infra_prod_ssh_key": str(base / "id_ed25519"),
            "infra_prod_inventories": [str(base / "hosts.yaml")],
            "infra_prod_log_dir": str(base / "run-all-logs"),
            "infra_prod_lock_file": str(self.lock),
            "infra_prod_stop_file": str(self.stop),
            "infra_prod_lock_wait": 60,  # released at the first retry
            "infra_prod_lock_poll": 1,
            "infra_prod_state_dir": str(base / "state"),
            "infra_prod_playbook": "demo",
            "zuul": {
                "executor": {"log_root": str(self.log_root), "work_root": str(self.work_root)},
                "project": {"src_dir": SRC_DIR},
            },
            "ansible_connection": "local",
            "ansible_python_interpreter": sys.executable,
        }

    def command(self, playbook: str) -> list[str]:
        extra = self.base / "vars.json"
        extra.write_text(json.dumps(self.vars))
        executor = self.base / "executor.yaml"  # the executor's inventory: localhost only
        executor.write_text("all:\n  hosts:\n    localhost: {}\n")
        return [str(ANSIBLE_PLAYBOOK), "-i", str(executor), f"playbooks/zuul/{playbook}",
                "-e", f"@{extra}"]  # fmt: skip

    def env(self) -> dict[str, str]:
        return {**os.environ, "FAKE_PLAN": str(self.base / "plan.json"),
                "FAKE_CALLS": str(self.base / "calls.jsonl"), "ANSIBLE_NOCOLOR": "1",
                "HOME": str(self.home)}  # fmt: skip

    def run(self, playbook: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            self.command(playbook), cwd=REPO_ROOT, capture_output=True, text=True,
            timeout=180, env=self.env(),
        )  # fmt: skip

    def run_until(self, playbook: str, marker: str, action) -> subprocess.CompletedProcess:
        """Run, calling action() once when a line of output contains marker."""
        lines = []
        with subprocess.Popen(
            self.command(playbook), cwd=REPO_ROOT, stdout=subprocess.PIPE,
            # Ansible leaves flushing to the system: unbuffered, or a pipe
            # holds the marker back until kilobytes of output follow it.
            stderr=subprocess.STDOUT, text=True, env={**self.env(), "PYTHONUNBUFFERED": "1"},
        ) as proc:  # fmt: skip
            for line in proc.stdout:
                lines.append(line)
                if action and marker in line:
                    action()
                    action = None
        return subprocess.CompletedProcess(proc.args, proc.returncode, "".join(lines), "")

    def calls(self) -> list[dict]:
        path = self.base / "calls.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def output(result: subprocess.CompletedProcess) -> str:
    return result.stdout + result.stderr


def test_the_job_runs_the_playbook_through_run_all_and_keeps_its_report(tmp_path):
    bridge = Bridge(tmp_path, {"hosts": {"zuul01": "changed"}})
    result = bridge.run("run-production-playbook.yaml")
    assert result.returncode == 0, output(result)
    [call] = bridge.calls()
    assert call["argv"] == ["-i", str(tmp_path / "hosts.yaml"), "playbooks/demo.yaml"]
    report = json.loads((bridge.log_root / "run-all-report.json").read_text())
    assert report["playbooks"][0]["hosts"]["zuul01"]["status"] == "changed"
    # The playbook's own output stays on bridge: only run-all's summary is shown.
    assert "PLAY [playbooks/demo.yaml]" not in output(result)
    [log] = (tmp_path / "run-all-logs").glob("*/demo.log")
    assert "PLAY [playbooks/demo.yaml]" in log.read_text()
    assert "demo" in output(result) and "OK" in output(result)


def test_the_job_trusts_bridges_host_key_from_the_site_variables(tmp_path):
    bridge = Bridge(tmp_path, {"hosts": {"zuul01": "ok"}})
    result = bridge.run("run-production-playbook.yaml")
    assert result.returncode == 0, output(result)
    known = (bridge.home / ".ssh" / "known_hosts").read_text().split()
    assert known == ["bridge-under-test", *bridge.host_key.split()]


def test_the_job_refuses_to_start_without_bridges_host_key(tmp_path):
    bridge = Bridge(tmp_path, {"hosts": {"zuul01": "ok"}})
    del bridge.vars["infra_prod_bridge_host_key"]
    result = bridge.run("run-production-playbook.yaml")
    assert result.returncode != 0
    assert "infra_prod_bridge_host_key is not set" in output(result)
    assert bridge.calls() == []


def test_a_failed_playbook_fails_the_job_and_still_keeps_the_report(tmp_path):
    bridge = Bridge(tmp_path, {"hosts": {"zuul01": "failed"}})
    result = bridge.run("run-production-playbook.yaml")
    assert result.returncode != 0
    assert "run-all exited 1: the playbook failed" in output(result)
    assert (bridge.log_root / "run-all-report.json").is_file()


def test_the_job_waits_while_another_run_holds_the_lock(tmp_path):
    bridge = Bridge(tmp_path, {})
    holder = bridge.lock.open("a+")
    fcntl.flock(holder, fcntl.LOCK_EX)
    # Released once the job says it is waiting (closing the file drops the
    # lock): a condition, not a number of seconds.
    try:
        result = bridge.run_until("run-production-playbook.yaml", "RETRYING", holder.close)
    finally:
        holder.close()
    assert result.returncode == 0, output(result)
    assert "RETRYING" in output(result)
    assert len(bridge.calls()) == 1


def test_the_job_gives_up_when_the_lock_is_never_released(tmp_path):
    bridge = Bridge(tmp_path, {})
    bridge.vars["infra_prod_lock_wait"] = 2
    with bridge.lock.open("a+") as holder:
        fcntl.flock(holder, fcntl.LOCK_EX)
        result = bridge.run("run-production-playbook.yaml")
    assert result.returncode != 0
    assert "another run still held the lock after 2 s" in output(result)
    assert bridge.calls() == []


def test_the_job_stops_at_the_emergency_stop_and_says_why(tmp_path):
    bridge = Bridge(tmp_path, {})
    bridge.stop.write_text("mirror migration, alice\n")
    result = bridge.run("run-production-playbook.yaml")
    assert result.returncode != 0
    assert "emergency stop" in output(result)
    assert "mirror migration, alice" in output(result)
    assert bridge.calls() == []


@pytest.fixture
def prepared(tmp_path):
    """An executor work root whose prepared repository is one commit ahead of bridge."""
    bridge = Bridge(tmp_path, {})
    src = bridge.work_root / SRC_DIR
    src.mkdir(parents=True)
    git(src, "init", "--quiet", "--initial-branch", "main")
    (src / "README.md").write_text("one\n")
    git(src, "add", "README.md")
    git(src, "commit", "--quiet", "-m", "one")
    shutil.rmtree(bridge.checkout)
    git(tmp_path, "clone", "--quiet", str(src), str(bridge.checkout))
    (src / "README.md").write_text("two\n")
    git(src, "commit", "--quiet", "-am", "two, the merged change")
    return bridge, git(src, "rev-parse", "HEAD"), git(bridge.checkout, "rev-parse", "HEAD")


def test_bootstrap_moves_bridges_checkout_to_the_prepared_commit(prepared):
    bridge, new, old = prepared
    assert new != old
    result = bridge.run("bootstrap-bridge.yaml")
    assert result.returncode == 0, output(result)
    assert git(bridge.checkout, "rev-parse", "HEAD") == new
    assert (bridge.checkout / "README.md").read_text() == "two\n"


def test_bootstrap_leaves_the_checkout_alone_during_an_emergency_stop(prepared):
    bridge, _, old = prepared
    bridge.stop.write_text("investigating, bob\n")
    result = bridge.run("bootstrap-bridge.yaml")
    assert result.returncode != 0
    assert "investigating, bob" in output(result)
    assert git(bridge.checkout, "rev-parse", "HEAD") == old


def make_stop(bridge: Bridge, kind: str) -> None:
    """Something other than a readable file at the stop path."""
    if kind == "dangling symlink":
        bridge.stop.symlink_to(bridge.base / "nowhere")
    else:
        bridge.stop.mkdir()


# Anything at the stop path is a stop (it fails closed), and the job says what is there.
@pytest.mark.parametrize("kind", ["dangling symlink", "directory"])
def test_the_job_stops_at_anything_at_the_stop_path(tmp_path, kind):
    bridge = Bridge(tmp_path, {})
    make_stop(bridge, kind)
    result = bridge.run("run-production-playbook.yaml")
    assert result.returncode != 0
    assert "emergency stop" in output(result)
    assert f"is a {kind}" in output(result)
    assert bridge.calls() == []


@pytest.mark.parametrize("kind", ["dangling symlink", "directory"])
def test_bootstrap_stops_at_anything_at_the_stop_path(prepared, kind):
    bridge, _, old = prepared
    make_stop(bridge, kind)
    result = bridge.run("bootstrap-bridge.yaml")
    assert result.returncode != 0
    assert f"Emergency stop: {bridge.stop} is a {kind}" in output(result)
    assert git(bridge.checkout, "rev-parse", "HEAD") == old
