"""Per scheduled playbook and per molecule scenario: the paths its outcome depends on.

The end of the analysis, as plain data (result.Dependencies) that
sctools.matchers translates into Zuul's regexes without looking anything up.

A playbook depends on what the Analyzer finds, plus what every playbook
depends on: ansible.cfg, the production inventory, controller plugin paths
and bridge's venv (CONTROLLER_FILES). A molecule scenario depends on its
role, the roles its playbooks use (a stack scenario tests roles that have
none of their own), the controller plugin paths of molecule's Ansible
configuration, and the shared test harness.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from sctools import REPO_ROOT
from sctools.analysis.loader import CONFIG_PATH_KEYS
from sctools.analysis.playbooks import PLAYBOOK_LOCAL_DIRS, Analyzer
from sctools.analysis.result import Dependencies, Deps, Entry, Under, VarFiles
from sctools.analysis.tasks import ROLE_CODE_DIRS
from sctools.molecule_all import NESTED_DOCKER_CONFIG, runs_dockerd

# The venv bridge runs every playbook with (the bridge role builds it from
# this file): the Ansible version and its collections change every outcome.
CONTROLLER_FILES = ("requirements.txt",)
# What every molecule scenario also runs with: the shared configuration,
# the pinned toolchain, the base image recipe, the runner and its tox env,
# the tests' shared helpers and the refusals they run.
# Scenarios whose instance runs a dockerd also run with the nested-docker
# platform (NESTED_DOCKER_CONFIG).
MOLECULE_CONFIG = ".config/molecule/config.yml"
MOLECULE_HARNESS = (
    MOLECULE_CONFIG,
    "requirements.txt",
    "tests/molecule/scenario.py",
    "tools/images/",
    "tools/sctools/molecule_all.py",
    "tools/sctools/refusals.py",
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


def role_entries(analyzer: Analyzer, role: str) -> list[Entry]:
    """A role's code: the directories Ansible reads, plus anything else it holds."""
    return [Under(role, ROLE_CODE_DIRS), *analyzer.role_extras(role)]


def playbook_dependencies(analyzer: Analyzer, rel: str) -> Dependencies:
    """What can change the outcome of the playbook at rel (repository-relative)."""
    deps = analyzer.playbook_deps(rel)
    notes = tuple(deps.notes)
    if deps.everything:
        return Dependencies(everything=True, notes=notes)
    playbook_dir = str(Path(rel).parent)
    entries: list[Entry] = [*analyzer.global_files(), *CONTROLLER_FILES]
    for role in sorted(deps.roles):
        entries += role_entries(analyzer, role)
    for link, target in analyzer.vars_roots(playbook_dir):
        if deps.all_vars:
            entries.append(f"{target}/")
        else:
            names = deps.groups if link.endswith("group_vars") else deps.hosts
            entries.append(VarFiles(target, tuple(sorted(names))))
    # The directories beside the playbook, as one group when all are there.
    local = {d for d in deps.dirs if d.startswith(f"{playbook_dir}/") and d.count("/") == 1}
    if local == {f"{playbook_dir}/{sub}" for sub in PLAYBOOK_LOCAL_DIRS}:
        entries.append(Under(playbook_dir, PLAYBOOK_LOCAL_DIRS))
    else:
        local = set()
    entries += [f"{d}/" for d in sorted(deps.dirs - local)]
    entries += sorted(deps.files)
    return Dependencies(tuple(entries), notes=notes)


def molecule_plugin_paths(root: Path) -> list[str]:
    """Controller plugin directories the scenarios run with.

    Molecule writes its own ansible.cfg from .config/molecule/config.yml
    (provisioner.config_options.defaults), whose paths are relative to a
    role's directory; the repository's ansible.cfg does not count.
    """
    config = root / MOLECULE_CONFIG
    if not config.is_file():
        return []
    defaults = yaml.safe_load(config.read_text())["provisioner"]["config_options"]["defaults"]
    prefix = "${MOLECULE_PROJECT_DIRECTORY}/../../"
    return sorted(
        path.removeprefix(prefix).rstrip("/") + "/"
        for key in CONFIG_PATH_KEYS
        for path in str(defaults.get(key, "")).split(":")
        if path.startswith(prefix)
    )


def scenario_role(analyzer: Analyzer, role_name: str) -> str:
    return analyzer.find_role(role_name, analyzer.root) or f"roles/{role_name}"


def scenario_dependencies(analyzer: Analyzer, role_name: str) -> Dependencies:
    """What can change the outcome of a role's default molecule scenario."""
    role = scenario_role(analyzer, role_name)
    deps: Deps = analyzer.scenario_deps(role)
    entries: list[Entry] = [f"{role}/"]
    for other in sorted(deps.roles - {role}):
        entries += role_entries(analyzer, other)
    entries += [*molecule_plugin_paths(analyzer.root), *MOLECULE_HARNESS]
    if runs_dockerd(deps):
        entries.append(str(NESTED_DOCKER_CONFIG.relative_to(REPO_ROOT)))
    entries += sorted(deps.files)
    for shared, paths in SCENARIO_TOOLS.items():
        if shared in deps.files:
            entries += paths
    return Dependencies(tuple(entries))


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
    role = scenario_role(analyzer, role_name)
    return analyzer.scenario_deps(role, playbooks=("converge.yml",)).roles


def unconverged_roles(root: Path) -> list[str]:
    """Role directories that no molecule scenario converges: nothing tests them."""
    analyzer = Analyzer(root)
    converged: set[str] = set()
    for role in molecule_roles(root):
        converged |= converged_roles(analyzer, role)
    return sorted(set(analyzer.all_roles()) - converged)


def repository(
    root: Path, playbooks: dict[str, str]
) -> tuple[dict[str, Dependencies], dict[str, Dependencies]]:
    """For playbooks (name -> path) and every molecule scenario: their Dependencies."""
    analyzer = Analyzer(root)
    by_playbook = {name: playbook_dependencies(analyzer, rel) for name, rel in playbooks.items()}
    by_role = {role: scenario_dependencies(analyzer, role) for role in molecule_roles(root)}
    return by_playbook, by_role
