"""Tasks and includes: task lists, the actions that name other files, roles.

A task list is walked once; each task's action is looked up in
ACTION_HANDLERS (its short name: `ansible.builtin.` and `ansible.legacy.`
are dropped) and a handler records what that action makes the outcome
depend on. An action without a handler (debug, apt, a collection's module)
adds nothing; blocks and `delegate_to` are handled for every task.
Roles live here too: include_role and import_role are includes, and a
role is its task files.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sctools.analysis.inventory import Inventory
from sctools.analysis.loader import DepsError, action_name, templated
from sctools.analysis.result import Deps, merge
from sctools.analysis.variables import Variables

# The role subdirectories Ansible reads (always matched, even before they
# exist). A role's molecule/ scenarios and its Markdown files never change
# what a playbook does; anything else found in a role counts too.
ROLE_CODE_DIRS = (
    "action_plugins", "defaults", "files", "filter_plugins", "handlers", "library",
    "lookup_plugins", "meta", "module_utils", "tasks", "templates", "test_plugins", "vars",
)  # fmt: skip
ROLE_NON_CODE = ("molecule",)
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}
BLOCK_SECTIONS = ("block", "rescue", "always")
SRC_ACTIONS = ("template", "copy", "script", "unarchive", "assemble", "patch", "synchronize")
CROSS_HOST_ACTIONS = ("group_by", "add_host")
# Commands may name repository files relative to where ansible-playbook runs
# (the checkout's top, for run-all): such words count.
COMMAND_ACTIONS = ("command", "shell", "raw", "expect", "pip")
# How molecule scenarios name files outside their role (e.g. the shared
# stand-ins in tests/standins/): molecule sets this to the role's directory.
MOLECULE_PROJECT = re.compile(
    r"""\{\{\s*lookup\(\s*['"]env['"]\s*,\s*['"]MOLECULE_PROJECT_DIRECTORY['"]\s*\)\s*\}\}"""
)


@dataclass(frozen=True)
class Task:
    """One task being scanned, and where it is."""

    deps: Deps  # what the scan collects
    body: dict[str, Any]  # the task as written
    key: str  # the action as written (e.g. ansible.builtin.include_role)
    where: str  # the file, for notes and errors
    near: Path  # the directory whose roles/ is searched first
    role: str | None  # the role the task belongs to
    search: list[Path]  # where a relative path is looked for


def task_path(args: Any, key: str) -> Any:
    """The path argument of an include-like task: free-form or under key."""
    if isinstance(args, str):
        return args.split()[0] if args.split() else None
    if isinstance(args, dict):
        return args.get(key) or args.get("_raw_params")
    return None


class Tasks(Variables):
    """Task lists, the files their actions name, and the roles they apply."""

    def __init__(self, root: Path, inventory: Inventory | None = None):
        super().__init__(root, inventory)
        # The role directory while a molecule scenario is scanned (MOLECULE_PROJECT).
        self.molecule_project: str | None = None
        self._role_cache: dict[str, Deps] = {}

    # -- task lists ---------------------------------------------------------------

    def scan_tasks(self, deps: Deps, tasks: Any, where: str, near: Path, role: str | None) -> None:
        if not isinstance(tasks, list):
            return
        search = [(self.root / where).parent]
        if role:
            search += [self.root / role / s for s in ("tasks", "vars", "files", "templates")]
        for body in tasks:
            if not isinstance(body, dict):
                continue
            for section in BLOCK_SECTIONS:
                self.scan_tasks(deps, body.get(section), where, near, role)
            target = body.get("delegate_to")
            if isinstance(target, str) and target not in LOCAL_HOSTS:
                self.cross_host(deps, f"{where}: delegate_to {target!r}")
            for key, args in body.items():
                handler = ACTION_HANDLERS.get(action_name(key))
                if handler is not None:
                    handler(self, Task(deps, body, key, where, near, role, search), args)

    def command_words(self, deps: Deps, values: Any) -> None:
        """Words of a command (argv, chdir, environment) that name repository paths."""
        for value in values:
            if isinstance(value, dict):
                self.command_words(deps, list(value.values()))
            elif isinstance(value, list):
                self.command_words(deps, value)
            elif isinstance(value, str):
                for word in re.split(r"[\s:=,;'\"]+", value):
                    if not word or templated(word) or "/" not in word and "." not in word:
                        continue
                    rel = (
                        self.rel(Path(word)) if os.path.isabs(word) else self.rel(self.root / word)
                    )
                    if self.inside(rel) and rel != "." and (self.root / rel).exists():
                        self.add_path(deps, rel)

    def expand_molecule(self, args: Any) -> Any:
        """Task arguments with molecule's project directory filled in, in a scenario."""
        if not self.molecule_project:
            return args
        if isinstance(args, str):
            return MOLECULE_PROJECT.sub(self.molecule_project, args)
        if isinstance(args, dict):
            return {k: self.expand_molecule(v) for k, v in args.items()}
        return args

    def follow(self, deps: Deps, value: Any, search: list[Path], role: str | None) -> str | None:
        """Add a file a task names unless it stays in the role (counted already)."""
        if not isinstance(value, str) or not value or templated(value):
            return None  # see the package doc: templated paths stay in the search path
        if os.path.isabs(value) and not self.inside(self.rel(Path(value))):
            return None  # outside the repository (e.g. bridge's private directory)
        candidates = [self.rel(base / value) for base in search]
        rel = next((c for c in candidates if (self.root / c).exists()), candidates[0])
        if not self.inside(rel) or (role and rel.startswith(role + "/")):
            return None
        self.add_path(deps, rel)
        return rel

    # -- roles ----------------------------------------------------------------------

    def all_roles(self, extra: Sequence[Path] = ()) -> list[str]:
        found = set()
        for base in [*extra, *self.roles_path]:
            if base.is_dir():
                found |= {self.rel(p) for p in base.iterdir() if (p / "tasks").is_dir()}
        return sorted(found)

    def find_role(self, name: str, near: Path) -> str | None:
        """The role directory for a name (or a path), searched as Ansible does."""
        if "/" in name:
            rel = self.rel(near / name)
            return rel if self.inside(rel) else None
        for base in [near / "roles", *self.roles_path]:
            if (base / name).is_dir():
                return self.rel(base / name)
        if "." in name:  # a collection's role: it comes with requirements.txt
            return None
        return self.rel(self.roles_path[0] / name) if self.roles_path else None

    def role_deps(self, role: str) -> Deps:
        """A role, its dependencies and what its tasks include (memoised)."""
        if role in self._role_cache:
            return self._role_cache[role]
        deps = Deps(roles={role})
        self._role_cache[role] = deps  # a dependency cycle stops here
        path = self.root / role
        near = path.parent.parent  # roles/<name> -> the directory that holds roles/
        for meta in ("meta/main.yml", "meta/main.yaml"):
            if (path / meta).is_file():
                data = self.load_yaml(f"{role}/{meta}")
                entries = data.get("dependencies") if isinstance(data, dict) else None
                for entry in entries or []:
                    self.add_role(deps, entry, near, f"{role}/{meta}")
        for sub in ("tasks", "handlers"):
            for file in sorted((path / sub).rglob("*.y*ml")) if (path / sub).is_dir() else []:
                rel = self.rel(file)
                self.scan_tasks(deps, self.load_yaml(rel), rel, near, role)
        for rel in self.role_code_files(role):
            self.scan_text(deps, rel, role)
        return deps

    def role_code_files(self, role: str) -> list[str]:
        """The files of a role that Ansible may read (not molecule/, not *.md on top)."""
        path = self.root / role
        if not path.is_dir():
            return []
        return sorted(
            self.rel(f)
            for f in path.rglob("*")
            if f.is_file()
            and f.relative_to(path).parts[0] not in ROLE_NON_CODE
            and not (len(f.relative_to(path).parts) == 1 and f.suffix == ".md")
        )

    def role_extras(self, role: str) -> list[str]:
        """What a role holds besides ROLE_CODE_DIRS and ROLE_NON_CODE ("dir/" or file)."""
        path = self.root / role
        extras = []
        for entry in sorted(path.iterdir()) if path.is_dir() else []:
            if entry.name in ROLE_CODE_DIRS or entry.name in ROLE_NON_CODE:
                continue
            if entry.is_dir():
                extras.append(f"{role}/{entry.name}/")
            elif entry.suffix != ".md":
                extras.append(f"{role}/{entry.name}")
        return extras

    def add_role(self, deps: Deps, entry: Any, near: Path, where: str) -> None:
        name = entry.get("role") or entry.get("name") if isinstance(entry, dict) else entry
        if not isinstance(name, str):
            raise DepsError(f"{self.root / where.split(':')[0]}: a role without a name: {entry!r}")
        if templated(name):
            deps.notes.append(f"{where}: templated role name {name!r}: every role counts")
            for role in self.all_roles([near / "roles"]):
                merge(deps, self.role_deps(role))
            return
        found = self.find_role(name, near)
        if found is not None:
            merge(deps, self.role_deps(found))


# -- the actions: what each makes the outcome depend on ---------------------------------

Handler = Callable[[Tasks, Task, Any], None]


def _role(scanner: Tasks, task: Task, args: Any) -> None:
    if isinstance(args, dict):
        scanner.add_role(task.deps, args, task.near, task.where)


def _include_tasks(scanner: Tasks, task: Task, args: Any) -> None:
    path = task_path(scanner.expand_molecule(args), "file")
    added = scanner.follow(task.deps, path, task.search, task.role)
    if added and (scanner.root / added).is_file():
        scanner.scan_tasks(task.deps, scanner.load_yaml(added), added, task.near, task.role)
        scanner.scan_text(task.deps, added, task.role)


def _include_vars(scanner: Tasks, task: Task, args: Any) -> None:
    path = task_path(args, "file") or task_path(args, "dir")
    scanner.follow(task.deps, path, task.search, task.role)


def _src(scanner: Tasks, task: Task, args: Any) -> None:
    if isinstance(args, dict):
        scanner.follow(task.deps, args.get("src"), task.search, task.role)


def _cross_host(scanner: Tasks, task: Task, _args: Any) -> None:
    scanner.cross_host(task.deps, f"{task.where}: {task.key}")


def _command(scanner: Tasks, task: Task, args: Any) -> None:
    scanner.command_words(task.deps, [args, task.body.get("args"), task.body.get("environment")])


# Short action name -> its handler (as ansible-lint's runner maps actions).
ACTION_HANDLERS: dict[str, Handler] = {
    "include_role": _role,
    "import_role": _role,
    "include_tasks": _include_tasks,
    "import_tasks": _include_tasks,
    "include": _include_tasks,
    "include_vars": _include_vars,
    **dict.fromkeys(SRC_ACTIONS, _src),
    **dict.fromkeys(CROSS_HOST_ACTIONS, _cross_host),
    **dict.fromkeys(COMMAND_ACTIONS, _command),
}
