"""What the analysis collects, and the plain data it hands on.

Deps is what the walk over playbooks, roles and tasks accumulates (merged
as it goes). Dependencies is what it ends in for one playbook or scenario:
an ordered list of paths and path groups, with nothing left to look up, so
that sctools.matchers only translates it into Zuul's regexes.
"""

from __future__ import annotations

from dataclasses import dataclass, field


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


@dataclass(frozen=True)
class Under:
    """Everything below base/<name>/, for each of names (which exist or not)."""

    base: str
    names: tuple[str, ...]


@dataclass(frozen=True)
class VarFiles:
    """The variables of these groups or hosts in a group_vars/host_vars directory.

    For a name: the file `name`, `name.yml`, `name.yaml`, `name.json` or the
    directory `name/`, whether it exists yet or not.
    """

    directory: str
    names: tuple[str, ...]


# A path ("dir/" with a trailing slash: everything below it), or a group of them.
Entry = str | Under | VarFiles


@dataclass(frozen=True)
class Dependencies:
    """What can change one playbook's or scenario's outcome, as plain data.

    `entries` in a stable order (the order of the generated matchers);
    `everything`: every file counts; `notes`: where the analysis over-included.
    """

    entries: tuple[Entry, ...] = ()
    everything: bool = False
    notes: tuple[str, ...] = ()
