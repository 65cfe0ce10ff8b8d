"""Playbooks: plays, the playbooks they import, the hosts they target; molecule scenarios."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from sctools.analysis.loader import DepsError, action_name, templated
from sctools.analysis.result import Deps, merge
from sctools.analysis.tasks import Tasks

# Resources Ansible looks up beside a playbook (roles/ resolves per role).
PLAYBOOK_LOCAL_DIRS = (
    "action_plugins", "files", "filter_plugins", "handlers", "library", "lookup_plugins",
    "module_utils", "tasks", "templates", "test_plugins", "vars",
)  # fmt: skip
TASK_SECTIONS = ("pre_tasks", "tasks", "post_tasks", "handlers")


class Analyzer(Tasks):
    """Analyses the playbooks of one repository checkout (see the package doc)."""

    def global_files(self) -> list[str]:
        """Files every playbook depends on: configuration, inventory, controller code."""
        links = [root for root, _ in self.vars_roots() if (self.root / root).is_symlink()]
        return sorted({"ansible.cfg", *self.inventory_sources, *links, *self.config_paths})

    def playbook_deps(self, rel: str) -> Deps:
        """Everything the outcome of the playbook at rel (repository-relative) depends on."""
        deps = self._playbook(rel, frozenset())
        for role in sorted(deps.roles):
            merge(deps, self.role_deps(role))
        for suffix in sorted(deps.playbook_paths):
            target = self.rel(self.root / os.path.dirname(rel) / suffix)
            if self.inside(target) and target != ".":
                self.add_path(deps, target)
            elif target == ".":
                deps.everything = True
                deps.notes.append(f"{rel}: '{{{{ playbook_dir }}}}/{suffix}' is the whole checkout")
        self.resolve_vars(deps, os.path.dirname(rel))
        return deps

    def _playbook(self, rel: str, seen: frozenset[str]) -> Deps:
        deps = Deps(files={rel})
        path = self.root / rel
        if rel in seen:
            return deps
        near = path.parent
        plays = self.load_yaml(rel)
        if not isinstance(plays, list):
            raise DepsError(f"{path}: a playbook must be a list of plays")
        self.scan_text(deps, rel)
        for number, play in enumerate(plays, 1):
            where = f"{rel}: play {number}"
            if not isinstance(play, dict):
                raise DepsError(f"{path}: play {number}: must be a mapping")
            if self._import_playbook(deps, play, near, where, seen | {rel}):
                continue
            self._targets(deps, play.get("hosts"), where)
            for entry in play.get("roles") or []:
                self.add_role(deps, entry, near, f"{where}: roles")
            for section in TASK_SECTIONS:
                self.scan_tasks(deps, play.get(section), rel, near, None)
            for entry in play.get("vars_files") or []:
                for value in entry if isinstance(entry, list) else [entry]:
                    self.follow(deps, value, [near], None)
        deps.dirs |= {self.rel(near / sub) for sub in PLAYBOOK_LOCAL_DIRS}
        return deps

    def _import_playbook(
        self, deps: Deps, play: dict[str, Any], near: Path, where: str, seen: frozenset[str]
    ) -> bool:
        """Follow the playbook a play imports; False if the play imports none."""
        imported = next((v for k, v in play.items() if action_name(k) == "import_playbook"), None)
        if imported is None:
            return False
        target = self.rel(near / str(imported))
        if templated(str(imported)) or not self.inside(target):
            deps.everything = True
            deps.notes.append(f"{where}: import_playbook {imported!r}: every file counts")
        else:
            merge(deps, self._playbook(target, seen))
        return True

    def scenario_deps(
        self, role: str, scenario: str = "default", playbooks: tuple[str, ...] | None = None
    ) -> Deps:
        """A role's molecule scenario: the role and every role its playbooks use.

        With `playbooks` (file names, e.g. ("converge.yml",)) only those
        playbooks of the scenario count, and the role itself only if they
        apply it: what the scenario converges, not what it prepares.
        """
        deps = Deps()
        if playbooks is None:
            merge(deps, self.role_deps(role))
        self.molecule_project = str(self.root / role)
        directory = self.root / role / "molecule" / scenario
        files = sorted(directory.glob("*.y*ml")) if directory.is_dir() else []
        for file in [f for f in files if playbooks is None or f.name in playbooks]:
            rel = self.rel(file)
            plays = self.load_yaml(rel)
            for number, play in enumerate(plays if isinstance(plays, list) else [], 1):
                if not isinstance(play, dict):
                    continue
                # A shared prepare (tests/molecule/) counts with what it uses.
                if self._import_playbook(deps, play, file.parent, rel, frozenset({rel})):
                    continue
                for entry in play.get("roles") or []:
                    self.add_role(deps, entry, self.root, f"{rel}: play {number}: roles")
                for section in TASK_SECTIONS:
                    self.scan_tasks(deps, play.get(section), rel, self.root, None)
        self.molecule_project = None
        for other in sorted(deps.roles):
            merge(deps, self.role_deps(other))
        return deps

    def _targets(self, deps: Deps, hosts: Any, where: str) -> None:
        deps.groups.add("all")  # group_vars/all applies even to the implicit localhost
        for pattern in hosts if isinstance(hosts, list) else [hosts]:
            if not isinstance(pattern, str) or templated(pattern):
                deps.notes.append(
                    f"{where}: hosts {hosts!r} is not a plain pattern: every host counts"
                )
                deps.hosts |= set(self.inventory.hosts) | {"localhost"}
                deps.groups |= self.inventory.groups
                continue
            matched = self.inventory.match(pattern)
            deps.hosts |= matched
            for host in matched:
                deps.groups |= self.inventory.hosts.get(host, set())
            # Groups named in the pattern count even while they have no host
            # (not those it excludes: their hosts are never touched).
            for word in re.split(r"[:,]", pattern):
                name = word.strip().lstrip("&")
                if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                    deps.groups.add(name)
