"""Per-host results from the PLAY RECAP that ansible-playbook prints."""

from __future__ import annotations

import re

RECAP_LINE = re.compile(
    r"^(?P<host>\S+)\s*:\s*ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+"
    r"unreachable=(?P<unreachable>\d+)\s+failed=(?P<failed>\d+)"
)


def parse_recap(output: str) -> dict[str, dict[str, int]]:
    """Map host -> {ok, changed, unreachable, failed} from ansible-playbook output.

    Only lines after a "PLAY RECAP" header count, so task output that happens
    to look like a recap line is ignored.
    """
    recap: dict[str, dict[str, int]] = {}
    in_recap = False
    for line in output.splitlines():
        if line.startswith("PLAY RECAP"):
            in_recap = True
            continue
        match = RECAP_LINE.match(line) if in_recap else None
        if match:
            recap[match["host"]] = {k: int(v) for k, v in match.groupdict().items() if k != "host"}
    return recap


def broken_hosts(recap: dict[str, dict[str, int]]) -> list[str]:
    """Hosts on which something failed or that could not be reached, sorted."""
    return sorted(h for h, r in recap.items() if r["failed"] or r["unreachable"])
