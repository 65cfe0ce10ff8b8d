"""Create and destroy a molecule scenario's instances with the docker CLI.

molecule's docker driver creates instances from a playbook of async
community.docker tasks on localhost: 13-69 s per scenario on a loaded
2-core machine, and 6-26 s for each of its two destroys. `docker run` makes
the same containers in seconds. .config/molecule/config.yml gives the
driver tests/molecule/create.yml and destroy.yml instead of its own; they
hand molecule's merged `platforms` to this module as JSON on stdin:

    python -m sctools.molecule_instances create|destroy < platforms.json

create starts afresh: it removes containers of the same names first, then
creates the networks named in docker_networks (when missing) and runs each
platform's container. destroy removes the containers (with their anonymous
volumes) and those networks; absent is fine.

Only the platform keys below are understood (those .config/molecule/*.yml
use, and a few plain ones); any other key is refused, naming the platform
and the key, before anything changes: a key silently ignored would test an
instance other than the one asked for.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sctools import docker_cli
from sctools.cli import Exit, ToolError, command

Platform = Mapping[str, Any]


def _strings(flag: str) -> Callable[[str, Any], list[str]]:
    """A list of strings, each one `flag=value`."""

    def convert(key: str, value: Any) -> list[str]:
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise ValueError(f"{key} must be a list of non-empty strings")
        return [f"{flag}={v}" for v in value]

    return convert


def _one_word(key: str, value: Any) -> str:
    """value, or ValueError naming key unless it is one word."""
    if not isinstance(value, str) or not value or value.split() != [value]:
        raise ValueError(f"{key} must be one word")
    return value


def _word(flag: str) -> Callable[[str, Any], list[str]]:
    def convert(key: str, value: Any) -> list[str]:
        return [f"{flag}={_one_word(key, value)}"]

    return convert


def _privileged(key: str, value: Any) -> list[str]:
    if not isinstance(value, bool):
        raise ValueError(f"{key} must be true or false")
    return ["--privileged"] if value else []


def _env(key: str, value: Any) -> list[str]:
    if not isinstance(value, dict) or not all(isinstance(k, str) and k for k in value):
        raise ValueError(f"{key} must be a mapping of variable names to values")
    return [f"--env={name}={val}" for name, val in value.items()]


def _networks(key: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not all(
        isinstance(n, dict) and set(n) == {"name"} and isinstance(n["name"], str) for n in value
    ):
        raise ValueError(f"{key} must be a list of {{name: NETWORK}}")
    return [f"--network={n['name']}" for n in value]


# Platform keys that become `docker run` flags.
RUN_FLAGS: dict[str, Callable[[str, Any], list[str]]] = {
    "tmpfs": _strings("--tmpfs"),
    "volumes": _strings("--volume"),
    "capabilities": _strings("--cap-add"),
    "security_opts": _strings("--security-opt"),
    "cgroupns_mode": _word("--cgroupns"),
    "privileged": _privileged,
    "env": _env,
    "networks": _networks,
}
# Keys read elsewhere: by this module's own logic, or by molecule itself.
OTHER_KEYS = {
    "name",
    "hostname",
    "image",
    "pre_build_image",
    "override_command",
    "command",
    "docker_networks",
    "groups",  # molecule's inventory
}
NETWORK_KEYS = {"name", "enable_ipv6", "ipam_config"}


def _where(index: int, platform: Any) -> str:
    name = platform.get("name") if isinstance(platform, dict) else None
    return f"platforms[{index}]" + (f" ({name})" if isinstance(name, str) else "")


def run_args(platform: Platform) -> list[str]:
    """`docker run` arguments (after `run`) for one platform; ValueError names the key."""
    unknown = sorted(set(platform) - set(RUN_FLAGS) - OTHER_KEYS)
    if unknown:
        known = ", ".join(sorted(set(RUN_FLAGS) | OTHER_KEYS))
        raise ValueError(f"{', '.join(unknown)}: not supported here (supported: {known})")
    name = _one_word("name", platform.get("name"))
    image = _one_word("image", platform.get("image"))
    # The driver would build molecule_local/<image> from a Dockerfile; ours
    # are built by tools/prepare-host.sh.
    if platform.get("pre_build_image") is not True:
        raise ValueError("pre_build_image must be true (images are built by tools/prepare-host.sh)")
    hostname = _one_word("hostname", platform.get("hostname", name))
    args = ["-d", f"--name={name}", f"--hostname={hostname}"]
    for key, convert in RUN_FLAGS.items():
        if key in platform:
            args += convert(key, platform[key])
    args.append(image)
    override = platform.get("override_command", True)
    if not isinstance(override, bool):
        raise ValueError("override_command must be true or false")
    if override:
        # The driver's own default keeps a plain image alive.
        cmd = platform.get("command", "bash -c 'while true; do sleep 10000; done'")
        if not isinstance(cmd, str) or not shlex.split(cmd):
            raise ValueError("command must be a non-empty string")
        args += shlex.split(cmd)
    elif "command" in platform:
        raise ValueError("command is only used with override_command: true")
    return args


def network_args(network: Any) -> list[str]:
    """`docker network create` arguments (after `create`) for one docker_networks entry."""
    if not isinstance(network, dict) or not isinstance(network.get("name"), str):
        raise ValueError("each docker_networks entry needs a name")
    unknown = sorted(set(network) - NETWORK_KEYS)
    if unknown:
        raise ValueError(
            f"docker_networks {network['name']}: {', '.join(unknown)} not supported here "
            f"(supported: {', '.join(sorted(NETWORK_KEYS))})"
        )
    args = []
    if network.get("enable_ipv6", False):
        args.append("--ipv6")
    ipam = network.get("ipam_config", [])
    if not isinstance(ipam, list) or not all(
        isinstance(c, dict) and set(c) == {"subnet"} and isinstance(c["subnet"], str) for c in ipam
    ):
        raise ValueError(
            f"docker_networks {network['name']}: ipam_config must be [{{subnet: ...}}]"
        )
    args += [f"--subnet={c['subnet']}" for c in ipam]
    return [*args, network["name"]]


def plan(platforms: Any) -> tuple[list[str], list[list[str]], list[list[str]]]:
    """(container names, network create args, run args), or ToolError naming the platform."""
    if not isinstance(platforms, list) or not platforms:
        raise ToolError("molecule platforms: expected a non-empty list", Exit.USAGE)
    names, networks, runs = [], [], []
    for index, platform in enumerate(platforms):
        try:
            if not isinstance(platform, dict):
                raise ValueError("not a mapping")
            runs.append(run_args(platform))
            entries = platform.get("docker_networks", [])
            if not isinstance(entries, list):
                raise ValueError("docker_networks must be a list")
            networks += [network_args(entry) for entry in entries]
        except ValueError as exc:
            raise ToolError(f"molecule {_where(index, platform)}: {exc}", Exit.USAGE) from None
        names.append(platform["name"])
    if len(set(names)) != len(names):
        raise ToolError(f"molecule platforms: names repeat: {', '.join(names)}", Exit.USAGE)
    return names, networks, runs


def create(platforms: Any) -> None:
    names, networks, runs = plan(platforms)
    docker_cli.remove(names)
    for args in networks:
        if docker_cli.inspect("network", args[-1]) is None:
            docker_cli.run("network", "create", *args)
    for args in runs:
        docker_cli.run("run", *args)


def destroy(platforms: Any) -> None:
    names, networks, _ = plan(platforms)
    docker_cli.remove(names)
    for args in networks:
        docker_cli.remove(network=args[-1])


@command("molecule-instances")
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="molecule-instances",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("action", choices=["create", "destroy"])
    args = parser.parse_args(argv)
    try:
        platforms = json.load(sys.stdin)
    except json.JSONDecodeError as exc:
        raise ToolError(f"molecule platforms on stdin: not JSON: {exc}", Exit.USAGE) from None
    docker_cli.ensure_daemon()
    (create if args.action == "create" else destroy)(platforms)
    return Exit.OK


if __name__ == "__main__":
    sys.exit(main())
