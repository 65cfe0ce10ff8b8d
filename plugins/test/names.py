"""Jinja tests for the names many roles validate, spelled once.

ansible.cfg's test_plugins makes them available to every play run with
this repository's configuration (bridge, molecule, the fleet):

    etherpad_image is container_image
    mirror_hostnames | reject('dns_name') | list == []
    users_sudo_group is account_name

Each is False for a value that is not a string. The patterns use \\A and
\\Z: a trailing newline (which would end a line in a generated file and
start another) never matches.
"""

from __future__ import annotations

import re

# One DNS label: letters, digits and inner hyphens, at most 63.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
# A DNS name (or a dotted IPv4 address): labels joined by dots, 253 at most.
DNS_NAME = re.compile(rf"\A(?=.{{1,253}}\Z){_LABEL}(?:\.{_LABEL})*\Z")
# A user or group name as Debian's useradd/groupadd take it (NAME_REGEX);
# never read as an option.
ACCOUNT_NAME = re.compile(r"\A[a-z_][a-z0-9_-]{0,31}\Z")
# A container image reference: [registry[:port]/]path[:tag][@sha256:digest],
# no whitespace and no "$" (compose would interpolate it).
_REGISTRY = rf"(?:{_LABEL}(?:\.{_LABEL})*|\[[0-9A-Fa-f:]+\])(?::[0-9]{{1,5}})?/"
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
CONTAINER_IMAGE = re.compile(
    rf"\A(?:{_REGISTRY})?{_COMPONENT}(?:/{_COMPONENT})*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[0-9a-f]{64})?\Z"
)


def _matcher(pattern: re.Pattern[str]):
    def test(value: object) -> bool:
        return isinstance(value, str) and pattern.search(value) is not None

    return test


class TestModule:
    """Ansible's entry point for test plugins."""

    def tests(self):
        return {
            "dns_name": _matcher(DNS_NAME),
            "account_name": _matcher(ACCOUNT_NAME),
            "container_image": _matcher(CONTAINER_IMAGE),
        }
