"""Inventory: hosts and groups of the production inventory, as Ansible evaluates them."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

from sctools.analysis.loader import DepsError


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
