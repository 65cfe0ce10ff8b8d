#!/usr/bin/env python3
"""A stand-in for ansible-playbook in run-all's unit tests.

Behaviour per playbook comes from the JSON file named by FAKE_PLAN:
  {"playbooks/a.yaml": {"sleep": 0.5, "rc": 0,
                        "hosts": {"h1": "ok", "h2": "changed", "h3": "failed"}}}
It honours --limit patterns of the form "all:!h1:!h2" (or "PATTERN:!h1"),
prints a PLAY RECAP like the real one and records each call (argv, start,
end) as a JSON line in FAKE_CALLS.
"""

import json
import os
import sys
import time

COUNTS = {
    "ok": (3, 0, 0, 0),
    "changed": (3, 1, 0, 0),
    "failed": (1, 0, 0, 1),
    "unreachable": (0, 0, 1, 0),
}


def main() -> int:
    args = sys.argv[1:]
    playbook = args[-1]
    with open(os.environ["FAKE_PLAN"]) as plan_file:
        plan = json.load(plan_file).get(playbook, {})
    excluded = set()
    if "--limit" in args:
        excluded = {p[1:] for p in args[args.index("--limit") + 1].split(":") if p.startswith("!")}
    start = time.time()
    print(f"PLAY [{playbook}] ****", flush=True)
    time.sleep(plan.get("sleep", 0))
    hosts = {h: s for h, s in plan.get("hosts", {"h1": "ok"}).items() if h not in excluded}
    print("\nPLAY RECAP *********************************************************************")
    for host, status in sorted(hosts.items()):
        ok, changed, unreachable, failed = COUNTS[status]
        print(
            f"{host:<26} : ok={ok}    changed={changed}    unreachable={unreachable}    "
            f"failed={failed}    skipped=0    rescued=0    ignored=0"
        )
    with open(os.environ["FAKE_CALLS"], "a") as calls:
        calls.write(json.dumps({"argv": args, "start": start, "end": time.time()}) + "\n")
    if "rc" in plan:
        return plan["rc"]
    if any(s == "unreachable" for s in hosts.values()):
        return 4
    return 2 if any(s == "failed" for s in hosts.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
