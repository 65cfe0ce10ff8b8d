"""Zuul file matchers, computed from the code: which files can change what.

For every playbook of schedule.yaml: the regexes of all files that can
change its outcome (see sctools.ansible_deps for how they are found, plus
the files every playbook depends on: ansible.cfg, the production inventory,
requirements.txt). For every role with a molecule scenario: the role, the
roles its scenario's playbooks use (a stack scenario tests roles that have
none of their own), and the shared test harness.

The regexes are what Zuul's `files:` matchers take: re2 syntax (no
lookaround), matched from the start of a path with `match`, as Zuul does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from sctools import REPO_ROOT
from sctools.ansible_deps import (
    PLAYBOOK_LOCAL_DIRS,
    ROLE_CODE_DIRS,
    ROLE_NON_CODE,
    Analyzer,
    Deps,
)
from sctools.molecule_all import NESTED_DOCKER_CONFIG, runs_dockerd
from sctools.schedule import Schedule, load_schedule

# The venv bridge runs every playbook with (the bridge role builds it from
# this file): the Ansible version and its collections change every outcome.
CONTROLLER_FILES = ("requirements.txt",)
# What every molecule scenario also runs with: the shared configuration,
# the pinned toolchain, the base image recipe, the runner and its tox env.
# Scenarios whose instance runs a dockerd also run with the nested-docker
# platform (NESTED_DOCKER_CONFIG).
MOLECULE_HARNESS = (
    ".config/molecule/config.yml",
    "requirements.txt",
    "tools/images/",
    "tools/sctools/molecule_all.py",
    "tox.ini",
)
# What shared prepare playbooks run besides Ansible code: docker_host.yml
# builds this checkout's images (images/zuul, the Zuul pin) with the images
# tool and pushes them with the registry module.
SCENARIO_TOOLS = {
    "tests/molecule/docker_host.yml": (
        "images/zuul/",
        "requirements-zuul.txt",
        "tools/sctools/buildset_registry.py",
        "tools/sctools/images.py",
        "tools/sctools/registry.py",
    ),
}
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


def role_regexes(analyzer: Analyzer, role: str, whole: bool = False) -> list[str]:
    """A role's code: the directories Ansible reads, plus anything else it holds."""
    if whole:
        return [dir_regex(role)]
    regexes = [f"^{escape(role)}/({'|'.join(ROLE_CODE_DIRS)})/"]
    path = analyzer.root / role
    for entry in sorted(path.iterdir()) if path.is_dir() else []:
        if entry.name in ROLE_CODE_DIRS or entry.name in ROLE_NON_CODE:
            continue
        if entry.is_dir():
            regexes.append(dir_regex(f"{role}/{entry.name}"))
        elif entry.suffix != ".md":
            regexes.append(file_regex(f"{role}/{entry.name}"))
    return regexes


def names_regexes(directory: str, names: set[str]) -> list[str]:
    """Regexes for the variable files of these groups or hosts in directory."""
    regexes, chunk = [], []
    for name in sorted(names):
        chunk.append(escape(name))
        if sum(len(c) + 1 for c in chunk) > MAX_ALTERNATION:
            regexes.append(chunk[:-1])
            chunk = chunk[-1:]
    regexes.append(chunk)
    return [f"^{escape(directory)}/({'|'.join(c)}){VAR_FILE_SUFFIX}" for c in regexes if c]


def deps_regexes(analyzer: Analyzer, deps: Deps, playbook_dir: str) -> list[str]:
    if deps.everything:
        return [".*"]
    regexes = [path_regex(f) for f in [*analyzer.global_files(), *CONTROLLER_FILES]]
    for role in sorted(deps.roles):
        regexes += role_regexes(analyzer, role)
    for link, target in analyzer.vars_roots(playbook_dir):
        names = deps.groups if link.endswith("group_vars") else deps.hosts
        if deps.all_vars:
            regexes.append(dir_regex(target))
        else:
            regexes += names_regexes(target, names)
    local = {d for d in deps.dirs if d.startswith(f"{playbook_dir}/") and d.count("/") == 1}
    if local == {f"{playbook_dir}/{sub}" for sub in PLAYBOOK_LOCAL_DIRS}:
        regexes.append(f"^{escape(playbook_dir)}/({'|'.join(PLAYBOOK_LOCAL_DIRS)})/")
    else:
        local = set()
    regexes += [dir_regex(d) for d in sorted(deps.dirs - local)]
    covered = list(regexes)
    regexes += [file_regex(f) for f in sorted(deps.files) if not matches(covered, f)]
    return list(dict.fromkeys(regexes))


def molecule_regexes(analyzer: Analyzer, role_name: str) -> list[str]:
    role = analyzer.find_role(role_name, analyzer.root) or f"roles/{role_name}"
    deps = analyzer.scenario_deps(role)
    regexes = role_regexes(analyzer, role, whole=True)
    for other in sorted(deps.roles - {role}):
        regexes += role_regexes(analyzer, other)
    regexes += [path_regex(p) for p in MOLECULE_HARNESS]
    if runs_dockerd(deps):
        regexes.append(file_regex(str(NESTED_DOCKER_CONFIG.relative_to(REPO_ROOT))))
    regexes += [file_regex(f) for f in sorted(deps.files) if not matches(regexes, f)]
    for shared, paths in SCENARIO_TOOLS.items():
        if shared in deps.files:
            regexes += [path_regex(p) for p in paths]
    return list(dict.fromkeys(regexes))


def molecule_roles(root: Path) -> list[str]:
    """Roles with a default molecule scenario (the ones molecule-all runs)."""
    return sorted(
        p.parents[2].name for p in (root / "roles").glob("*/molecule/default/molecule.yml")
    )


def converged_roles(analyzer: Analyzer, role_name: str) -> set[str]:
    """Role directories the converge.yml of a role's default scenario applies.

    With the roles those use (dependencies, include_role): a stack scenario
    converges several roles; what its prepare applies does not count.
    """
    role = analyzer.find_role(role_name, analyzer.root) or f"roles/{role_name}"
    return analyzer.scenario_deps(role, playbooks=("converge.yml",)).roles


def unconverged_roles(root: Path) -> list[str]:
    """Role directories that no molecule scenario converges: nothing tests them."""
    analyzer = Analyzer(root)
    converged: set[str] = set()
    for role in molecule_roles(root):
        converged |= converged_roles(analyzer, role)
    return sorted(set(analyzer.all_roles()) - converged)


def compute(root: Path, schedule: Schedule | None = None) -> Matchers:
    """The matchers of every scheduled playbook and every molecule scenario."""
    analyzer = Analyzer(root)
    if schedule is None:
        schedule = load_schedule(root / "schedule.yaml", playbook_dir=root / "playbooks")
    playbooks, notes = {}, {}
    for name, playbook in schedule.playbooks.items():
        deps = analyzer.playbook_deps(playbook.path)
        playbooks[name] = deps_regexes(analyzer, deps, str(Path(playbook.path).parent))
        notes[name] = deps.notes
    molecule = {role: molecule_regexes(analyzer, role) for role in molecule_roles(root)}
    return Matchers(playbooks=playbooks, molecule=molecule, notes=notes)
