"""Benchmark of `affected`: recall and the number of deploy jobs per change.

For every file of the repository (`git ls-files`, plus untracked files not
ignored), change it alone and compute the infra-prod jobs Zuul would run,
from the generated matchers (sctools.matchers, every playbook counted as if
Zuul ran it). Prints:

- recall: of the (file, playbook) pairs where the file can change the
  playbook's outcome, the share whose job runs. Must be 100 %.
- the mean number of infra-prod jobs per single-file change, against the
  monolith, which runs every playbook for every change.

The truth comes from Ansible itself, not from sctools.analysis: for each
playbook a separate process loads it with Ansible's own classes
(Playbook.load, the production InventoryManager, VariableManager.get_vars for
every targeted host, Play.compile with its roles, dynamic include_role
expanded) and records every repository file Python opens meanwhile (an audit
hook). Then it templates each task's arguments with the variables of a
targeted host (so `{{ playbook_dir }}` and friends resolve) and adds the
template/copy sources Ansible's search path finds and every repository path
the arguments name. ansible.cfg and requirements.txt (bridge's venv) are
added to every playbook. What this truth cannot see, the analysis must not
miss either: a lookup inside a template, a variable read through hostvars;
tests/unit/test_affected.py covers those.

    .venv/bin/python tests/perf/bench_affected.py [--verbose]

Figures only; nothing is asserted about speed. Exit status 1 when recall is
below 100 %.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONTROLLER_TRUTH = ("ansible.cfg", "requirements.txt")
SRC_ACTIONS = {"template": "templates", "copy": "files", "script": "files", "unarchive": "files"}


# -- the oracle: runs in a process of its own per playbook ---------------------


def oracle(playbook: str) -> list[str]:
    """Repository files Ansible reads, or names in task arguments, for one playbook."""
    opened: set[str] = set()

    def hook(event, args):
        if event == "open" and isinstance(args[0], str):
            opened.add(os.path.abspath(args[0]))

    os.environ.setdefault("ANSIBLE_CONFIG", str(ROOT / "ansible.cfg"))
    os.chdir(ROOT)  # run-all starts ansible-playbook in the checkout
    from ansible import constants as C
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader
    from ansible.playbook import Playbook
    from ansible.playbook.block import Block
    from ansible.playbook.role_include import IncludeRole
    from ansible.plugins.loader import init_plugin_loader
    from ansible.template import Templar
    from ansible.vars.manager import VariableManager

    init_plugin_loader()
    sys.addaudithook(hook)
    named: set[str] = set()
    loader = DataLoader()
    loader.set_basedir(str((ROOT / playbook).parent))  # as ansible-playbook does
    inventory = InventoryManager(loader=loader, sources=list(C.DEFAULT_HOST_LIST))
    variables = VariableManager(loader=loader, inventory=inventory)
    book = Playbook.load(str(ROOT / playbook), variable_manager=variables, loader=loader)

    def strings(value):
        if isinstance(value, str):
            yield value
        elif isinstance(value, dict):
            for item in value.values():
                yield from strings(item)
        elif isinstance(value, (list, tuple)):
            for item in value:
                yield from strings(item)

    def name_paths(value, on_controller: bool):
        """Absolute repository paths, and relative ones where the controller runs the task."""
        for text in strings(value):
            for word in text.replace(":", " ").replace("=", " ").split():
                if os.path.isabs(word):
                    path = os.path.normpath(word)
                elif on_controller and "/" in word:
                    path = os.path.normpath(ROOT / word)
                else:
                    continue
                if os.path.exists(path):
                    named.add(path)

    def walk(items, play, host):
        for item in items:
            if isinstance(item, Block):
                walk(item.block + item.rescue + item.always, play, host)
                continue
            task_vars = variables.get_vars(play=play, host=host, task=item)
            templar = Templar(loader=loader, variables=task_vars)
            try:
                args = templar.template(item.args)
                environment = templar.template(item.environment)
            except Exception:  # undefined facts: keep what is plain text
                args, environment = item.args, item.environment
            delegate = templar.template(item.delegate_to) if item.delegate_to else None
            on_controller = delegate in ("localhost", "127.0.0.1") or host.name == "localhost"
            action = item.action.rsplit(".", 1)[-1]
            if action != "validate_argument_spec":  # Ansible's own check names the role dir
                name_paths([args, environment], on_controller)
            if action in SRC_ACTIONS and isinstance(args.get("src"), str):
                try:
                    found = loader.path_dwim_relative_stack(
                        item.get_search_path(), SRC_ACTIONS[action], args["src"]
                    )
                    named.add(os.path.normpath(found))
                except Exception:
                    pass
            if isinstance(item, IncludeRole):
                blocks, _ = item.get_block_list(
                    play=play, variable_manager=variables, loader=loader
                )
                walk(blocks, play, host)
            elif action in ("include_tasks", "include"):
                print(f"oracle: {playbook}: dynamic include_tasks not followed", file=sys.stderr)

    for play in book.get_plays():
        hosts = inventory.get_hosts(play.hosts) or [inventory.localhost]
        for host in hosts:
            variables.get_vars(play=play, host=host)
        walk(play.compile() + play.compile_roles_handlers() + play.handlers, play, hosts[0])
    found = set()
    for path in {p for p in opened if os.path.isfile(p)} | named:
        for candidate in [path, *map(str, Path(path).parents)]:
            rel = os.path.relpath(candidate, ROOT)
            if rel.startswith("..") or rel == ".":
                continue
            if candidate == path or os.path.islink(candidate):
                found.add(rel)  # a file, or a tracked symlink on the way to it
        real = os.path.relpath(os.path.realpath(path), ROOT)
        if not real.startswith(".."):
            found.add(real)
    return sorted(found | set(CONTROLLER_TRUTH))


# -- the benchmark ----------------------------------------------------------------


def repository_files() -> list[str]:
    listed = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "--cached", "--others", "--exclude-standard"],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    return sorted(f for f in set(listed) if (ROOT / f).exists() or (ROOT / f).is_symlink())


def truth_for(playbook: str) -> list[str]:
    result = subprocess.run(
        [sys.executable, __file__, "--oracle", playbook],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    if result.returncode != 0:
        sys.exit(f"oracle failed for {playbook}:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout)


def covers(truth: list[str], path: str) -> bool:
    """A file the oracle named, or one under a directory it named."""
    return any(path == t or path.startswith(t.rstrip("/") + "/") for t in truth)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--verbose", action="store_true", help="list over-included pairs too")
    parser.add_argument("--oracle", metavar="PLAYBOOK", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.oracle:
        print(json.dumps(oracle(args.oracle)))
        return 0

    sys.path.insert(0, str(ROOT / "tools"))
    from sctools.matchers import compute, matches
    from sctools.schedule import load_schedule

    schedule = load_schedule(ROOT / "schedule.yaml", playbook_dir=ROOT / "playbooks")
    started = time.monotonic()
    matchers = compute(ROOT, schedule)
    compute_seconds = time.monotonic() - started
    truths = {name: truth_for(p.path) for name, p in schedule.playbooks.items()}
    files = repository_files()
    zuul_owned = {n for n, p in schedule.playbooks.items() if p.owner == "zuul"}

    pairs = hit = predicted_total = zuul_total = 0
    misses, extras = [], []
    for path in files:
        truth = {n for n, t in truths.items() if covers(t, path)}
        predicted = {n for n, r in matchers.playbooks.items() if matches(r, path)}
        pairs += len(truth)
        hit += len(truth & predicted)
        predicted_total += len(predicted)
        zuul_total += len(predicted & zuul_owned)
        misses += [(path, n) for n in sorted(truth - predicted)]
        extras += [(path, n) for n in sorted(predicted - truth)]
    count = len(files)
    recall = 100.0 * hit / pairs if pairs else 100.0
    print(f"files: {count} (git ls-files and untracked files not ignored)")
    print(f"playbooks: {len(schedule.playbooks)} ({len(zuul_owned)} run by Zuul today)")
    print(f"matchers computed in {compute_seconds:.2f} s")
    print(
        f"recall: {recall:.1f} % ({hit} of {pairs} file-playbook pairs that can change an outcome)"
    )
    print(
        f"infra-prod jobs per single-file change: {predicted_total / count:.3f} on average "
        f"(every playbook given to Zuul); monolith: {len(schedule.playbooks)}"
    )
    print(f"  with today's owners: {zuul_total / count:.3f} (of {len(zuul_owned)} jobs)")
    changing = sum(1 for p in files if any(matches(r, p) for r in matchers.playbooks.values()))
    print(f"  files that run no infra-prod job at all: {count - changing}")
    print(
        f"over-included pairs (a job runs the oracle saw no reason for): {len(extras)}"
        + ("" if args.verbose else "; --verbose lists them")
    )
    for path, name in extras if args.verbose else []:
        print(f"  over: {path} -> infra-prod-{name}")
    for path, name in misses:
        print(f"  MISSED: {path} can change {name}, but infra-prod-{name} would not run")
    return 0 if not misses else 1


if __name__ == "__main__":
    sys.exit(main())
