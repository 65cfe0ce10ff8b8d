"""Variables: group_vars/host_vars, hostvars read from other hosts, magic path variables."""

from __future__ import annotations

import os
import re
from pathlib import Path

from sctools.analysis.inventory import Inventory
from sctools.analysis.loader import DepsError, Loader, templated
from sctools.analysis.result import Deps
from sctools.images import FAMILY_NAMED, family_inputs

# Magic variables that make a path in the repository out of a templated one.
MAGIC_PATH = re.compile(r"""\{\{\s*(playbook_dir|role_path|inventory_dir)\s*\}\}([^\s'"{}:,;]*)""")
MAGIC_MENTION = re.compile(r"\b(playbook_dir|role_path|inventory_dir)\b")
FILE_LOOKUP = re.compile(
    r"""(?:lookup|query|q)\(\s*['"](?:ansible\.builtin\.)?"""
    r"""(?:file|template|fileglob|first_found|vars_file)['"]\s*,\s*['"]([^'"]+)['"]"""
)

# lookup('image_tag', 'zuul'): the tag of image families, from their inputs
# (plugins/lookup/image_tag.py). The arguments up to the closing
# parenthesis; quotes may be escaped (inside a YAML double-quoted string).
IMAGE_TAG_LOOKUP = re.compile(
    r"""\b(?:lookup|query|q)\(\s*\\?['"](?:ansible\.legacy\.)?image_tag\\?['"]([^)]*)\)"""
)
QUOTED_TERM = re.compile(r"""\A\\?(['"])([^'"\\]*)\\?\1\Z""")


def image_tag_families(arguments: str) -> list[str] | None:
    """The families an image_tag lookup names; None when one is not a literal.

    arguments: what follows the plugin's name, e.g. ", 'zuul', wantlist=True".
    """
    families = []
    for piece in arguments.split(","):
        piece = piece.strip()
        if not piece or re.match(r"\A\w+\s*=", piece):  # keyword: wantlist=True
            continue
        term = QUOTED_TERM.match(piece)
        if term is None:
            return None
        families.append(term.group(2))
    return families or None


class Variables(Loader):
    """Which group_vars and host_vars count, and what a file's text reads."""

    def __init__(self, root: Path, inventory: Inventory | None = None):
        super().__init__(root)
        self._inventory = inventory
        self._keys_cache: dict[str, set[str]] = {}

    @property
    def inventory(self) -> Inventory:
        if self._inventory is None:
            if not self.inventory_sources:
                raise DepsError(f"{self.root / 'ansible.cfg'}: [defaults] inventory is not set")
            self._inventory = Inventory(self.root, self.inventory_sources)
        return self._inventory

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
                target = self.rel(Path(os.path.realpath(self.root / link)))
                if (self.root / link).is_dir() and self.inside(target):
                    roots.append((link, target))
        return roots

    def var_files(self, target: str, name: str) -> list[str]:
        """Existing files that hold the variables of one group or host."""
        base = self.root / target
        found = [base / name] if (base / name).is_file() else []
        found += [base / f"{name}{ext}" for ext in (".yml", ".yaml", ".json")]
        found += sorted((base / name).rglob("*")) if (base / name).is_dir() else []
        return [self.rel(f) for f in found if f.is_file()]

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
                self.scan_text(deps, rel)
            grew = False
            for kind, target in roots:
                for name in sorted(every[kind] - counted[kind]):
                    if any(deps.hostvars & self.var_keys(f) for f in self.var_files(target, name)):
                        counted[kind].add(name)
                        grew = True
            if not new and not grew:
                return

    def cross_host(self, deps: Deps, why: str) -> None:
        if not deps.all_vars:
            deps.notes.append(f"{why}: the variables of every group and host count")
        deps.all_vars = True

    def scan_text(self, deps: Deps, rel: str, role: str | None = None) -> None:
        """Record the hostvars a file reads and the repository paths it names.

        Paths: `{{ playbook_dir }}/...`, `{{ role_path }}/...`,
        `{{ inventory_dir }}/...` and lookups of literal paths that leave the
        role. Any other use of those variables makes every file count.
        """
        text = self.read_text(rel)
        if rel.endswith((".yml", ".yaml")):
            text = re.sub(r"(?m)^\s*#.*$", "", text)  # comments say nothing about code
        bases = [(self.root / rel).parent]
        if role:
            bases += [self.root / role / sub for sub in ("files", "templates", "vars")]
        for match in FILE_LOOKUP.finditer(text):
            path = match.group(1)
            if ".." in path and not templated(path):
                for base in bases:
                    target = self.rel(base / path)
                    if self.inside(target):
                        self.add_path(deps, target)
        for match in IMAGE_TAG_LOOKUP.finditer(text):
            self.image_tag_inputs(deps, rel, image_tag_families(match.group(1)))
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
                target = self.rel(self.root / folder / suffix)
                if self.inside(target):
                    self.add_path(deps, target)
        if len(MAGIC_MENTION.findall(text)) > len(paths):
            deps.everything = True
            deps.notes.append(
                f"{rel}: playbook_dir, role_path or inventory_dir used other than as "
                "'{{ var }}/path': every file counts"
            )
        for match in re.finditer(r"\bhostvars\b", text):
            name = hostvar_name(text, match.start())
            if name is None:
                self.cross_host(deps, f"{rel}: hostvars read in a way not understood")
            else:
                deps.hostvars.add(name)

    def image_tag_inputs(self, deps: Deps, rel: str, families: list[str] | None) -> None:
        """Count the inputs of the image families a lookup in rel names."""
        if families is None:
            deps.notes.append(
                f"{rel}: lookup('image_tag', ...) of a family not written as a literal: "
                "the inputs of every image family count"
            )
            families = sorted(FAMILY_NAMED)
        for name in families:
            if name not in FAMILY_NAMED:
                raise DepsError(
                    f"{self.root / rel}: lookup('image_tag', {name!r}): no such image family, "
                    f"one of: {', '.join(sorted(FAMILY_NAMED))}"
                )
            # A trailing slash is a directory, whether or not it exists yet.
            for path in family_inputs(FAMILY_NAMED[name]):
                if path.endswith("/"):
                    deps.dirs.add(path.rstrip("/"))
                else:
                    deps.files.add(path)


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
