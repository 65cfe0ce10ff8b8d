"""Loading: ansible.cfg, YAML files as Ansible reads them, repository-relative paths."""

from __future__ import annotations

import configparser
import os
from pathlib import Path
from typing import Any

import yaml

from sctools import strict_yaml
from sctools.analysis.result import Deps

# ansible.cfg [defaults] keys that name controller-side paths: every
# playbook depends on what they point to.
CONFIG_PATH_KEYS = (
    "action_plugins", "callback_plugins", "collections_path", "collections_paths",
    "filter_plugins", "inventory_plugins", "library", "lookup_plugins", "module_utils",
    "strategy_plugins", "test_plugins", "vars_plugins",
)  # fmt: skip


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


def action_name(key: str) -> str:
    """include_role for include_role, ansible.builtin.include_role, ansible.legacy.x."""
    for prefix in ("ansible.builtin.", "ansible.legacy."):
        if key.startswith(prefix):
            return key[len(prefix) :]
    return key


def templated(value: str) -> bool:
    return "{{" in value or "{%" in value


class Loader:
    """One repository checkout: its ansible.cfg, its YAML files, paths inside it."""

    def __init__(self, root: Path):
        self.root = root.resolve()
        defaults = self._read_config()
        self.inventory_sources = [
            self.rel(self.root / s.strip())
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
            self.rel(self.root / p.strip()) + "/"
            for key in CONFIG_PATH_KEYS
            for p in defaults.get(key, "").split(":")
            if p.strip() and not p.strip().startswith(("/", "~"))
        )

    def _read_config(self) -> dict[str, str]:
        config = configparser.ConfigParser(interpolation=None, inline_comment_prefixes=(";",))
        path = self.root / "ansible.cfg"
        try:
            config.read_string(path.read_text())
        except (OSError, configparser.Error) as exc:
            raise DepsError(f"{path}: cannot read: {exc}") from exc
        return dict(config["defaults"]) if config.has_section("defaults") else {}

    def rel(self, path: Path) -> str:
        """Path relative to the root, without resolving symlinks (git tracks them)."""
        return os.path.relpath(os.path.normpath(path), self.root)

    @staticmethod
    def inside(rel: str) -> bool:
        return rel != ".." and not rel.startswith("../") and not os.path.isabs(rel)

    def load_yaml(self, rel: str) -> Any:
        try:
            return strict_yaml.load(self.root / rel, _Loader)
        except strict_yaml.StrictYAMLError as exc:
            raise DepsError(str(exc)) from exc

    def read_text(self, rel: str) -> str:
        try:
            return (self.root / rel).read_text(errors="replace")
        except OSError as exc:
            raise DepsError(f"{self.root / rel}: cannot read: {exc}") from exc

    def add_path(self, deps: Deps, rel: str) -> None:
        if (self.root / rel).is_dir():
            deps.dirs.add(rel)
        else:
            deps.files.add(rel)
