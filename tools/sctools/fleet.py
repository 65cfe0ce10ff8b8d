"""The local fleet: one systemd container per host of inventory/local.

Commands:
  up       create the network and the host containers (idempotent), give
           bridge its SSH key and its Ansible venv, and authorise that key
           for root on every host, as on a fresh cloud fleet
  deploy   `up`, then run-all on bridge (every playbook of schedule.yaml,
           reaching the hosts over SSH, as production's cron does), with its
           live progress and summary; says whether the run changed anything
           (a second deploy converges with changed=0). Arguments after
           `deploy` go to run-all, e.g. `fleet deploy --only base --check`.
           (`up` also puts generated fake secrets into bridge's private
           directory, and `deploy` builds this checkout's images while the
           hosts come up, then pushes them to the fleet's buildset
           registry under each family's tag, the tag bridge derives from
           the same checkout: the hosts run exactly the images of this
           working tree)
  merge    act as a contributor whose change merged: commit the working
           tree's state of some paths (or cherry-pick a commit) onto the
           stand-in's master of this repository, then follow Zuul's deploy
           buildset until it reports (sctools/fleet_merge.py)
  status   list the hosts and the state of their containers
  down     remove the host containers and the network

Everything the fleet is made of comes from inventory/local/hosts.yaml:
network name and subnets (fleet_network, fleet_ipv4_subnet,
fleet_ipv6_subnet) and per host public_v4, public_v6, fleet_release and
optional fleet_aliases (more DNS names on the fleet network). Hosts in the
`docker` group (inventory/groups.yaml) get what a nested dockerd needs,
as molecule's .config/molecule/nested-docker.yml defines it.
`up` ends by setting up the stand-ins for the outside world (pebble,
Docker Hub, PyPI) with tests/standins/fleet.yaml.

Exit codes (sctools.cli, the table in README.md): 0 success; 1 a step or
the playbook failed; 2 bad inventory or usage; 5 docker unusable or a base
image missing; 130 interrupted; `deploy` passes on run-all's 3 (another run
holds the lock) and 4 (emergency stop).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import ipaddress
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sctools import REPO_ROOT, docker_cli, strict_yaml
from sctools.cli import Exit, ToolError, command, interrupt
from sctools.docker_cli import container_state

# What a nested dockerd needs: molecule's nested-docker platform, defined
# once for both (see nested_docker_args).
from sctools.molecule_all import NESTED_DOCKER_CONFIG

INVENTORY = REPO_ROOT / "inventory" / "local" / "hosts.yaml"
STATE_DIR = REPO_ROOT / ".fleet"
# This checkout's HEAD, history and all: where the stand-in git server's
# copy of this repository starts (tests/standins/fleet.yaml reads it).
HEAD_BUNDLE = STATE_DIR / "system-config.bundle"
IMAGE_REPO = "system-config/debian-systemd"
RELEASES = ("bookworm", "trixie")
LABEL = "system-config.fleet"
BRIDGE_REPO = "/opt/system-config"
BRIDGE_VENV = "/opt/ansible-venv"
# The bridge role's private directory; its hosts.yaml brings the secrets in.
BRIDGE_PRIVATE = "/etc/system-config/private"
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
# How long a stopped image build may take to end before it is killed.
STOP_GRACE_SECONDS = 60
BRIDGE_CA_BUNDLE = "/etc/ssl/fleet-host-ca-bundle.crt"
DNS_NAME = re.compile(r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9-]+", re.I)
STANDINS_PLAYBOOK = "tests/standins/fleet.yaml"
# What systemd as PID 1 gets on a tmpfs in every host (and molecule instance).
SYSTEMD_TMPFS = ("/run", "/run/lock", "/tmp")


@dataclass(frozen=True)
class Host:
    name: str
    ipv4: str
    ipv6: str
    release: str
    aliases: tuple[str, ...] = ()

    @property
    def image(self) -> str:
        return f"{IMAGE_REPO}:{self.release}"


@dataclass(frozen=True)
class Fleet:
    network: str
    ipv4_subnet: str
    ipv6_subnet: str
    hosts: tuple[Host, ...]
    # site_image_prefix: <registry host>:<port>/<repository prefix>
    image_prefix: str = ""
    # bridge's bridge_checkout_path: Zuul CD's git clone (ensure_deploy_checkout)
    deploy_checkout: str = ""

    def buildset_registry(self) -> tuple[Host, str, str]:
        """(host, port, repository prefix) of the registry site_image_prefix names.

        The registry's name is a fleet host's name or alias, which only the
        fleet's DNS knows: this machine reaches it at that host's address.
        """
        match = re.fullmatch(r"([a-z0-9.-]+):(\d+)/([a-z0-9][a-z0-9._/-]*)", self.image_prefix)
        if not match:
            raise ToolError(
                f"{INVENTORY}: all.vars.site_image_prefix: '{self.image_prefix}' is not "
                "HOST:PORT/PREFIX",
                Exit.USAGE,
            )
        name, port, prefix = match.groups()
        for host in self.hosts:
            if name == host.name or name in host.aliases:
                return host, port, prefix
        raise ToolError(
            f"{INVENTORY}: all.vars.site_image_prefix: {name} is no fleet host or alias", Exit.USAGE
        )

    @property
    def bridge(self) -> Host:
        """The one host that runs the playbooks (load_fleet checks there is one)."""
        return next(h for h in self.hosts if h.name.startswith("bridge"))


def load_fleet(path: Path = INVENTORY) -> Fleet:
    """Parse and validate the local inventory; errors name file and field."""
    try:
        data = strict_yaml.load(path)
    except strict_yaml.StrictYAMLError as exc:
        raise ToolError(str(exc), Exit.USAGE) from exc
    group = (data or {}).get("all") or {}
    variables = group.get("vars") or {}

    def need(mapping: dict, key: str, where: str) -> str:
        if not mapping.get(key):
            raise ToolError(f"{path}: {where}.{key} is missing", Exit.USAGE)
        return str(mapping[key])

    network = need(variables, "fleet_network", "all.vars")
    try:
        v4net = ipaddress.ip_network(need(variables, "fleet_ipv4_subnet", "all.vars"))
        v6net = ipaddress.ip_network(need(variables, "fleet_ipv6_subnet", "all.vars"))
    except ValueError as exc:
        raise ToolError(f"{path}: all.vars: bad subnet: {exc}", Exit.USAGE) from exc
    if v4net.version != 4 or v6net.version != 6:
        raise ToolError(
            f"{path}: all.vars: fleet_ipv4_subnet must be IPv4 and fleet_ipv6_subnet IPv6",
            Exit.USAGE,
        )
    hosts = []
    seen: dict[str, str] = {}
    for name, hv in (group.get("hosts") or {}).items():
        where = f"all.hosts.{name}"
        hv = hv or {}
        release = need(hv, "fleet_release", where)
        if release not in RELEASES:
            raise ToolError(
                f"{path}: {where}.fleet_release: '{release}' is not one of {', '.join(RELEASES)}",
                Exit.USAGE,
            )
        addrs = []
        for key, net in (("public_v4", v4net), ("public_v6", v6net)):
            try:
                addr = ipaddress.ip_address(need(hv, key, where))
            except ValueError as exc:
                raise ToolError(f"{path}: {where}.{key}: {exc}", Exit.USAGE) from exc
            if addr not in net:
                raise ToolError(f"{path}: {where}.{key}: {addr} is outside {net}", Exit.USAGE)
            if str(addr) in seen:
                raise ToolError(
                    f"{path}: {where}.{key}: {addr} is already used by {seen[str(addr)]}",
                    Exit.USAGE,
                )
            seen[str(addr)] = name
            addrs.append(str(addr))
        aliases = hv.get("fleet_aliases") or []
        if not isinstance(aliases, list) or not all(
            isinstance(a, str) and DNS_NAME.fullmatch(a) for a in aliases
        ):
            raise ToolError(
                f"{path}: {where}.fleet_aliases: must be a list of DNS names", Exit.USAGE
            )
        hosts.append(Host(name, addrs[0], addrs[1], release, tuple(aliases)))
    if not hosts:
        raise ToolError(f"{path}: all.hosts is empty", Exit.USAGE)
    bridges = [h.name for h in hosts if h.name.startswith("bridge")]
    if len(bridges) != 1:
        raise ToolError(
            f"{path}: all.hosts: expected exactly one bridge host, found {len(bridges)}", Exit.USAGE
        )
    image_prefix = str(variables.get("site_image_prefix") or "")
    bridge_vars = group["hosts"][bridges[0]] or {}
    deploy_checkout = need(bridge_vars, "bridge_checkout_path", f"all.hosts.{bridges[0]}")
    if deploy_checkout == BRIDGE_REPO or not deploy_checkout.startswith("/"):
        raise ToolError(
            f"{path}: all.hosts.{bridges[0]}.bridge_checkout_path: must be an absolute path "
            f"other than {BRIDGE_REPO}, where the working tree is mounted read-only",
            Exit.USAGE,
        )
    return Fleet(network, str(v4net), str(v6net), tuple(hosts), image_prefix, deploy_checkout)


def say(message: str) -> None:
    print(f"[fleet] {message}", flush=True)


def ensure_network(fleet: Fleet) -> None:
    network = docker_cli.inspect("network", fleet.network)
    if network is not None:
        subnets = {c["Subnet"] for c in network["IPAM"]["Config"] or []}
        if subnets != {fleet.ipv4_subnet, fleet.ipv6_subnet}:
            raise ToolError(
                f"network {fleet.network} exists with subnets {sorted(subnets)}, "
                f"inventory says {fleet.ipv4_subnet} and {fleet.ipv6_subnet}; "
                "run `fleet down` first"
            )
        return
    say(f"creating network {fleet.network} ({fleet.ipv4_subnet}, {fleet.ipv6_subnet})")
    docker_cli.run(
        "network",
        "create",
        "--ipv6",
        "--subnet",
        fleet.ipv4_subnet,
        "--subnet",
        fleet.ipv6_subnet,
        "--label",
        f"{LABEL}=1",
        fleet.network,
    )


def check_owner(host: Host) -> None:
    """Refuse to adopt a container made from another checkout of this repository.

    Bridge mounts the checkout that made it, so reusing another checkout's
    fleet would silently deploy that checkout's code.
    """
    info = docker_cli.inspect("container", host.name)
    labels = ((info or {}).get("Config") or {}).get("Labels") or {}
    owner = str(labels.get(LABEL) or "")
    if info is not None and owner != str(REPO_ROOT):
        raise ToolError(
            f"{host.name} belongs to the fleet of checkout {owner or 'unknown'}, not "
            f"{REPO_ROOT}; take that fleet down first (`fleet down` there, or "
            f"`docker rm -f {host.name}`)"
        )


def nested_docker_args(path: Path = NESTED_DOCKER_CONFIG) -> list[str]:
    """docker run flags for a host that runs dockerd, from molecule's nested platform.

    Its capabilities and security options as they are, plus
    systempaths=unconfined (Docker 26 inside writes under /proc/sys; the
    molecule driver cannot set it, the instances remount /proc/sys instead).
    Its other tmpfs mounts (/var/lib/docker) become volumes: a fleet host
    lives long and restarts, and keeps its images over that, out of RAM.
    """
    try:
        data = strict_yaml.load(path)
    except strict_yaml.StrictYAMLError as exc:
        raise ToolError(str(exc), Exit.USAGE) from exc
    try:
        platform = data["platforms"][0]
        args = [f"--cap-add={cap}" for cap in platform["capabilities"]]
        args += [f"--security-opt={opt}" for opt in platform["security_opts"]]
        mounts = [entry.split(":")[0] for entry in platform["tmpfs"]]
    except (KeyError, IndexError, TypeError) as exc:
        raise ToolError(
            f"{path}: no usable platforms[0] (capabilities, security_opts, tmpfs): {exc!r}",
            Exit.USAGE,
        ) from exc
    args.append("--security-opt=systempaths=unconfined")
    args += [f"--volume={mount}" for mount in mounts if mount not in SYSTEMD_TMPFS]
    return args


def inventory_group(group: str) -> set[str]:
    """Members of a group of the local inventory, as Ansible computes it."""
    proc = subprocess.run(
        [
            str(Path(sys.executable).with_name("ansible-inventory")),
            "-i",
            str(INVENTORY),
            "-i",
            str(INVENTORY.parent.parent / "groups.yaml"),
            "--list",
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO_ROOT,
    )
    if proc.returncode != 0:
        raise ToolError(f"ansible-inventory failed: {proc.stderr.strip()[-1000:]}", Exit.USAGE)
    data = json.loads(proc.stdout)

    def members(name: str) -> set[str]:
        node = data.get(name) or {}
        found = set(node.get("hosts") or [])
        for child in node.get("children") or []:
            found |= members(child)
        return found

    return members(group)


def ensure_host(fleet: Fleet, host: Host, nested_docker: bool = False) -> None:
    state = container_state(host.name)
    if state is not None:
        check_owner(host)
    if state == "running":
        return
    if state is not None:
        say(f"starting {host.name}")
        docker_cli.run("start", host.name)
        return
    if docker_cli.inspect("image", host.image) is None:
        raise ToolError(
            f"image {host.image} is missing; run tools/prepare-host.sh", Exit.UNAVAILABLE
        )
    say(f"creating {host.name} ({host.release}, {host.ipv4}, {host.ipv6})")
    args = [
        "run",
        "-d",
        "--name",
        host.name,
        # The short name, as base_server sets it: a restart keeps it.
        "--hostname",
        host.name.split(".")[0],
        "--label",
        f"{LABEL}={REPO_ROOT}",
        "--network",
        fleet.network,
        "--ip",
        host.ipv4,
        "--ip6",
        host.ipv6,
        *(arg for alias in host.aliases for arg in ("--network-alias", alias)),
        # systemd as PID 1 without --privileged, as molecule's instances get
        # it (.config/molecule/config.yml, platforms, says why each option)
        *(f"--tmpfs={path}" for path in SYSTEMD_TMPFS),
        "-v",
        "/sys/fs/cgroup:/sys/fs/cgroup:rw",
        "--cgroupns",
        "host",
        "--cap-add",
        "SYS_ADMIN",
        "--cap-add",
        "NET_ADMIN",
    ]
    if nested_docker:
        args += nested_docker_args()
    if host == fleet.bridge:
        # Bridge runs the playbooks from this checkout, as production
        # bridge runs them from its own clone; pip's cache is shared so the
        # venv builds quickly.
        args += [
            "-v",
            f"{REPO_ROOT}:{BRIDGE_REPO}:ro",
            "-v",
            f"{STATE_DIR / 'pip-cache'}:/root/.cache/pip",
        ]
        # pip on bridge trusts what this machine trusts (some networks
        # reach PyPI only through a TLS-inspecting proxy with its own CA).
        if HOST_CA_BUNDLE.exists():
            args += ["-v", f"{HOST_CA_BUNDLE}:{BRIDGE_CA_BUNDLE}:ro"]
    docker_cli.run(*args, host.image)


def poll(condition: Callable[[], Any], timeout: float, interval: float) -> Any:
    """condition's first true value, asked every interval s; None after timeout."""
    deadline = time.monotonic() + timeout
    while not (found := condition()):
        if time.monotonic() > deadline:
            return None
        time.sleep(interval)
    return found


def wait_booted(host: Host, timeout: float = 90) -> None:
    def booted() -> bool:
        proc = docker_cli.run("exec", host.name, "systemctl", "is-system-running", check=False)
        return proc.stdout.strip() in ("running", "degraded")

    if not poll(booted, timeout, interval=1):
        raise ToolError(f"{host.name}: systemd did not finish booting within {timeout:.0f} s")


def ensure_ssh_key() -> tuple[Path, str]:
    key = STATE_DIR / "ssh" / "id_ed25519"
    if not key.exists():
        key.parent.mkdir(parents=True, exist_ok=True)
        say(f"generating the fleet's SSH key {key}")
        subprocess.run(
            [
                "ssh-keygen",
                "-q",
                "-t",
                "ed25519",
                "-N",
                "",
                "-C",
                "bridge@local-fleet",
                "-f",
                str(key),
            ],
            check=True,
        )
    return key, Path(f"{key}.pub").read_text().strip()


def exec_in(host: Host, script: str, stdin: str | None = None) -> None:
    proc = docker_cli.run("exec", "-i", host.name, "bash", "-euc", script, input=stdin, check=False)
    if proc.returncode != 0:
        raise ToolError(
            f"{host.name}: {script.splitlines()[0]}...: "
            f"{(proc.stderr or proc.stdout).strip()[-2000:]}"
        )


def authorize_key(host: Host, pubkey: str) -> None:
    exec_in(
        host,
        "install -d -m 700 /root/.ssh; touch /root/.ssh/authorized_keys; "
        "chmod 600 /root/.ssh/authorized_keys; read -r key; "
        'grep -qxF "$key" /root/.ssh/authorized_keys || '
        'echo "$key" >> /root/.ssh/authorized_keys',
        stdin=pubkey + "\n",
    )


def trust_host_keys(fleet: Fleet) -> None:
    """Bridge's known_hosts: the current host key of every fleet host.

    Host keys are checked strictly (Mitogen enforces it, as production
    does); the fleet's hosts are made here, so their keys are read here,
    anew on every `up` (a recreated host has a new key). Only the ed25519
    key, the one clients use: asking for every key type cost one refused,
    unauthenticated connection per type, which OpenSSH 10 counts against
    bridge's address (PerSourcePenalties). An address that gave no key
    is asked again, up to three times in all (a CI run once missed one
    host's IPv6 answer).
    """
    # By name and by address: an operator (or a test) may ssh to either.
    names = " ".join(f"{h.name} {h.ipv4} {h.ipv6}" for h in fleet.hosts)
    new = "/root/.ssh/known_hosts.new"
    exec_in(
        fleet.bridge,
        f": > {new}; for attempt in 1 2 3; do missing=; "
        f'for name in {names}; do grep -q "^$name " {new} || missing="$missing $name"; done; '
        '[ -z "$missing" ] && break; '
        f"ssh-keyscan -T 20 -t ed25519 $missing >> {new} 2>/dev/null; done; "
        f'for name in {names}; do grep -q "^$name " {new} '
        '|| { echo "no host key from $name after 3 tries" >&2; exit 1; }; done; '
        f"mv {new} /root/.ssh/known_hosts",
    )


def prepare_bridge(bridge: Host, key: Path) -> None:
    exec_in(
        bridge,
        "install -d -m 700 /root/.ssh; cat > /root/.ssh/id_ed25519; "
        "chmod 600 /root/.ssh/id_ed25519",
        stdin=key.read_text(),
    )
    want = hashlib.sha256((REPO_ROOT / "requirements.txt").read_bytes()).hexdigest()
    script = f"""
stamp={BRIDGE_VENV}/.requirements.sha256
if [ -f {BRIDGE_CA_BUNDLE} ]; then export PIP_CERT={BRIDGE_CA_BUNDLE}; fi
if [ "$(cat $stamp 2>/dev/null)" != "{want}" ]; then
    if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' 2>/dev/null; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    fi
    rm -rf {BRIDGE_VENV}
    python3 -m venv {BRIDGE_VENV}
    {BRIDGE_VENV}/bin/pip install -q --upgrade pip
    {BRIDGE_VENV}/bin/pip install -q -r {BRIDGE_REPO}/requirements.txt
    echo {want} > $stamp
fi
"""
    say(f"{bridge.name}: ensuring the Ansible venv {BRIDGE_VENV} from requirements.txt")
    exec_in(bridge, script)


def cmd_up(fleet: Fleet, extra: list[str]) -> int:
    start = time.monotonic()
    STATE_DIR.mkdir(exist_ok=True)
    (STATE_DIR / "pip-cache").mkdir(exist_ok=True)
    ensure_network(fleet)
    docker_hosts = inventory_group("docker")
    for host in fleet.hosts:
        ensure_host(fleet, host, nested_docker=host.name in docker_hosts)
    key, pubkey = ensure_ssh_key()
    for host in fleet.hosts:
        wait_booted(host)
        authorize_key(host, pubkey)
    prepare_bridge(fleet.bridge, key)
    trust_host_keys(fleet)
    ensure_fake_secrets(fleet.bridge)
    bundle_head()
    setup_standins(fleet)
    ensure_deploy_checkout(fleet)
    say(f"{len(fleet.hosts)} hosts up in {time.monotonic() - start:.0f} s")
    return 0


FAKE_SECRETS = f"""
install -d -m 700 {BRIDGE_PRIVATE} {BRIDGE_PRIVATE}/group_vars {BRIDGE_PRIVATE}/host_vars
if [ ! -f {BRIDGE_PRIVATE}/hosts.yaml ]; then
    printf 'all:\\n  hosts: {{}}\\n' > {BRIDGE_PRIVATE}/hosts.yaml
fi
secrets={BRIDGE_PRIVATE}/group_vars/zuul.yaml
if [ ! -f $secrets ]; then
    key=$(mktemp -u)
    ssh-keygen -q -t rsa -b 3072 -m PEM -N '' -C zuul-executor@local-fleet -f $key
    umask 077
    python3 -c '
import json, secrets, sys
print("# Fake secrets of the local fleet, generated by tools/fleet (never used elsewhere).")
print(json.dumps({{
    "zuul_config_keystore_password": secrets.token_urlsafe(24),
    "zuul_executor_ssh_private_key": open(sys.argv[1]).read(),
}}, indent=2))' $key > $secrets
    rm -f $key $key.pub
fi
# Bridge authorises the executor's key (group_vars/bridge.yaml): its public
# half, derived from the private one every time, so a fleet whose zuul.yaml
# predates that file gets it too. Rewritten only when it differs.
key=$(mktemp -d)
(
    umask 077
    python3 -c '
import json, sys
text = "".join(line for line in open(sys.argv[1]) if not line.startswith("#"))
sys.stdout.write(json.loads(text)["zuul_executor_ssh_private_key"])' $secrets > $key/id
    ssh-keygen -y -f $key/id > $key/id.pub
    python3 -c '
import json, sys
print("# Generated by tools/fleet from group_vars/zuul.yaml (never used elsewhere).")
print(json.dumps({{"zuul_executor_ssh_public_key": open(sys.argv[1]).read().strip()}}, indent=2))' \
        $key/id.pub > $key/bridge.yaml
)
if ! cmp -s $key/bridge.yaml {BRIDGE_PRIVATE}/group_vars/bridge.yaml; then
    mv $key/bridge.yaml {BRIDGE_PRIVATE}/group_vars/bridge.yaml
fi
rm -rf $key
secrets={BRIDGE_PRIVATE}/group_vars/etherpad.yaml
if [ ! -f $secrets ]; then
    umask 077
    python3 -c '
import json, secrets
print("# Fake secrets of the local fleet, generated by tools/fleet (never used elsewhere).")
print(json.dumps({{
    "etherpad_db_password": secrets.token_urlsafe(24),
    "etherpad_api_key": secrets.token_urlsafe(32),
}}, indent=2))' > $secrets
fi
"""


def ensure_fake_secrets(bridge: Host) -> None:
    """Generated secrets in bridge's private directory, as an infra root keeps real ones.

    Made once: a second `up` keeps them, so nothing restarts for new secrets.
    """
    exec_in(bridge, FAKE_SECRETS)


IMAGES_LOG = STATE_DIR / "logs" / "images.log"
IMAGES_TOOL = [sys.executable, "-m", "sctools.images"]


@dataclass
class ImageBuild:
    """`images build` of this checkout, running in the background into IMAGES_LOG.

    It runs in a session of its own, so that Ctrl-C at the terminal reaches
    fleet alone and `stop` can end the tool with every docker build it
    started (the daemon cancels a build whose client went away).
    """

    proc: subprocess.Popen[bytes]
    start: float

    def wait(self) -> None:
        """Wait for the build to end; fail when it failed."""
        if self.proc.wait() != 0:
            raise ToolError(f"images build failed (exit {self.proc.returncode}); see {IMAGES_LOG}")

    def stop(self) -> None:
        """End the images tool and its docker builds (`up` failed, or Ctrl-C)."""
        if self.proc.poll() is not None:
            return
        # The group id is the tool's pid (its own session); the pid cannot
        # be reused while poll() says the tool runs.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def start_image_build(fleet: Fleet) -> ImageBuild:
    """Start building the images: the build needs no fleet host, so it runs
    while `up` creates them (a cold build takes minutes, `up` one or two)."""
    _, _, prefix = fleet.buildset_registry()
    IMAGES_LOG.parent.mkdir(parents=True, exist_ok=True)
    say(f"building the images beside the hosts; log in {IMAGES_LOG}")
    proc = start_images_tool(["build", "--prefix", prefix], mode="w", own_session=True)
    return ImageBuild(proc, time.monotonic())


def start_images_tool(
    args: list[str], mode: str, own_session: bool = False
) -> subprocess.Popen[bytes]:
    """`images ARGS`, its command line and output into IMAGES_LOG (opened with mode)."""
    with IMAGES_LOG.open(mode) as out:
        out.write(f"$ images {' '.join(args)}\n")
        out.flush()
        return subprocess.Popen(
            [*IMAGES_TOOL, *args],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=REPO_ROOT,
            start_new_session=own_session,
        )


def push_images(fleet: Fleet, build: ImageBuild) -> None:
    """Push the images of the finished build to the buildset registry."""
    host, port, prefix = fleet.buildset_registry()
    url = f"https://{host.ipv4}:{port}"
    ca_file = STATE_DIR / "buildset-registry-ca.pem"
    # The registry's certificate comes from pebble's listener CA (tests/standins).
    ca_file.write_text(docker_cli.output("exec", host.name, "cat", "/etc/pebble/tls/ca.pem") + "\n")
    say(f"pushing the images to {url}; log in {IMAGES_LOG}")
    args = ["push", "--prefix", prefix, "--registry", url, "--ca-file", str(ca_file)]
    rc = start_images_tool(args, mode="a").wait()
    if rc != 0:
        raise ToolError(f"images push failed (exit {rc}); see {IMAGES_LOG}")
    seconds = time.monotonic() - build.start
    say(f"images in the buildset registry {seconds:.0f} s after their build began")


def standins_stamp(fleet: Fleet) -> str:
    """What the stand-ins' setup depends on: their files and every host's container.

    A host that was recreated or restarted (pebble makes a new root CA at
    each start) changes its container id or start time, so the setup runs
    again; otherwise a second `up` skips it.
    """
    digest = hashlib.sha256()
    inputs = [*sorted((REPO_ROOT / "tests" / "standins").rglob("*")), INVENTORY]
    for path in inputs:
        if path.is_file():
            digest.update(str(path.relative_to(REPO_ROOT)).encode() + b"\0" + path.read_bytes())
    names = [h.name for h in fleet.hosts]
    stamp = docker_cli.output("inspect", "-f", "{{.Id}} {{.State.StartedAt}}", *names)
    digest.update(stamp.encode())
    return digest.hexdigest()


def bundle_head() -> None:
    """This checkout's HEAD, history and all, into HEAD_BUNDLE."""
    git = ["git", "-C", str(REPO_ROOT), "bundle", "create", "--quiet", str(HEAD_BUNDLE), "HEAD"]
    proc = subprocess.run(git, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise ToolError(f"cannot bundle HEAD into {HEAD_BUNDLE}: {proc.stderr.strip()}")


def ensure_deploy_checkout(fleet: Fleet) -> None:
    """Zuul CD's checkout on bridge: a clone of HEAD_BUNDLE, made once.

    The infra-prod jobs move it from then on (docs/zuul-cd.md); a later
    `up` leaves it where they put it.
    """
    bundle = f"{BRIDGE_REPO}/{HEAD_BUNDLE.relative_to(REPO_ROOT)}"
    checkout = shlex.quote(fleet.deploy_checkout)
    script = f"""[ -d {checkout}/.git ] && exit 0
if ! command -v git >/dev/null; then  # the bridge role installs it too
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq git >/dev/null
fi
git clone --quiet {shlex.quote(bundle)} {checkout}
"""
    exec_in(fleet.bridge, script)


def setup_standins(fleet: Fleet) -> None:
    """The outside world's stand-ins, and trust in their CAs on every host."""
    log = STATE_DIR / "logs" / "standins.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    stamp_file = STATE_DIR / "standins.stamp"
    stamp = standins_stamp(fleet)
    if stamp_file.is_file() and stamp_file.read_text().strip() == stamp:
        say("stand-ins unchanged since their last setup (tests/standins, hosts); skipped")
        return
    stamp_file.unlink(missing_ok=True)
    say(f"setting up the stand-ins ({STANDINS_PLAYBOOK}); log in {log}")
    command = (
        f"cd {BRIDGE_REPO} && export ANSIBLE_CONFIG={BRIDGE_REPO}/ansible.cfg "
        f"PATH={BRIDGE_VENV}/bin:$PATH && exec ansible-playbook {INVENTORY_ARGS} "
        f"{STANDINS_PLAYBOOK}"
    )
    with log.open("w") as out:
        proc = docker_cli.run("exec", fleet.bridge.name, "bash", "-c", command, log=out)
    if proc.returncode != 0:
        raise ToolError(f"the stand-ins playbook failed; see {log}")
    stamp_file.write_text(stamp + "\n")


RUN_ALL_LOG_DIR = "/var/log/run-all"
INVENTORY_ARGS = (
    f"-i inventory/local/hosts.yaml -i {BRIDGE_PRIVATE}/hosts.yaml -i inventory/groups.yaml"
)


# Where `fleet deploy` has run-all write its report on bridge (--report-file).
DEPLOY_REPORT = f"{RUN_ALL_LOG_DIR}/fleet-deploy-report.json"


def run_all_command(extra: list[str], report_file: str | None = None) -> str:
    """run-all on bridge, from the mounted checkout, against the local inventory.

    --owner all: the local fleet has no Zuul, so run-all runs every playbook.
    With report_file, run-all writes its report there (its directory is
    made first, since run-all requires it, and an old report is removed, so
    a run that ends before reporting leaves none).
    """
    remove_old, report = "", []
    if report_file:
        quoted = shlex.quote(report_file)
        remove_old = f'mkdir -p "$(dirname {quoted})" && rm -f {quoted} && '
        report = ["--report-file", report_file]
    return (
        f"cd {BRIDGE_REPO} && export ANSIBLE_CONFIG={BRIDGE_REPO}/ansible.cfg "
        f"PATH={BRIDGE_VENV}/bin:$PATH PYTHONPATH={BRIDGE_REPO}/tools && {remove_old}"
        f"exec python -m sctools.run_all --owner all --log-dir {RUN_ALL_LOG_DIR} "
        f"{INVENTORY_ARGS} " + " ".join(shlex.quote(a) for a in [*report, *extra])
    )


def run_on_bridge(fleet: Fleet, command: str, log: Path) -> int:
    """Run a command on bridge, echoing its output live and into a local log."""
    tty = ["-t"] if sys.stdout.isatty() else []
    with (
        log.open("w") as out,
        docker_cli.stream("exec", *tty, fleet.bridge.name, "bash", "-c", command) as proc,
    ):
        for line in proc.stdout or ():
            out.write(line)
            sys.stdout.write(line)
            sys.stdout.flush()
    return proc.returncode


def fetch_report(fleet: Fleet, path: str) -> dict[str, Any] | None:
    """The report run-all wrote on bridge at path (its --report-file), if any."""
    proc = docker_cli.run("exec", fleet.bridge.name, "cat", path, check=False)
    if proc.returncode != 0:
        return None
    report: dict[str, Any] = json.loads(proc.stdout)
    return report


def failed_tasks(run_dir: Path, context: int = 8) -> list[str]:
    """The failed tasks in a run's playbook logs: each fatal/failed line with its task."""
    found = []
    for path in sorted(run_dir.glob("*.log")):
        lines = path.read_text(errors="replace").splitlines()
        for index, line in enumerate(lines):
            if line.startswith(("fatal: ", "failed: ")):
                task = next(
                    (lines[i] for i in range(index, -1, -1) if lines[i].startswith("TASK [")), ""
                )
                shown = "\n".join(lines[index : index + context])
                found.append(f"{path.name}: {task}\n{shown}")
    return found


def keep_run_logs(fleet: Fleet, dest: Path) -> None:
    """After a failed run: copy run-all's logs off bridge and print the failed tasks.

    A CI run takes the fleet down after a failed deploy, and bridge's logs
    go with it; a copy here keeps the reason.
    """
    proc = docker_cli.run("cp", f"{fleet.bridge.name}:{RUN_ALL_LOG_DIR}/.", str(dest), check=False)
    if proc.returncode != 0:
        say(f"could not copy run-all's logs from {fleet.bridge.name}: {proc.stderr.strip()}")
        return
    runs = sorted(p for p in dest.iterdir() if p.is_dir())
    for failure in failed_tasks(runs[-1]) if runs else []:
        say(failure)
    say(f"run-all's logs kept in {dest}")


def cmd_deploy(fleet: Fleet, extra: list[str]) -> int:
    build = start_image_build(fleet)
    # The build has a session of its own, out of reach of signals sent to
    # fleet's process group: SIGTERM (a CI timeout) and SIGHUP (a closed
    # terminal) stop it as Ctrl-C does.
    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        cmd_up(fleet, [])
        build.wait()
    except BaseException:
        build.stop()
        raise
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    push_images(fleet, build)
    log = STATE_DIR / "logs" / f"deploy-{time.strftime('%Y%m%dT%H%M%S')}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    say(f"running run-all on {fleet.bridge.name}; playbooks reach the hosts over SSH")
    start = time.monotonic()
    rc = run_on_bridge(fleet, run_all_command(extra, DEPLOY_REPORT), log)
    seconds = time.monotonic() - start
    report = fetch_report(fleet, DEPLOY_REPORT) if rc == 0 else None
    if report is None:
        say(f"FAILED: run-all exited {rc} after {seconds:.0f} s; output kept in {log}")
        keep_run_logs(fleet, log.with_suffix(""))
        # run-all's own code (busy, stopped, ...) when it is one of the table's.
        return rc if rc in set(Exit) - {Exit.OK} else Exit.FAILED
    changed: dict[str, int] = {}
    for playbook in report["playbooks"]:
        for host, counts in playbook["hosts"].items():
            changed[host] = changed.get(host, 0) + counts["changed"]
    total = sum(changed.values())
    playbooks = ", ".join(p["name"] for p in report["playbooks"])
    if total:
        busy = ", ".join(f"{h} ({n})" for h, n in sorted(changed.items()) if n)
        say(
            f"deployed {playbooks} to {len(changed)} hosts in {seconds:.0f} s: "
            f"{total} changes on {busy}; run again to see it converge"
        )
    else:
        say(
            f"converged: {playbooks} on {len(changed)} hosts in {seconds:.0f} s made "
            "no changes (changed=0 on every host)"
        )
    return 0


def cmd_status(fleet: Fleet, extra: list[str]) -> int:
    for host in fleet.hosts:
        print(
            f"{host.name:<34} {host.release:<9} {host.ipv4:<15} {host.ipv6:<24} "
            f"{container_state(host.name) or 'absent'}"
        )
    return 0


def cmd_down(fleet: Fleet, extra: list[str]) -> int:
    names = [h.name for h in fleet.hosts if container_state(h.name) is not None]
    if names:
        say(f"removing {len(names)} host containers")
        docker_cli.run("rm", "-f", "-v", *names)
    if docker_cli.inspect("network", fleet.network) is not None:
        say(f"removing network {fleet.network}")
        docker_cli.run("network", "rm", fleet.network)
    say("fleet is down")
    return 0


def cmd_merge(fleet: Fleet, extra: list[str]) -> int:
    from sctools.fleet_merge import cmd_merge as merge  # it builds on this module

    return merge(fleet, extra)


COMMANDS = {
    "up": cmd_up,
    "deploy": cmd_deploy,
    "merge": cmd_merge,
    "status": cmd_status,
    "down": cmd_down,
}


@command("fleet")
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="fleet", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", choices=sorted(COMMANDS), help="what to do")
    parser.add_argument(
        "run_all_args",
        nargs=argparse.REMAINDER,
        help="deploy: options passed to run-all (e.g. --only base, --check); "
        "merge: its paths and options (fleet merge --help)",
    )
    args = parser.parse_args(argv)
    if args.run_all_args and args.command not in ("deploy", "merge"):
        parser.error(f"{args.command} takes no further arguments")
    return COMMANDS[args.command](load_fleet(), args.run_all_args)


if __name__ == "__main__":
    sys.exit(main())
