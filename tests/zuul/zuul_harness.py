"""Real Zuul for the zuul.d tests: ZooKeeper with TLS, a merger, a tenant.

The pieces; conftest.py makes session fixtures of them.

Zuul refuses plain ZooKeeper, so the session starts Debian's ZooKeeper
(zookeeperd) with TLS only: a throwaway CA and certificates made with
openssl, the secure client port on a free loopback port, Netty's connection
factory and PEM key and trust stores. (Debian's zookeeper.jar forgets
netty-codec and netty-resolver in its class path; they are added here.)

The repository under test is a git repository in a temporary directory,
served by Zuul's `git` driver (baseurl=file://...) as opendev/system-config,
a config project of the single tenant `opendev` with `load-branch: main`:
without it Zuul reads only `master` and, finding nothing, validates an
empty configuration. The merger reads committed history, so each
configuration under test is committed first (ConfigRepo.commit).

Pipelines trigger on a `gerrit` connection, as in production; no Gerrit is
needed, since validation never starts connections. Every process runs
under `timeout` and is stopped by its pid at the end of the session.

FleetZuul is the local fleet's system-config tenant
(tests/standins/zuul-cd-tenant.yaml, read as it is): there `gerrit` is a git
driver serving every config project of that file from `master`, the stand-in
git server's branch; opendev/system-config is the repository under test and
the others hold their seed trees (tests/standins/git/<project>). It has a
merger of its own under a ZooKeeper chroot of its own: a merger takes any
merge job in its ZooKeeper, and the production tenant's merger would read
`gerrit` as a Gerrit.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from sctools import REPO_ROOT

ZUUL_BIN = Path(sys.executable).parent
PROJECT = "opendev/system-config"
BRANCH = "main"
ZOOKEEPER_CLASSPATH = [
    "/usr/share/java/zookeeper.jar",
    "/usr/share/java/netty-codec.jar",
    "/usr/share/java/netty-resolver.jar",
]
FREEZE_VALIDATE = Path(__file__).with_name("freeze_validate.py")
FLEET_TENANT_FILE = REPO_ROOT / "tests/standins/zuul-cd-tenant.yaml"
FLEET_SEEDS = REPO_ROOT / "tests/standins/git"
# The branch the stand-in git server creates (namespaces' default-branch)
# and a tenant without load-branch reads.
FLEET_BRANCH = "master"
TENANT = [
    {
        "tenant": {
            "name": "opendev",
            "source": {
                "git": {"config-projects": [{PROJECT: {"load-branch": BRANCH}}]},
            },
        }
    }
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_certificates(directory: Path) -> None:
    """A CA, a server certificate for 127.0.0.1 and a client certificate."""
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out",
            "ca.pem", "-days", "2", "-subj", "/CN=test CA", cwd=directory)  # fmt: skip
    (directory / "server.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    for name, extra in (("server", ["-extfile", "server.ext"]), ("client", [])):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key",
                "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=directory)  # fmt: skip
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", f"{name}.crt", "-days", "2", *extra,
                cwd=directory)  # fmt: skip
    (directory / "server.pem").write_text(
        (directory / "server.key").read_text() + (directory / "server.crt").read_text()
    )


def wait_for_tls(port: int, certs: Path, process: subprocess.Popen, log: Path) -> None:
    context = ssl.create_default_context(cafile=str(certs / "ca.pem"))
    context.load_cert_chain(str(certs / "client.crt"), str(certs / "client.key"))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"ZooKeeper exited {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with (
                socket.create_connection(("127.0.0.1", port), timeout=2) as raw,
                context.wrap_socket(raw, server_hostname="127.0.0.1"),
            ):
                return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"ZooKeeper did not accept TLS on 127.0.0.1:{port}:\n{log.read_text()[-3000:]}")


def start(argv: list[str], log: Path) -> subprocess.Popen:
    """Start a server in a process group of its own, under `timeout`."""
    with log.open("w") as out:
        return subprocess.Popen(
            ["timeout", "1800", *argv],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip


def stop(process: subprocess.Popen) -> None:
    """TERM the server's process group; KILL what is left of it after 10 s."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        process.poll()  # reap `timeout` itself
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


@dataclass
class Zookeeper:
    port: int
    certs: Path

    def hosts(self, chroot: str = "") -> str:
        """zuul.conf's hosts, under chroot if given (created here, empty)."""
        if chroot:
            from kazoo.client import KazooClient  # Zuul's client, in the zuul venv

            client = KazooClient(
                hosts=f"127.0.0.1:{self.port}", use_ssl=True, ca=str(self.certs / "ca.pem"),
                certfile=str(self.certs / "client.crt"), keyfile=str(self.certs / "client.key"),
            )  # fmt: skip
            client.start(timeout=30)
            try:
                client.ensure_path(chroot)
            finally:
                client.stop()
                client.close()
        return f"127.0.0.1:{self.port}{chroot}"


@contextlib.contextmanager
def running_zookeeper(base: Path):
    if not shutil.which("java") or not Path(ZOOKEEPER_CLASSPATH[0]).is_file():
        pytest.fail("ZooKeeper is missing: tools/prepare-host.sh installs zookeeperd")
    certs = base / "certs"
    certs.mkdir()
    make_certificates(certs)
    port = free_port()
    (base / "data").mkdir()
    (base / "zoo.cfg").write_text(
        f"tickTime=2000\ndataDir={base / 'data'}\n"
        f"secureClientPort={port}\nsecureClientPortAddress=127.0.0.1\n"
        "serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory\n"
        f"ssl.keyStore.location={certs / 'server.pem'}\nssl.keyStore.type=PEM\n"
        f"ssl.trustStore.location={certs / 'ca.pem'}\nssl.trustStore.type=PEM\n"
        "admin.enableServer=false\n"
    )
    log = base / "zookeeper.log"
    process = start(
        ["java", "-Xmx256m", "-cp", ":".join(ZOOKEEPER_CLASSPATH),
         "org.apache.zookeeper.server.ZooKeeperServerMain", str(base / "zoo.cfg")],
        log,
    )  # fmt: skip
    try:
        wait_for_tls(port, certs, process, log)
        yield Zookeeper(port=port, certs=certs)
    finally:
        stop(process)


class ConfigRepo:
    """A git repository Zuul loads a config project from."""

    def __init__(self, path: Path, branch: str = BRANCH):
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        self.git("init", "--quiet", "--initial-branch", branch)

    def git(self, *args: str) -> str:
        result = subprocess.run(
            ["git", "-c", "user.name=test", "-c", "user.email=test@example.org", *args],
            cwd=self.path, capture_output=True, text=True, check=True, timeout=60,
        )  # fmt: skip
        return result.stdout

    def commit(self, files: dict[str, str], message: str) -> None:
        """Make the tree exactly these files (path -> text) and commit it."""
        self.git("rm", "-r", "--quiet", "--ignore-unmatch", ".")
        for rel, text in files.items():
            target = self.path / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        self.git("add", "--all")
        self.git("commit", "--quiet", "--allow-empty", "-m", message)


@dataclass
class Validation:
    returncode: int
    output: str
    graphs: list
    warnings: list
    pipelines: list
    pushes: list

    def graph(self, pipeline: str) -> dict[str, list]:
        """job name -> its dependencies, in one pipeline for our project."""
        for graph in self.graphs:
            if graph["pipeline"] == pipeline and graph["project"] == PROJECT:
                return {job["name"]: job["dependencies"] for job in graph["jobs"]}
        raise AssertionError(f"no frozen graph for pipeline {pipeline}:\n{self.output[-4000:]}")


class ZuulInstance:
    """zuul.conf, a running merger, and the two checks: tenant file and config."""

    def __init__(
        self, base: Path, zk: Zookeeper, zk_hosts: str, tenant_file: Path, connections: str
    ):
        self.base = base
        self.tenant_file = tenant_file
        state = base / "state"
        state.mkdir()
        self.conf = base / "zuul.conf"
        self.conf.write_text(
            f"[zookeeper]\nhosts={zk_hosts}\n"
            f"tls_cert={zk.certs / 'client.crt'}\ntls_key={zk.certs / 'client.key'}\n"
            f"tls_ca={zk.certs / 'ca.pem'}\n\n"
            "[keystore]\npassword=throwaway-test-keystore-password\n\n"
            f"[database]\ndburi=sqlite:///{state / 'zuul.db'}\n\n"
            f"[scheduler]\ntenant_config={tenant_file}\nstate_dir={state}\n"
            f"command_socket={state / 'scheduler.socket'}\npidfile={state / 'scheduler.pid'}\n\n"
            f"[merger]\ngit_dir={state / 'merger-git'}\n"
            f"command_socket={state / 'merger.socket'}\npidfile={state / 'merger.pid'}\n"
            "git_user_email=zuul@example.org\ngit_user_name=zuul\n\n"
            f"[web]\ncommand_socket={state / 'web.socket'}\n\n"
            f"{connections}"
        )
        self.merger_log = base / "merger.log"
        self.merger = start(
            [str(ZUUL_BIN / "zuul-merger"), "-c", str(self.conf), "-f"], self.merger_log
        )

    def conf_for(self, tenant_file: Path | None) -> Path:
        """zuul.conf, or a copy of it that reads another tenant file."""
        if tenant_file is None:
            return self.conf
        conf = self.base / "zuul-other-tenant.conf"
        conf.write_text(
            self.conf.read_text().replace(
                f"tenant_config={self.tenant_file}", f"tenant_config={tenant_file}"
            )
        )
        return conf

    def tenant_conf_check(self, tenant_file: Path | None = None) -> tuple[int, str]:
        conf = self.conf_for(tenant_file)
        result = subprocess.run(
            ["timeout", "120", str(ZUUL_BIN / "zuul-admin"), "-c", str(conf), "tenant-conf-check"],
            capture_output=True, text=True,
            env=dict(os.environ, PATH=f"{ZUUL_BIN}:{os.environ['PATH']}"),
        )  # fmt: skip
        return result.returncode, result.stdout + result.stderr

    def check_merger(self) -> None:
        if self.merger.poll() is not None:
            pytest.fail(f"zuul-merger exited:\n{self.merger_log.read_text()[-3000:]}")

    def load_and_freeze(self, conf: Path, pushes: list[dict] | None = None) -> Validation:
        """Load the committed configuration and freeze its job graphs."""
        graphs_file = self.base / "graphs.json"
        graphs_file.unlink(missing_ok=True)
        result = subprocess.run(
            ["timeout", "180", sys.executable, str(FREEZE_VALIDATE), "-c", str(conf), "-f",
             "--validate-tenants"],
            capture_output=True, text=True,
            env=dict(os.environ, FREEZE_OUTPUT=str(graphs_file),
                     FREEZE_PUSHES=json.dumps(pushes or []),
                     PATH=f"{ZUUL_BIN}:{os.environ['PATH']}"),
        )  # fmt: skip
        output = result.stdout + result.stderr
        if result.returncode == 124:
            pytest.fail(f"validation timed out:\n{output[-3000:]}")
        frozen = yaml.safe_load(graphs_file.read_text()) if graphs_file.is_file() else {}
        return Validation(
            result.returncode,
            output,
            frozen.get("graphs", []),
            frozen.get("warnings", []),
            frozen.get("pipelines", []),
            frozen.get("pushes", []),
        )

    def close(self) -> None:
        stop(self.merger)


class Zuul(ZuulInstance):
    """The production tenant: this repository as opendev's config project."""

    def __init__(self, base: Path, zk: Zookeeper):
        repos = base / "repos"
        self.repo = ConfigRepo(repos / PROJECT)
        tenant_file = base / "main.yaml"
        tenant_file.write_text(yaml.safe_dump(TENANT, sort_keys=False))
        super().__init__(
            base, zk, zk.hosts(), tenant_file,
            f'[connection "git"]\ndriver=git\nbaseurl=file://{repos}\n\n'
            '[connection "gerrit"]\ndriver=gerrit\nserver=review.opendev.example.org\n'
            f"user=zuul\nsshkey={zk.certs / 'client.key'}\n",
        )  # fmt: skip

    def validate(self, files: dict[str, str], message: str) -> Validation:
        """Commit files as the whole repository, then load and freeze it."""
        self.check_merger()
        self.repo.commit(files, message)
        return self.load_and_freeze(self.conf)


def config_projects(tenant_file: Path) -> list[str]:
    """The config projects of every tenant of a tenant file, by name."""
    names = []
    for item in yaml.safe_load(tenant_file.read_text()):
        for source in item["tenant"]["source"].values():
            for project in source.get("config-projects", []):
                names += [project] if isinstance(project, str) else list(project)
    return names


def seed_tree(project: str) -> dict[str, str]:
    """The files the stand-in git server seeds a project with."""
    root = FLEET_SEEDS / project
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


class FleetZuul(ZuulInstance):
    """The local fleet's system-config tenant (see the module's docstring)."""

    def __init__(self, base: Path, zk: Zookeeper):
        repos = base / "repos"
        self.repos = {
            name: ConfigRepo(repos / name, FLEET_BRANCH)
            for name in config_projects(FLEET_TENANT_FILE)
        }
        super().__init__(
            base, zk, zk.hosts("/fleet-cd"), FLEET_TENANT_FILE,
            f'[connection "gerrit"]\ndriver=git\nbaseurl=file://{repos}\n',
        )  # fmt: skip

    def validate(
        self,
        files: dict[str, str],
        message: str,
        *,
        seed: Callable[[str], dict[str, str]] = seed_tree,
        tenant_file: Path | None = None,
        pushes: list[dict] | None = None,
    ) -> Validation:
        """Commit files as opendev/system-config and seed(project) as each
        other project, then load the tenant file (or another) and freeze."""
        self.check_merger()
        for name, repo in self.repos.items():
            repo.commit(files if name == PROJECT else seed(name), message)
        return self.load_and_freeze(self.conf_for(tenant_file), pushes)


def repository_files() -> dict[str, str]:
    """What Zuul reads of this checkout: zuul.d/ and the job playbooks."""
    files = {}
    for pattern in ("zuul.d/*.yaml", "playbooks/zuul/*.yaml"):
        for path in sorted(REPO_ROOT.glob(pattern)):
            files[str(path.relative_to(REPO_ROOT))] = path.read_text()
    return files
