"""affected: which Zuul jobs a change must run, from the code itself.

Given changed files (as arguments, on stdin, or from a git range), prints the
infra-prod jobs whose playbook's outcome those files can change, and the
molecule scenarios that test them. The file matchers are computed from the
repository (sctools.matchers: playbooks, roles and their dependencies,
group_vars/host_vars of the targeted hosts, inventory, ansible.cfg,
requirements.txt), exactly as Zuul evaluates the generated `files:` of
zuul.d/infra-prod-jobs.yaml and zuul.d/molecule-jobs.yaml (which the
command zuul-jobs writes and checks).

As in Zuul, a change without any file (an empty range) runs every job.

Exit codes (sctools.cli, the table in README.md):
  0    done
  2    bad usage, a bad git range, or a file that cannot be parsed
  130  interrupted
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from sctools import REPO_ROOT
from sctools.analysis.loader import DepsError
from sctools.cli import Exit, ToolError, command
from sctools.matchers import Matchers, compute, matches
from sctools.schedule import ScheduleError, load_schedule
from sctools.zuul_jobs import job_name, molecule_job_name

COMMIT_MSG = "/COMMIT_MSG"  # Zuul's pseudo-file of a Gerrit change, never matched


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="affected", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "files",
        nargs="*",
        metavar="FILE",
        help="changed files, relative to the repository root (or absolute, inside it)",
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--git",
        metavar="RANGE",
        help="take the changed files from `git diff --name-only --no-renames RANGE` "
        "(e.g. origin/main...HEAD; one commit alone compares it with the working tree)",
    )
    source.add_argument(
        "--stdin", action="store_true", help="read the changed files from stdin, one per line"
    )
    parser.add_argument(
        "--owner",
        choices=["zuul", "all"],
        default="zuul",
        help="zuul: infra-prod jobs of the playbooks Zuul runs (default); "
        "all: of every playbook, as if Zuul ran them all",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.add_argument(
        "--why", action="store_true", help="also print, per job, which file matched which regex"
    )
    parser.add_argument(
        "--repo",
        type=Path,
        default=REPO_ROOT,
        help="the repository checkout to analyse (default: the one this tool lives in)",
    )
    args = parser.parse_args(argv)
    if not (args.files or args.git or args.stdin):
        parser.error("name the changed files: FILE..., --git RANGE or --stdin")
    if args.files and (args.git or args.stdin):
        parser.error("FILE arguments cannot be combined with --git or --stdin")
    return args


def changed_files(args: argparse.Namespace) -> list[str]:
    if args.stdin:
        names = sys.stdin.read().splitlines()
    elif args.git:
        result = subprocess.run(
            ["git", "-C", str(args.repo), "diff", "--name-only", "--no-renames", args.git],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise ValueError(f"git diff {args.git}: {result.stderr.strip()}")
        names = result.stdout.splitlines()
    else:
        names = args.files
    stripped = [n.strip() for n in names if n.strip() and n.strip() != COMMIT_MSG]
    # The matchers compare plain repository paths: any other spelling of a
    # path would match nothing and answer "none" without a word.
    return list(dict.fromkeys(repo_path(n, args.repo) for n in stripped))


def repo_path(name: str, repo: Path) -> str:
    """A changed file as the matchers see it: relative to `repo`, normalised.

    `a//b`, `./a` and `a/../b` become `a/b`, `a` and `b`; an absolute path
    inside the repository becomes relative. A path outside it (absolute, or
    leaving it with `..`) or the repository itself raises ValueError.
    """
    path = os.path.normpath(name)
    if os.path.isabs(path):
        # Symlinks resolved on both sides, but not the file's own: git tracks
        # a symlink as the link itself.
        parent, base = os.path.split(path)
        path = os.path.join(os.path.realpath(parent), base)
        path = os.path.relpath(path, os.path.realpath(repo))
    if path == ".." or path.startswith("../"):
        raise ValueError(f"{name}: outside the repository {repo}")
    if path == ".":
        raise ValueError(f"{name}: the repository itself, not a file in it")
    return path


def affected(matchers: Matchers, files: list[str], playbooks: list[str]) -> dict:
    """What runs for a change to these files (all of it when there is none, as in Zuul)."""

    def hits(regexes: list[str]) -> dict[str, str]:
        found = {}
        for path in files:
            regex = next((r for r in regexes if matches([r], path)), None)
            if regex is not None:
                found[path] = regex
        return found

    infra_prod: dict[str, dict[str, str]] = {}
    molecule: dict[str, dict[str, str]] = {}
    result = {"files": files, "infra_prod": infra_prod, "molecule": molecule}
    for name in playbooks:
        found = hits(matchers.playbooks[name])
        if found or not files:
            infra_prod[job_name(name)] = found
    for role, regexes in matchers.molecule.items():
        found = hits(regexes)
        if found or not files:
            molecule[f"{role}/default"] = found
    return result


def print_text(result: dict, why: bool) -> None:
    if not result["files"]:
        print("no changed file: as in Zuul, every job runs")
    sections = (
        ("infra-prod jobs (deploy pipeline)", "infra_prod", lambda k: k),
        (
            "molecule scenarios (check and gate)",
            "molecule",
            lambda k: f"{k}  ({molecule_job_name(k.split('/')[0])})",
        ),
    )
    for title, key, label in sections:
        print(f"{title}:" if result[key] else f"{title}: none")
        for name, found in result[key].items():
            print(f"  {label(name)}")
            for path, regex in found.items() if why else ():
                print(f"      {path}  ~  {regex}")


@command("affected")
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    repo = args.repo.resolve()
    try:
        schedule = load_schedule(repo / "schedule.yaml", playbook_dir=repo / "playbooks")
        matchers = compute(repo, schedule)
        files = changed_files(args)
    except (ScheduleError, DepsError, ValueError, OSError) as exc:
        raise ToolError(str(exc), Exit.USAGE) from exc
    playbooks = [
        n for n in schedule.order() if args.owner == "all" or schedule.playbooks[n].owner == "zuul"
    ]
    result = affected(matchers, files, playbooks)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_text(result, args.why)
    for name in playbooks:
        for note in matchers.notes[name]:
            print(f"affected: note: {name}: {note}", file=sys.stderr)
    return Exit.OK


if __name__ == "__main__":
    sys.exit(main())
