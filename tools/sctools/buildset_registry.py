"""The buildset registry of molecule scenarios: one Docker registry on this machine.

Scenarios whose instance runs a dockerd (tests/molecule/docker_host.yml)
pull this checkout's images from it, as a Zuul job's nodes pull a change's
images from its buildset registry. molecule-all starts one for its whole
run, pushes the images the selected scenarios need once, and stops it at
the end; a scenario run by hand starts the default one, which keeps running
for the next (stop it with `stop`).

The registry is Debian's docker-registry, run as a process of this machine,
over TLS with a certificate from a throwaway CA made for it. It listens on
the gateway address of its own docker network (NETWORK, SUBNET below; the
network has no containers): an address of this machine that instances on
any other docker network reach through their own gateway, which the
instances' nested dockerd does not shadow (it takes 172.17.0.1 for its own
bridge) and which is not reachable from outside the machine. An instance
trusts it by the CA in /etc/docker/certs.d/<address>/ca.crt.

Commands:
  ensure [--image NAME]...  start the registry unless it runs (idempotent),
                            build the images named unless they exist and
                            push them unless the registry has them; prints
                            one JSON object: registry (HOST:PORT), ca_file,
                            image_prefix, image_tag (the Zuul images'),
                            image_tags (image -> tag, every image),
                            started, pushed
  stop                      stop the registry and remove its data (and the
                            network, when no other registry uses it)

Which registry: the state directory $SC_BUILDSET_REGISTRY (molecule-all
sets it for its run), else STATE_ROOT/default. Progress of builds and
pushes goes to stderr.

Exit codes: 0 success; 1 the registry or a build or push failed; 2 bad usage.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from sctools import docker_cli, images
from sctools.cli import Exit, ToolError, command
from sctools.processes import alive
from sctools.registry import tls_context

# Machine-wide, so that every checkout and run sees every registry (they
# share the network); on disk, since a registry holds gigabytes.
STATE_ROOT = Path("/var/tmp/sc-buildset-registry")
ENV_DIR = "SC_BUILDSET_REGISTRY"
NETWORK = "sc-buildset-registry"
# Beside the local fleet's 172.30.42.0/24. Docker numbers networks itself
# from 172.17.0.0/16 up: a nested dockerd would reach 172.30.0.0/16 (and
# hide this address from its instance) only at its 14th network.
SUBNET = "172.30.43.0/24"
LABEL = "system-config.buildset-registry"
START_TIMEOUT = 60


class BuildsetRegistryError(ToolError):
    """The registry cannot be set up (exit 1); reported without a traceback."""


@dataclass(frozen=True)
class Running:
    """A registry that answers: its state directory and address."""

    directory: Path
    address: str  # HOST:PORT
    pid: int

    @property
    def url(self) -> str:
        return f"https://{self.address}"

    @property
    def ca_file(self) -> Path:
        return self.directory / "ca.pem"


def gateway(subnet: str = SUBNET) -> str:
    """The network's first address: docker gives it to this machine."""
    return str(next(ipaddress.ip_network(subnet).hosts()))


def registry_config(directory: Path, address: str) -> str:
    """docker-registry's configuration: no logins, TLS, storage in directory."""
    return json.dumps(
        {
            "version": "0.1",
            "log": {"level": "warn"},
            "storage": {"filesystem": {"rootdirectory": str(directory / "data")}},
            "http": {
                "addr": address,
                "tls": {
                    "certificate": str(directory / "cert.pem"),
                    "key": str(directory / "key.pem"),
                },
            },
        },
        indent=2,
    )


def default_directory() -> Path:
    return Path(os.environ.get(ENV_DIR) or STATE_ROOT / "default")


# -- processes and state -----------------------------------------------------


def read_state(directory: Path) -> dict:
    try:
        return json.loads((directory / "state.json").read_text())
    except (OSError, ValueError):
        return {}


def registry_pid(directory: Path) -> int | None:
    """The pid of this directory's docker-registry, if that process still runs it."""
    pid = read_state(directory).get("pid")
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, TypeError):
        return None
    # A pid can be reused: it must be our registry serving our config.
    return pid if str(directory / "config.yml").encode() in cmdline else None


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_network() -> None:
    network = docker_cli.inspect("network", NETWORK)
    if network is not None:
        subnets = {c["Subnet"] for c in network["IPAM"]["Config"] or []}
        if subnets != {SUBNET}:
            raise BuildsetRegistryError(
                f"docker network {NETWORK} has subnets {sorted(subnets)}, expected {SUBNET}; "
                f"remove it (`docker network rm {NETWORK}`)"
            )
        return
    proc = docker_cli.run(
        "network", "create", "--subnet", SUBNET, "--label", f"{LABEL}=1", NETWORK, check=False
    )
    if proc.returncode != 0:
        raise BuildsetRegistryError(f"docker network create {NETWORK}: {proc.stderr.strip()}")


def make_tls(directory: Path, address: str) -> None:
    """A throwaway CA and the registry's certificate for address, with openssl."""
    (directory / "cert.ext").write_text(
        f"subjectAltName=IP:{address}\nextendedKeyUsage=serverAuth\n"
        "basicConstraints=critical,CA:FALSE\n"
    )
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    for argv in (
        ["req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "30",
         "-subj", "/CN=system-config buildset registry CA",
         "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
        ["req", *ec, "-keyout", "key.pem", "-out", "cert.csr", "-subj", "/CN=buildset-registry"],
        ["x509", "-req", "-in", "cert.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
         "-CAcreateserial", "-days", "30", "-extfile", "cert.ext", "-out", "cert.pem"],
    ):  # fmt: skip
        proc = subprocess.run(
            ["openssl", *argv], cwd=directory, capture_output=True, text=True, check=False
        )
        if proc.returncode != 0:
            raise BuildsetRegistryError(f"openssl {argv[0]}: {proc.stderr.strip()[-500:]}")


def free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def answers(url: str, ca_file: Path) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/v2/", timeout=5, context=tls_context(str(ca_file))):
            return True
    except OSError:
        return False


def running(directory: Path) -> Running | None:
    """The registry of directory, if its process runs and it answers."""
    pid = registry_pid(directory)
    address = read_state(directory).get("address")
    if pid is None or not address:
        return None
    found = Running(directory, address, pid)
    return found if answers(found.url, found.ca_file) else None


def start(directory: Path, owner: int | None) -> Running:
    """A new registry in directory (emptied first), detached from this process."""
    stop_directory(directory)  # a registry that no longer answers, and its data
    directory.mkdir(parents=True)
    host = gateway()
    address = f"{host}:{free_port(host)}"
    make_tls(directory, host)
    (directory / "config.yml").write_text(registry_config(directory, address))
    with (directory / "registry.log").open("w") as log:
        # Its own session: Ctrl-C in a terminal or the end of the Ansible
        # task that started it does not stop it; `stop` does.
        proc = subprocess.Popen(
            ["docker-registry", "serve", str(directory / "config.yml")],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    state = {"pid": proc.pid, "address": address, "owner": owner}
    (directory / "state.json").write_text(json.dumps(state) + "\n")
    found = Running(directory, address, proc.pid)
    deadline = time.monotonic() + START_TIMEOUT
    while not answers(found.url, found.ca_file):
        if proc.poll() is not None or time.monotonic() > deadline:
            log_tail = (directory / "registry.log").read_text(errors="replace")[-1000:]
            stop_directory(directory)
            raise BuildsetRegistryError(
                f"docker-registry on {address} did not answer within {START_TIMEOUT} s: {log_tail}"
            )
        time.sleep(0.2)
    return found


def stop_directory(directory: Path) -> bool:
    """Stop directory's registry (by its pid) and remove the directory; True if it ran."""
    pid = registry_pid(directory)
    if pid is not None:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if alive(pid):
            os.kill(pid, signal.SIGKILL)
    shutil.rmtree(directory, ignore_errors=True)
    return pid is not None


def reap_orphans(root: Path) -> None:
    """Registries whose owner (a molecule-all run) died without stopping them."""
    for directory in sorted(root.iterdir()) if root.is_dir() else []:
        owner = read_state(directory).get("owner")
        if directory.is_dir() and owner and not alive(owner):
            stop_directory(directory)


def listening_on(host: str, tcp_table: Path = Path("/proc/net/tcp")) -> bool:
    """Whether a socket of this machine listens on host (IPv4), e.g. another registry."""
    wanted = socket.inet_aton(host)[::-1].hex().upper()  # the table's byte order
    for line in tcp_table.read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        if local.split(":")[0] == wanted and state == "0A":  # TCP_LISTEN
            return True
    return False


def ensure(directory: Path, owner: int | None = None) -> tuple[Running, bool]:
    """The registry of directory, started unless it answers; (registry, started)."""
    with locked(STATE_ROOT / "lock"):
        found = running(directory)
        if found is not None:
            return found, False
        reap_orphans(directory.parent)
        ensure_network()
        return start(directory, owner), True


def stop(directory: Path) -> bool:
    """Stop directory's registry; remove the network once no registry listens on it."""
    with locked(STATE_ROOT / "lock"):
        stopped = stop_directory(directory)
        if not listening_on(gateway()):
            docker_cli.remove(network=NETWORK)
    return stopped


# -- images ------------------------------------------------------------------


def image_tags() -> dict[str, str]:
    """image name -> the tag of this checkout's build of it (see sctools.images)."""
    args = images.parser().parse_args(["list"])
    plans = images.plan(args, need_base=False)
    return {name: images.plan_of(plans, name).tag for name in images.IMAGES}


def push(found: Running, names: list[str], out: TextIO) -> int:
    """Build the images unless they exist and push those the registry lacks.

    One at a time per registry (scenarios run by hand may push at once).
    Progress goes to out; returns how many images were sent.
    """
    if not names:
        return 0
    with locked(found.directory / "push.lock"):
        commands = [
            ["build", *(f"--image={name}" for name in names)],
            ["push", "--registry", found.url, "--ca-file", str(found.ca_file),
             *(f"--image={name}" for name in names)],
        ]  # fmt: skip
        pushed = 0
        for argv in commands:
            args = images.parser().parse_args(argv)
            try:
                with images.logging_to(out):
                    if argv[0] == "push":
                        pushed = images.push_images(args)
                    else:
                        args.func(args)
            except ToolError as exc:
                raise BuildsetRegistryError(f"images {argv[0]} failed: {exc}") from exc
            finally:
                out.flush()
    return pushed


def coordinates(found: Running) -> dict:
    """What an instance needs to pull from the registry."""
    tags = image_tags()
    return {
        "registry": found.address,
        "ca_file": str(found.ca_file),
        "image_prefix": f"{found.address}/{images.DEFAULT_PREFIX}",
        # The Zuul images' tag (zuul-*, zookeeper), as before there were
        # other families; image_tags has every image's.
        "image_tag": tags["zuul-scheduler"],
        "image_tags": tags,
    }


# -- command line ------------------------------------------------------------


@command("buildset-registry")
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sctools.buildset_registry",
        description=__doc__.split("\n\n", 1)[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    ensure_cmd = sub.add_parser("ensure", help="start unless running; build and push images")
    ensure_cmd.add_argument(
        "--image",
        action="append",
        default=[],
        choices=images.IMAGES,
        metavar="IMAGE",
        help=f"push this image (repeatable; one of {', '.join(images.IMAGES)})",
    )
    sub.add_parser("stop", help="stop the registry and remove its data")
    args = parser.parse_args(argv)
    directory = default_directory()
    try:
        if args.command == "stop":
            print(f"{'stopped' if stop(directory) else 'not running'}: {directory}")
            return Exit.OK
        found, started = ensure(directory)
        pushed = push(found, sorted(set(args.image)), sys.stderr)
        result = {**coordinates(found), "started": started, "pushed": pushed}
    except OSError as exc:
        raise ToolError(str(exc)) from exc
    json.dump(result, sys.stdout)
    print()
    return Exit.OK


if __name__ == "__main__":
    sys.exit(main())
