"""Zuul file matchers: the analysis' Dependencies translated into regexes.

For every playbook of schedule.yaml and every role with a molecule
scenario, sctools.analysis.summary gives the paths that can change its
outcome (plain data); this module only turns them into what Zuul's
`files:` matchers take: re2 syntax (no lookaround), matched from the start
of a path with `match`, as Zuul does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from sctools.analysis import summary
from sctools.analysis.result import Dependencies, Under, VarFiles
from sctools.schedule import Schedule, load_schedule

VAR_FILE_SUFFIX = r"(\.ya?ml|\.json)?(/|$)"
MAX_ALTERNATION = 80  # characters of names per regex, to keep lines readable


def escape(text: str) -> str:
    """Escape regex metacharacters (re2 and Python agree on these)."""
    return re.sub(r"([.^$*+?{}\[\]\\|()])", r"\\\1", text)


def file_regex(path: str) -> str:
    return f"^{escape(path)}$"


def dir_regex(path: str) -> str:
    return f"^{escape(path.rstrip('/'))}/"


def path_regex(path: str) -> str:
    """A trailing slash means the directory and everything below it."""
    return dir_regex(path) if path.endswith("/") else file_regex(path)


def matches(regexes: list[str], path: str) -> bool:
    """Whether Zuul would count a change to path for these matchers."""
    return any(re.match(r, path) for r in regexes)


@dataclass(frozen=True)
class Matchers:
    """The computed matchers of one checkout."""

    playbooks: dict[str, list[str]]  # schedule name -> regexes
    molecule: dict[str, list[str]]  # role name -> regexes (its default scenario)
    notes: dict[str, list[str]]  # playbook name -> what the analysis over-included


def names_regexes(directory: str, names: tuple[str, ...]) -> list[str]:
    """Regexes for the variable files of these groups or hosts in directory."""
    regexes, chunk = [], []
    for name in sorted(names):
        chunk.append(escape(name))
        if sum(len(c) + 1 for c in chunk) > MAX_ALTERNATION:
            regexes.append(chunk[:-1])
            chunk = chunk[-1:]
    regexes.append(chunk)
    return [f"^{escape(directory)}/({'|'.join(c)}){VAR_FILE_SUFFIX}" for c in regexes if c]


def regexes(dependencies: Dependencies) -> list[str]:
    """The matchers of one playbook or scenario, in the order of its entries.

    A file already matched by an earlier regex adds nothing and is left out.
    """
    if dependencies.everything:
        return [".*"]
    found: list[str] = []
    for entry in dependencies.entries:
        if isinstance(entry, Under):
            names = "|".join(escape(n) for n in entry.names)
            found.append(f"^{escape(entry.base)}/({names})/")
        elif isinstance(entry, VarFiles):
            found += names_regexes(entry.directory, entry.names)
        elif entry.endswith("/"):
            found.append(dir_regex(entry))
        elif not matches(found, entry):
            found.append(file_regex(entry))
    return list(dict.fromkeys(found))


def compute(root: Path, schedule: Schedule | None = None) -> Matchers:
    """The matchers of every scheduled playbook and every molecule scenario."""
    if schedule is None:
        schedule = load_schedule(root / "schedule.yaml", playbook_dir=root / "playbooks")
    paths = {name: playbook.path for name, playbook in schedule.playbooks.items()}
    by_playbook, by_role = summary.repository(root, paths)
    return Matchers(
        playbooks={name: regexes(d) for name, d in by_playbook.items()},
        molecule={role: regexes(d) for role, d in by_role.items()},
        notes={name: list(d.notes) for name, d in by_playbook.items()},
    )
