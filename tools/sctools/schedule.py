"""The schedule (schedule.yaml): which playbooks run, in what order, by whom.

Parsed and validated here, at the edge; the rest of the tooling works on
the plain Schedule it returns. Errors name the file and the field.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sctools import REPO_ROOT, strict_yaml

SCHEDULE_FILE = REPO_ROOT / "schedule.yaml"
PLAYBOOK_DIR = REPO_ROOT / "playbooks"
OWNERS = ("cron", "zuul")
FIELDS = {"description", "depends_on", "timeout", "owner"}


class ScheduleError(Exception):
    """The schedule is malformed; the message names file and field."""


@dataclass(frozen=True)
class Playbook:
    name: str
    description: str
    depends_on: tuple[str, ...]
    timeout: int
    owner: str

    @property
    def path(self) -> str:
        """Path of the playbook relative to the repository root."""
        return f"playbooks/{self.name}.yaml"


@dataclass(frozen=True)
class Schedule:
    playbooks: dict[str, Playbook]

    def order(self) -> list[str]:
        """Names in a dependency-respecting order (stable: by name within a level)."""
        done: list[str] = []
        remaining = dict(self.playbooks)
        while remaining:
            ready = sorted(n for n, p in remaining.items() if set(p.depends_on) <= set(done))
            done += ready
            for name in ready:
                del remaining[name]
        return done

    def dependents(self, name: str) -> list[str]:
        return sorted(n for n, p in self.playbooks.items() if name in p.depends_on)


def load_schedule(path: Path = SCHEDULE_FILE, playbook_dir: Path | None = None) -> Schedule:
    where = str(path)
    try:
        data = strict_yaml.load(path)
    except strict_yaml.StrictYAMLError as exc:
        raise ScheduleError(str(exc)) from exc
    if not isinstance(data, dict) or set(data) != {"playbooks"}:
        raise ScheduleError(f"{where}: the top level must be a mapping with only 'playbooks'")
    entries = data["playbooks"]
    if not isinstance(entries, dict) or not entries:
        raise ScheduleError(f"{where}: playbooks: must be a non-empty mapping")
    playbooks = {}
    for name, entry in entries.items():
        problem = _name_problem(name)
        if problem:
            raise ScheduleError(f"{where}: playbooks: {problem}")
        field = f"playbooks.{name}"
        if not isinstance(entry, dict):
            raise ScheduleError(f"{where}: {field}: must be a mapping")
        unknown = sorted(set(entry) - FIELDS)
        if unknown:
            raise ScheduleError(f"{where}: {field}: unknown key(s) {', '.join(unknown)}")
        missing = sorted({"depends_on", "timeout", "owner"} - set(entry))
        if missing:
            raise ScheduleError(f"{where}: {field}: missing {', '.join(missing)}")
        depends_on = entry["depends_on"]
        if not isinstance(depends_on, list) or not all(isinstance(d, str) for d in depends_on):
            raise ScheduleError(f"{where}: {field}.depends_on: must be a list of playbook names")
        timeout = entry["timeout"]
        if not isinstance(timeout, int) or isinstance(timeout, bool) or timeout <= 0:
            raise ScheduleError(f"{where}: {field}.timeout: must be a positive number of seconds")
        if entry["owner"] not in OWNERS:
            raise ScheduleError(
                f"{where}: {field}.owner: '{entry['owner']}' is not one of {', '.join(OWNERS)}"
            )
        playbooks[name] = Playbook(
            name=name,
            description=str(entry.get("description", "")),
            depends_on=tuple(depends_on),
            timeout=timeout,
            owner=entry["owner"],
        )
    for name, playbook in playbooks.items():
        for dep in playbook.depends_on:
            if dep not in playbooks:
                raise ScheduleError(
                    f"{where}: playbooks.{name}.depends_on: '{dep}' is not in the schedule"
                )
    _check_cycles(where, playbooks)
    if playbook_dir is not None:
        for name in playbooks:
            if not (playbook_dir / f"{name}.yaml").is_file():
                raise ScheduleError(
                    f"{where}: playbooks.{name}: {playbook_dir / (name + '.yaml')} does not exist"
                )
    return Schedule(playbooks)


def _name_problem(name: object) -> str | None:
    """Why a name cannot be a playbook of playbooks/ (None if it can).

    run-all runs playbooks/<name>.yaml: a name that leads out of there
    would run a file nobody scheduled.
    """
    if not isinstance(name, str):
        return f"the name {name!r} is not a string (quote it)"
    if not name or "\0" in name:
        return f"the name {name!r} cannot be a file name"
    # No '..' at all, not only where it would lead out: simpler to check and to read.
    if name.startswith("/") or ".." in name.split("/"):
        return f"the name {name!r} leaves playbooks/ (an absolute path or a '..')"
    return None


def _check_cycles(where: str, playbooks: dict[str, Playbook]) -> None:
    state: dict[str, str] = {}

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == "done":
            return
        if state.get(name) == "active":
            cycle = " -> ".join([*path[path.index(name) :], name])
            raise ScheduleError(f"{where}: playbooks: dependency cycle {cycle}")
        state[name] = "active"
        for dep in playbooks[name].depends_on:
            visit(dep, [*path, name])
        state[name] = "done"

    for name in sorted(playbooks):
        visit(name, [])


def playbooks_on_disk(playbook_dir: Path = PLAYBOOK_DIR) -> set[str]:
    """Names of the runnable playbooks: playbooks/*.yaml (job playbooks live deeper)."""
    return {p.stem for p in playbook_dir.glob("*.yaml")}
