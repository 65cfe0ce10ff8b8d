"""What a playbook's outcome depends on: a static analysis of the repository.

For one playbook it collects, by reading YAML (nothing is executed):

- the playbook, the playbooks it imports and the task or vars files its
  plays name;
- every role it applies (`roles:`, include_role, import_role, in the
  playbook and, recursively, in the roles' tasks and handlers) and the
  roles those depend on (meta/main.yml `dependencies:`);
- the inventory groups and hosts its plays target, evaluated by Ansible's
  own InventoryManager over the production inventory named in ansible.cfg,
  so that their group_vars and host_vars count;
- the group_vars/host_vars of other hosts when the code reads them
  (`hostvars[...]['name']`, `extract(hostvars, 'name')`): the files that
  define such a variable count too;
- repository paths the code names: `{{ playbook_dir }}/...`,
  `{{ role_path }}/...`, `{{ inventory_dir }}/...`, lookups and includes of
  literal paths that leave the role, and words of commands (command, shell,
  pip...) that are paths of the checkout, where run-all starts Ansible.

Where the analysis cannot know, it over-includes and says so in `notes`:
a templated role name means every role, a templated host pattern every
host, hostvars read in a way it cannot parse (or delegate_to another host,
group_by, add_host) the variables of every group and host, another use of
playbook_dir/role_path/inventory_dir every file. A templated path is
assumed to stay inside the role's or the playbook's own search path (both
count already); a literal path that leaves it is followed.
"""

from __future__ import annotations

import configparser
import os
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from sctools import strict_yaml

# The role subdirectories Ansible reads (always matched, even before they
# exist). A role's molecule/ scenarios and its Markdown files never change
# what a playbook does; anything else found in a role counts too.
ROLE_CODE_DIRS = (
    "action_plugins", "defaults", "files", "filter_plugins", "handlers", "library",
    "lookup_plugins", "meta", "module_utils", "tasks", "templates", "test_plugins", "vars",
)  # fmt: skip
ROLE_NON_CODE = ("molecule",)
# Resources Ansible looks up beside a playbook (roles/ resolves per role).
PLAYBOOK_LOCAL_DIRS = (
    "action_plugins", "files", "filter_plugins", "handlers", "library", "lookup_plugins",
    "module_utils", "tasks", "templates", "test_plugins", "vars",
)  # fmt: skip
# ansible.cfg [defaults] keys that name controller-side paths: every
# playbook depends on what they point to.
CONFIG_PATH_KEYS = (
    "action_plugins", "callback_plugins", "collections_path", "collections_paths",
    "filter_plugins", "inventory_plugins", "library", "lookup_plugins", "module_utils",
    "strategy_plugins", "test_plugins", "vars_plugins",
)  # fmt: skip
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}
TASK_SECTIONS = ("pre_tasks", "tasks", "post_tasks", "handlers")
BLOCK_SECTIONS = ("block", "rescue", "always")
SRC_ACTIONS = {"template", "copy", "script", "unarchive", "assemble", "patch", "synchronize"}
CROSS_HOST_ACTIONS = {"group_by", "add_host"}
# Commands may name repository files relative to where ansible-playbook runs
# (the checkout's top, for run-all): such words count.
COMMAND_ACTIONS = {"command", "shell", "raw", "expect", "pip"}
# Magic variables that make a path in the repository out of a templated one.
MAGIC_PATH = re.compile(r"""\{\{\s*(playbook_dir|role_path|inventory_dir)\s*\}\}([^\s'"{}:,;]*)""")
MAGIC_MENTION = re.compile(r"\b(playbook_dir|role_path|inventory_dir)\b")
FILE_LOOKUP = re.compile(
    r"""(?:lookup|query|q)\(\s*['"](?:ansible\.builtin\.)?"""
    r"""(?:file|template|fileglob|first_found|vars_file)['"]\s*,\s*['"]([^'"]+)['"]"""
)


class DepsError(Exception):
    """A file cannot be read or parsed; the message names it."""


class _Loader(strict_yaml.StrictLoader):
    """The strict loader, accepting Ansible's tags (!vault, !unsafe) as plain values."""


def _any_tag(loader: yaml.SafeLoader, _suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    assert isinstance(node, yaml.MappingNode)  # the only other kind of node
    return loader.construct_mapping(node)


_Loader.add_multi_constructor("!", _any_tag)


def _action(key: str) -> str:
    """include_role for include_role, ansible.builtin.include_role, ansible.legacy.x."""
    for prefix in ("ansible.builtin.", "ansible.legacy."):
        if key.startswith(prefix):
            return key[len(prefix) :]
    return key


# How molecule scenarios name files outside their role (e.g. the shared
# stand-ins in tests/standins/): molecule sets this to the role's directory.
MOLECULE_PROJECT = re.compile(
    r"""\{\{\s*lookup\(\s*['"]env['"]\s*,\s*['"]MOLECULE_PROJECT_DIRECTORY['"]\s*\)\s*\}\}"""
)


def _templated(value: str) -> bool:
    return "{{" in value or "{%" in value


@dataclass
class Deps:
    """Everything one playbook depends on (paths relative to the repository)."""

    files: set[str] = field(default_factory=set)
    dirs: set[str] = field(default_factory=set)
    roles: set[str] = field(default_factory=set)  # role directories
    groups: set[str] = field(default_factory=set)  # whose group_vars count
    hosts: set[str] = field(default_factory=set)  # whose host_vars count
    hostvars: set[str] = field(default_factory=set)  # variables read from other hosts
    playbook_paths: set[str] = field(default_factory=set)  # '{{ playbook_dir }}/<these>'
    all_vars: bool = False  # the group_vars and host_vars of everything count
    everything: bool = False  # every file counts
    notes: list[str] = field(default_factory=list)


class Inventory:
    """Hosts and groups of the production inventory, as Ansible evaluates them."""

    _plugins_ready = False

    def __init__(self, root: Path, sources: list[str]):
        os.environ.setdefault("ANSIBLE_HOST_PATTERN_MISMATCH", "ignore")
        os.environ.setdefault("ANSIBLE_CONFIG", str(root / "ansible.cfg"))
        from ansible.inventory.manager import InventoryManager
        from ansible.parsing.dataloader import DataLoader
        from ansible.plugins.loader import init_plugin_loader

        if not Inventory._plugins_ready:  # once per process, as ansible's CLIs do
            init_plugin_loader()
            Inventory._plugins_ready = True
        with warnings.catch_warnings():
            # Jinja warns about regex escapes in the constructed groups' tests.
            warnings.simplefilter("ignore", DeprecationWarning)
            try:
                self._manager = InventoryManager(
                    loader=DataLoader(), sources=[str(root / s) for s in sources]
                )
            except Exception as exc:  # Ansible raises many kinds; name the sources
                raise DepsError(f"inventory {', '.join(sources)}: {exc}") from exc
        self.hosts = {h.name: {g.name for g in h.get_groups()} for h in self._manager.get_hosts()}
        self.groups = set(self._manager.groups)

    def match(self, pattern: str) -> set[str]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return {h.name for h in self._manager.get_hosts(pattern)}


class Analyzer:
    """Analyses the playbooks of one repository checkout (see the module doc)."""

    def __init__(self, root: Path, inventory: Inventory | None = None):
        self.root = root.resolve()
        # The role directory while a molecule scenario is scanned (MOLECULE_PROJECT).
        self._molecule_project: str | None = None
        defaults = self._read_config()
        self.inventory_sources = [
            self._rel(self.root / s.strip())
            for s in defaults.get("inventory", "").split(",")
            if s.strip()
        ]
        self.roles_path = [
            self.root / p.strip()
            for p in defaults.get("roles_path", "roles").split(":")
            if p.strip()
        ]
        # Plugin paths are directories: everything below them counts.
        self.config_paths = sorted(
            self._rel(self.root / p.strip()) + "/"
            for key in CONFIG_PATH_KEYS
            for p in defaults.get(key, "").split(":")
            if p.strip() and not p.strip().startswith(("/", "~"))
        )
        self._inventory = inventory
        self._role_cache: dict[str, Deps] = {}
        self._keys_cache: dict[str, set[str]] = {}

    # -- inputs -----------------------------------------------------------------

    def _read_config(self) -> dict[str, str]:
        config = configparser.ConfigParser(interpolation=None, inline_comment_prefixes=(";",))
        path = self.root / "ansible.cfg"
        try:
            config.read_string(path.read_text())
        except (OSError, configparser.Error) as exc:
            raise DepsError(f"{path}: cannot read: {exc}") from exc
        return dict(config["defaults"]) if config.has_section("defaults") else {}

    @property
    def inventory(self) -> Inventory:
        if self._inventory is None:
            if not self.inventory_sources:
                raise DepsError(f"{self.root / 'ansible.cfg'}: [defaults] inventory is not set")
            self._inventory = Inventory(self.root, self.inventory_sources)
        return self._inventory

    def _rel(self, path: Path) -> str:
        """Path relative to the root, without resolving symlinks (git tracks them)."""
        return os.path.relpath(os.path.normpath(path), self.root)

    @staticmethod
    def _inside(rel: str) -> bool:
        return rel != ".." and not rel.startswith("../") and not os.path.isabs(rel)

    def load_yaml(self, rel: str) -> Any:
        try:
            return strict_yaml.load(self.root / rel, _Loader)
        except strict_yaml.StrictYAMLError as exc:
            raise DepsError(str(exc)) from exc

    def global_files(self) -> list[str]:
        """Files every playbook depends on: configuration, inventory, controller code."""
        links = [root for root, _ in self.vars_roots() if (self.root / root).is_symlink()]
        return sorted({"ansible.cfg", *self.inventory_sources, *links, *self.config_paths})

    # -- roles ------------------------------------------------------------------

    def all_roles(self, extra: Sequence[Path] = ()) -> list[str]:
        found = set()
        for base in [*extra, *self.roles_path]:
            if base.is_dir():
                found |= {self._rel(p) for p in base.iterdir() if (p / "tasks").is_dir()}
        return sorted(found)

    def find_role(self, name: str, near: Path) -> str | None:
        """The role directory for a name (or a path), searched as Ansible does."""
        if "/" in name:
            rel = self._rel(near / name)
            return rel if self._inside(rel) else None
        for base in [near / "roles", *self.roles_path]:
            if (base / name).is_dir():
                return self._rel(base / name)
        if "." in name:  # a collection's role: it comes with requirements.txt
            return None
        return self._rel(self.roles_path[0] / name) if self.roles_path else None

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
                    self._add_role(deps, entry, near, f"{role}/{meta}")
        for sub in ("tasks", "handlers"):
            for file in sorted((path / sub).rglob("*.y*ml")) if (path / sub).is_dir() else []:
                rel = self._rel(file)
                self._scan_tasks(deps, self.load_yaml(rel), rel, near, role)
        for rel in self.role_code_files(role):
            self._scan_text(deps, rel, role)
        return deps

    def role_code_files(self, role: str) -> list[str]:
        """The files of a role that Ansible may read (not molecule/, not *.md on top)."""
        path = self.root / role
        if not path.is_dir():
            return []
        return sorted(
            self._rel(f)
            for f in path.rglob("*")
            if f.is_file()
            and f.relative_to(path).parts[0] not in ROLE_NON_CODE
            and not (len(f.relative_to(path).parts) == 1 and f.suffix == ".md")
        )

    def _add_role(self, deps: Deps, entry: Any, near: Path, where: str) -> None:
        name = entry.get("role") or entry.get("name") if isinstance(entry, dict) else entry
        if not isinstance(name, str):
            raise DepsError(f"{self.root / where.split(':')[0]}: a role without a name: {entry!r}")
        if _templated(name):
            deps.notes.append(f"{where}: templated role name {name!r}: every role counts")
            for role in self.all_roles([near / "roles"]):
                merge(deps, self.role_deps(role))
            return
        found = self.find_role(name, near)
        if found is not None:
            merge(deps, self.role_deps(found))

    # -- tasks ------------------------------------------------------------------

    def _scan_tasks(self, deps: Deps, tasks: Any, where: str, near: Path, role: str | None) -> None:
        if not isinstance(tasks, list):
            return
        here = (self.root / where).parent
        search = [here]
        if role:
            search += [self.root / role / s for s in ("tasks", "vars", "files", "templates")]
        for task in tasks:
            if not isinstance(task, dict):
                continue
            for section in BLOCK_SECTIONS:
                self._scan_tasks(deps, task.get(section), where, near, role)
            target = task.get("delegate_to")
            if isinstance(target, str) and target not in LOCAL_HOSTS:
                self._cross_host(deps, f"{where}: delegate_to {target!r}")
            for key, args in task.items():
                action = _action(key)
                if action in ("include_role", "import_role") and isinstance(args, dict):
                    self._add_role(deps, args, near, where)
                elif action in ("include_tasks", "import_tasks", "include"):
                    path = task_path(self._expand_molecule(args), "file")
                    added = self._follow(deps, path, search, role)
                    if added and (self.root / added).is_file():
                        self._scan_tasks(deps, self.load_yaml(added), added, near, role)
                        self._scan_text(deps, added, role)
                elif action == "include_vars":
                    self._follow(
                        deps, task_path(args, "file") or task_path(args, "dir"), search, role
                    )
                elif action in SRC_ACTIONS and isinstance(args, dict):
                    self._follow(deps, args.get("src"), search, role)
                elif action in CROSS_HOST_ACTIONS:
                    self._cross_host(deps, f"{where}: {key}")
                if action in COMMAND_ACTIONS:
                    self._command_words(deps, [args, task.get("args"), task.get("environment")])

    def _command_words(self, deps: Deps, values: Any) -> None:
        """Words of a command (argv, chdir, environment) that name repository paths."""
        for value in values:
            if isinstance(value, dict):
                self._command_words(deps, list(value.values()))
            elif isinstance(value, list):
                self._command_words(deps, value)
            elif isinstance(value, str):
                for word in re.split(r"[\s:=,;'\"]+", value):
                    if not word or _templated(word) or "/" not in word and "." not in word:
                        continue
                    rel = (
                        self._rel(Path(word))
                        if os.path.isabs(word)
                        else self._rel(self.root / word)
                    )
                    if self._inside(rel) and rel != "." and (self.root / rel).exists():
                        self._add_path(deps, rel)

    def _add_path(self, deps: Deps, rel: str) -> None:
        if (self.root / rel).is_dir():
            deps.dirs.add(rel)
        else:
            deps.files.add(rel)

    def _expand_molecule(self, args: Any) -> Any:
        """Task arguments with molecule's project directory filled in, in a scenario."""
        if not self._molecule_project:
            return args
        if isinstance(args, str):
            return MOLECULE_PROJECT.sub(self._molecule_project, args)
        if isinstance(args, dict):
            return {k: self._expand_molecule(v) for k, v in args.items()}
        return args

    def _follow(self, deps: Deps, value: Any, search: list[Path], role: str | None) -> str | None:
        """Add a file a task names unless it stays in the role (counted already)."""
        if not isinstance(value, str) or not value or _templated(value):
            return None  # see the module doc: templated paths stay in the search path
        if os.path.isabs(value) and not self._inside(self._rel(Path(value))):
            return None  # outside the repository (e.g. bridge's private directory)
        candidates = [self._rel(base / value) for base in search]
        rel = next((c for c in candidates if (self.root / c).exists()), candidates[0])
        if not self._inside(rel) or (role and rel.startswith(role + "/")):
            return None
        self._add_path(deps, rel)
        return rel

    # -- variables of groups and hosts ----------------------------------------------

    def vars_roots(self, playbook_dir: str | None = None) -> list[tuple[str, str]]:
        """(where Ansible looks, where the files really are) for group_vars/host_vars.

        Ansible reads group_vars/ and host_vars/ beside each inventory source
        and beside the playbook; symlinks are followed to the tracked files.
        """
        bases = {os.path.dirname(s) for s in self.inventory_sources}
        if playbook_dir is not None:
            bases.add(playbook_dir)
        roots = []
        for base in sorted(bases):
            for kind in ("group_vars", "host_vars"):
                link = os.path.normpath(os.path.join(base, kind))
                target = self._rel(Path(os.path.realpath(self.root / link)))
                if (self.root / link).is_dir() and self._inside(target):
                    roots.append((link, target))
        return roots

    def var_files(self, target: str, name: str) -> list[str]:
        """Existing files that hold the variables of one group or host."""
        base = self.root / target
        found = [base / name] if (base / name).is_file() else []
        found += [base / f"{name}{ext}" for ext in (".yml", ".yaml", ".json")]
        found += sorted((base / name).rglob("*")) if (base / name).is_dir() else []
        return [self._rel(f) for f in found if f.is_file()]

    def var_keys(self, rel: str) -> set[str]:
        if rel not in self._keys_cache:
            data = self.load_yaml(rel)
            self._keys_cache[rel] = set(data) if isinstance(data, dict) else set()
        return self._keys_cache[rel]

    def resolve_vars(self, deps: Deps, playbook_dir: str) -> None:
        """Follow hostvars to the groups and hosts whose variables are read.

        The variable files that count are scanned for hostvars too, until
        nothing new turns up.
        """
        inventory = self.inventory
        roots = [(os.path.basename(link), target) for link, target in self.vars_roots(playbook_dir)]
        scanned: set[str] = set()
        while True:
            if deps.all_vars:
                deps.groups |= inventory.groups
                deps.hosts |= set(inventory.hosts)
            counted = {"group_vars": deps.groups, "host_vars": deps.hosts}
            every = {"group_vars": inventory.groups, "host_vars": set(inventory.hosts)}
            new = sorted(
                {
                    rel
                    for kind, target in roots
                    for name in counted[kind]
                    for rel in self.var_files(target, name)
                }
                - scanned
            )
            for rel in new:
                scanned.add(rel)
                self._scan_text(deps, rel)
            grew = False
            for kind, target in roots:
                for name in sorted(every[kind] - counted[kind]):
                    if any(deps.hostvars & self.var_keys(f) for f in self.var_files(target, name)):
                        counted[kind].add(name)
                        grew = True
            if not new and not grew:
                return

    def _cross_host(self, deps: Deps, why: str) -> None:
        if not deps.all_vars:
            deps.notes.append(f"{why}: the variables of every group and host count")
        deps.all_vars = True

    def _scan_text(self, deps: Deps, rel: str, role: str | None = None) -> None:
        """Record the hostvars a file reads and the repository paths it names.

        Paths: `{{ playbook_dir }}/...`, `{{ role_path }}/...`,
        `{{ inventory_dir }}/...` and lookups of literal paths that leave the
        role. Any other use of those variables makes every file count.
        """
        try:
            text = (self.root / rel).read_text(errors="replace")
        except OSError as exc:
            raise DepsError(f"{self.root / rel}: cannot read: {exc}") from exc
        if rel.endswith((".yml", ".yaml")):
            text = re.sub(r"(?m)^\s*#.*$", "", text)  # comments say nothing about code
        bases = [(self.root / rel).parent]
        if role:
            bases += [self.root / role / sub for sub in ("files", "templates", "vars")]
        for match in FILE_LOOKUP.finditer(text):
            path = match.group(1)
            if ".." in path and not _templated(path):
                for base in bases:
                    target = self._rel(base / path)
                    if self._inside(target):
                        self._add_path(deps, target)
        paths = list(MAGIC_PATH.finditer(text))
        for match in paths:
            var, suffix = match.group(1), match.group(2).lstrip("/")
            if var == "playbook_dir":
                deps.playbook_paths.add(suffix)
                continue
            dirs = [role] if var == "role_path" and role else []
            if var == "inventory_dir":
                dirs = sorted({os.path.dirname(s) for s in self.inventory_sources})
            for folder in dirs:
                target = self._rel(self.root / folder / suffix)
                if self._inside(target):
                    self._add_path(deps, target)
        if len(MAGIC_MENTION.findall(text)) > len(paths):
            deps.everything = True
            deps.notes.append(
                f"{rel}: playbook_dir, role_path or inventory_dir used other than as "
                "'{{ var }}/path': every file counts"
            )
        for match in re.finditer(r"\bhostvars\b", text):
            name = hostvar_name(text, match.start())
            if name is None:
                self._cross_host(deps, f"{rel}: hostvars read in a way not understood")
            else:
                deps.hostvars.add(name)

    # -- playbooks ----------------------------------------------------------------

    def playbook_deps(self, rel: str) -> Deps:
        """Everything the outcome of the playbook at rel (repository-relative) depends on."""
        deps = self._playbook(rel, frozenset())
        for role in sorted(deps.roles):
            merge(deps, self.role_deps(role))
        for suffix in sorted(deps.playbook_paths):
            target = self._rel(self.root / os.path.dirname(rel) / suffix)
            if self._inside(target) and target != ".":
                self._add_path(deps, target)
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
        self._scan_text(deps, rel)
        for number, play in enumerate(plays, 1):
            where = f"{rel}: play {number}"
            if not isinstance(play, dict):
                raise DepsError(f"{path}: play {number}: must be a mapping")
            imported = next((v for k, v in play.items() if _action(k) == "import_playbook"), None)
            if imported is not None:
                target = self._rel(near / str(imported))
                if _templated(str(imported)) or not self._inside(target):
                    deps.everything = True
                    deps.notes.append(f"{where}: import_playbook {imported!r}: every file counts")
                else:
                    merge(deps, self._playbook(target, seen | {rel}))
                continue
            self._targets(deps, play.get("hosts"), where)
            for entry in play.get("roles") or []:
                self._add_role(deps, entry, near, f"{where}: roles")
            for section in TASK_SECTIONS:
                self._scan_tasks(deps, play.get(section), rel, near, None)
            for entry in play.get("vars_files") or []:
                for value in entry if isinstance(entry, list) else [entry]:
                    self._follow(deps, value, [near], None)
        deps.dirs |= {self._rel(near / sub) for sub in PLAYBOOK_LOCAL_DIRS}
        return deps

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
        self._molecule_project = str(self.root / role)
        directory = self.root / role / "molecule" / scenario
        files = sorted(directory.glob("*.y*ml")) if directory.is_dir() else []
        for file in [f for f in files if playbooks is None or f.name in playbooks]:
            rel = self._rel(file)
            plays = self.load_yaml(rel)
            for number, play in enumerate(plays if isinstance(plays, list) else [], 1):
                if not isinstance(play, dict):
                    continue
                # A shared prepare (tests/molecule/) counts with what it uses.
                imported = next(
                    (v for k, v in play.items() if _action(k) == "import_playbook"), None
                )
                if imported is not None:
                    target = self._rel(file.parent / str(imported))
                    if _templated(str(imported)) or not self._inside(target):
                        deps.everything = True
                        deps.notes.append(f"{rel}: import_playbook {imported!r}: every file counts")
                    else:
                        deps.files.add(target)
                        merge(deps, self._playbook(target, frozenset({rel})))
                    continue
                for entry in play.get("roles") or []:
                    self._add_role(deps, entry, self.root, f"{rel}: play {number}: roles")
                for section in TASK_SECTIONS:
                    self._scan_tasks(deps, play.get(section), rel, self.root, None)
        self._molecule_project = None
        for other in sorted(deps.roles):
            merge(deps, self.role_deps(other))
        return deps

    def _targets(self, deps: Deps, hosts: Any, where: str) -> None:
        deps.groups.add("all")  # group_vars/all applies even to the implicit localhost
        for pattern in hosts if isinstance(hosts, list) else [hosts]:
            if not isinstance(pattern, str) or _templated(pattern):
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


def merge(into: Deps, other: Deps) -> None:
    into.files |= other.files
    into.dirs |= other.dirs
    into.roles |= other.roles
    into.groups |= other.groups
    into.hosts |= other.hosts
    into.hostvars |= other.hostvars
    into.playbook_paths |= other.playbook_paths
    into.all_vars |= other.all_vars
    into.everything |= other.everything
    into.notes += [n for n in other.notes if n not in into.notes]


def task_path(args: Any, key: str) -> Any:
    """The path argument of an include-like task: free-form or under key."""
    if isinstance(args, str):
        return args.split()[0] if args.split() else None
    if isinstance(args, dict):
        return args.get(key) or args.get("_raw_params")
    return None


def hostvar_name(text: str, position: int) -> str | None:
    """The variable read by the `hostvars` at position, or None if unclear.

    Understood: hostvars[HOST]['name'], hostvars[HOST].name,
    extract(hostvars, 'name') and map('extract', hostvars, 'name').
    """
    after = text[position + len("hostvars") :]
    before = text[max(0, position - 40) : position]
    extract = re.match(r"""\s*,\s*['"](\w+)['"]""", after)
    if extract and re.search(r"""extract['"]?\s*(\(|,)\s*$""", before):
        return extract.group(1)
    stripped = after.lstrip()
    if not stripped.startswith("["):
        return None
    end = _closing_bracket(stripped)
    if end is None:
        return None
    item = re.match(r"""\s*\[\s*['"](\w+)['"]\s*\]|\s*\.\s*([A-Za-z_]\w*)""", stripped[end + 1 :])
    return (item.group(1) or item.group(2)) if item else None


def _closing_bracket(text: str) -> int | None:
    """Index of the bracket that closes the one text starts with."""
    depth = 0
    for index, char in enumerate(text):
        depth += {"[": 1, "]": -1}.get(char, 0)
        if depth == 0:
            return index
    return None
