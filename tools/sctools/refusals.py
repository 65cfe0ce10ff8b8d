"""Prove that a role refuses bad variables before its first change.

For molecule's testinfra tests (run from `molecule verify`, which sets
MOLECULE_INVENTORY_FILE). Every case of bad variables is applied to one
instance in a single ansible-playbook run, one block per case: the whole
role in check mode, so a guard that is missing shows up as a role that
went on (and as tasks that would have changed the host), never as damage
to the instance. Each case's outcome is the message of the task that
stopped the role, or ACCEPTED.

    outcome = refusals("sc-users-bookworm", "users", {
        "root": {"users_accounts": [{"name": "root", "uid": 0, "state": "absent"}]},
    })
    assert "users_accounts" in outcome.messages["root"]
    assert outcome.changed == 0
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from sctools import REPO_ROOT

ACCEPTED = "ACCEPTED"


@dataclass
class Outcome:
    """Per case: the refusal message (or ACCEPTED); changed: tasks that changed or would have.

    altered: what the caller watched and found changed afterwards (the
    scenario tests' refusals_on fills it).
    """

    messages: dict[str, str]
    changed: int
    output: str
    altered: list[str] = field(default_factory=list)


# Templates of the generated play; the case's name comes in as refusal_case.
RECORD_ACCEPTED = "{{ refusal_outcomes | combine({refusal_case: '" + ACCEPTED + "'}) }}"
# A loop that failed says "One or more items failed": its reasons are in
# its items, kept before the task's own message.
FAILED_ITEMS = (
    "{{ ansible_failed_result.results | default([]) | selectattr('failed', 'defined')"
    " | selectattr('failed') | map(attribute='msg') | map('string') | list }}"
)
RECORD_REFUSAL = (
    "{{ refusal_outcomes | combine({refusal_case: (refusal_failed_items"
    " + [ansible_failed_result.msg | default('') | string]) | join(' | ')}) }}"
)


def playbook(hostname: str, role: str, cases: Mapping[str, dict]) -> list[dict]:
    """One play; per case a block: the role in check mode, its refusal rescued and kept."""
    tasks = [
        {
            "name": f"Case {name}",
            "vars": {"refusal_case": name, "refusal_failed_items": FAILED_ITEMS},
            "block": [
                {
                    "name": f"Apply {role} with the values of case {name}",
                    "ansible.builtin.include_role": {"name": role},
                    "vars": bad,
                },
                {
                    "name": f"Record that case {name} was accepted",
                    "ansible.builtin.set_fact": {"refusal_outcomes": RECORD_ACCEPTED},
                },
            ],
            "rescue": [
                {
                    "name": f"Record why case {name} was refused",
                    "ansible.builtin.set_fact": {"refusal_outcomes": RECORD_REFUSAL},
                }
            ],
        }
        for name, bad in cases.items()
    ]
    tasks.append(
        {"name": "Report the outcomes", "ansible.builtin.debug": {"var": "refusal_outcomes"}}
    )
    return [
        {
            "name": f"Bad variables given to {role}",
            "hosts": hostname,
            "gather_facts": False,
            # Check mode: a role that accepts a bad value reports what it
            # would change and changes nothing.
            "check_mode": True,
            "vars": {"refusal_outcomes": {}},
            "tasks": tasks,
        }
    ]


def refusals(
    hostname: str,
    role: str,
    cases: Mapping[str, dict],
    timeout: int = 600,
    roles_path: Path = REPO_ROOT / "roles",
) -> Outcome:
    """Apply each case of bad variables to `role` on one instance; see the module doc."""
    with tempfile.TemporaryDirectory(prefix="refusals-") as tmp:
        path = Path(tmp) / "refusals.yml"
        path.write_text(yaml.safe_dump(playbook(hostname, role, cases), sort_keys=False))
        proc = subprocess.run(
            [
                str(Path(sys.executable).with_name("ansible-playbook")),
                "-i",
                os.environ["MOLECULE_INVENTORY_FILE"],
                str(path),
            ],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env={
                **os.environ,
                "ANSIBLE_ROLES_PATH": str(roles_path),
                "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json",
            },
        )
    # The JSON document starts at the first line that is "{"; other
    # callbacks (profile_tasks) may print around it.
    text = proc.stdout
    start = 0 if text.startswith("{\n") else text.find("\n{\n") + 1
    try:
        report, _ = json.JSONDecoder().raw_decode(text, start)
    except json.JSONDecodeError:
        raise AssertionError(f"no report from ansible-playbook:\n{text}\n{proc.stderr}") from None
    messages = report["plays"][-1]["tasks"][-1]["hosts"][hostname].get("refusal_outcomes")
    if messages is None:
        raise AssertionError(f"the run stopped before its report:\n{text[-4000:]}\n{proc.stderr}")
    changed = report["stats"][hostname]["changed"]
    return Outcome(messages=messages, changed=changed, output=text)
