"""namespaces: validate the namespace metadata, build and diff what it generates.

Every namespace describes itself in namespaces/<name>.yaml (who approves its
changes, its projects, its Zuul tenant); namespaces/_infra.yaml holds what
the infra roots own. This command validates all of them together and
aggregates them into Zuul's main.yaml and the code-review project list,
groups and ACLs (docs/namespaces.md describes the format and the outputs).

Exit codes:
  0  success (`diff`: also when there are differences, unless --exit-code)
  1  the metadata is invalid: every problem is printed (file: field: message)
     and nothing is written
  2  usage or I/O error: bad option, unreadable directory, an --out that is
     not a build directory, an unknown git revision
  3  `diff --exit-code` found differences
"""

from __future__ import annotations

import argparse
import difflib
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from sctools import REPO_ROOT, strict_yaml
from sctools.namespace_metadata import Metadata, MetadataError, is_ignored
from sctools.namespace_outputs import render, validate

NAMESPACES_DIR = REPO_ROOT / "namespaces"
# Marks a directory written by `build`: only such a directory is replaced.
MARKER = ".namespaces-build"
MARKER_TEXT = "Written by `namespaces build`; the whole directory is replaced on each build.\n"

EXIT_OK, EXIT_INVALID, EXIT_USAGE, EXIT_DIFFERENT = 0, 1, 2, 3


class UsageError(Exception):
    """A mistake in the command line or the environment (exit code 2)."""


# --- Reading ----------------------------------------------------------------------


def read_namespace_dir(directory: Path) -> tuple[dict[str, str], dict[str, str]]:
    """Every entry of a metadata directory, for validate(): (files, strays).

    files: each regular file, bare name -> text (only *.yaml files are read:
    the others are errors whatever they hold); strays: the other entries,
    name -> what it is. Ignored names (README.md, hidden) are left out.
    Nothing else is skipped: validation reports every name that is not
    a metadata file, so no namespace vanishes from the build unnoticed.
    """
    if not directory.is_dir():
        raise UsageError(f"{directory}: not a directory")
    files, strays = {}, {}
    try:
        for entry in sorted(os.scandir(directory), key=lambda e: e.name):
            if is_ignored(entry.name):
                continue
            if entry.is_symlink():
                dangling = not os.path.exists(entry.path)
                strays[entry.name] = "a dangling symlink" if dangling else "a symlink"
            elif entry.is_dir():
                strays[entry.name] = "a directory"
            elif not entry.is_file():
                strays[entry.name] = "not a regular file"
            elif entry.name.endswith(".yaml"):
                files[entry.name] = strict_yaml.decode(Path(entry.path).read_bytes(), entry.path)
            else:
                files[entry.name] = ""
    except OSError as exc:
        raise UsageError(f"{directory}: cannot read: {exc}") from exc
    except strict_yaml.StrictYAMLError as exc:
        raise UsageError(str(exc)) from exc
    return files, strays


def _git(directory: Path, *args: str, binary: bool = False) -> str | bytes:
    result = subprocess.run(["git", "-C", str(directory), *args], capture_output=True, check=False)
    if result.returncode != 0:
        raise UsageError(f"git {' '.join(args)}: {result.stderr.decode(errors='replace').strip()}")
    return result.stdout if binary else result.stdout.decode()


def read_namespace_revision(
    directory: Path, revision: str
) -> tuple[dict[str, str], dict[str, str]]:
    """`directory` as committed in `revision`, as read_namespace_dir reads it (empty if absent)."""
    if not directory.is_dir():
        raise UsageError(f"{directory}: not a directory")
    _git(directory, "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}")
    top = Path(str(_git(directory, "rev-parse", "--show-toplevel")).strip())
    prefix = directory.resolve().relative_to(top.resolve()).as_posix()
    if not str(_git(top, "ls-tree", "--name-only", revision, "--", prefix)).strip():
        return {}, {}
    archive = _git(top, "archive", "--format=tar", revision, "--", prefix, binary=True)
    files, strays = {}, {}
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        for member in tar.getmembers():
            parent, _, name = member.name.rstrip("/").rpartition("/")
            if parent != prefix or is_ignored(name):
                continue
            if member.issym():
                strays[name] = "a symlink"
            elif member.isdir():
                strays[name] = "a directory"
            elif not member.isfile():
                strays[name] = "not a regular file"
            elif name.endswith(".yaml"):
                data = tar.extractfile(member).read()
                try:
                    files[name] = strict_yaml.decode(data, f"{revision}:{member.name}")
                except strict_yaml.StrictYAMLError as exc:
                    raise UsageError(str(exc)) from exc
            else:
                files[name] = ""
    return files, strays


def read_output_dir(out: Path) -> dict[str, str]:
    """A build directory's files (relative path -> text), the marker left out."""
    if not out.exists():
        return {}
    if not out.is_dir() or (any(out.iterdir()) and not (out / MARKER).is_file()):
        raise UsageError(
            f"{out}: exists and is not a namespaces build directory (no {MARKER}); "
            "refusing to use it"
        )
    return {
        p.relative_to(out).as_posix(): p.read_text(encoding="utf-8")
        for p in sorted(out.rglob("*"))
        if p.is_file() and p.name != MARKER
    }


# --- Writing ----------------------------------------------------------------------


def write_output_dir(out: Path, files: dict[str, str]) -> bool:
    """Replace `out` with exactly `files`; False (nothing touched) when already so.

    Everything is written to a new directory beside `out`, which then takes
    its place by rename: a reader sees the old build or the new one, never
    a mix, and a failure while writing leaves the old build as it was.
    """
    if read_output_dir(out) == files and (out / MARKER).is_file():
        return False
    out.parent.mkdir(parents=True, exist_ok=True)
    new = Path(tempfile.mkdtemp(prefix=f".{out.name}.new-", dir=out.parent))
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    try:
        for relative, text in files.items():
            path = new / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        (new / MARKER).write_text(MARKER_TEXT, encoding="utf-8")
        new.chmod(0o755)
        if out.exists():
            out.rename(old)
        new.rename(out)
    except BaseException:
        if old.exists() and not out.exists():
            old.rename(out)
        shutil.rmtree(new, ignore_errors=True)
        raise
    shutil.rmtree(old, ignore_errors=True)
    return True


# --- Diff -------------------------------------------------------------------------


def diff_outputs(old: dict[str, str], new: dict[str, str], old_label: str, new_label: str,
                 stat_only: bool = False) -> str:  # fmt: skip
    """A summary of the files that differ, then their unified diff; "" if none."""
    paths = sorted(old.keys() | new.keys())
    changes = []
    for path in paths:
        if path not in old:
            changes.append(("added", path))
        elif path not in new:
            changes.append(("removed", path))
        elif old[path] != new[path]:
            changes.append(("changed", path))
    if not changes:
        return ""
    counts = {
        kind: sum(1 for k, _ in changes if k == kind) for kind in ("added", "removed", "changed")
    }
    lines = [
        f"{len(changes)} file(s) differ between {old_label} and {new_label} "
        f"({counts['added']} added, {counts['removed']} removed, {counts['changed']} changed):"
    ]
    lines += [f"  {kind:<8} {path}" for kind, path in changes]
    text = "\n".join(lines) + "\n"
    if stat_only:
        return text
    for _, path in changes:
        text += "".join(
            difflib.unified_diff(
                old.get(path, "").splitlines(keepends=True),
                new.get(path, "").splitlines(keepends=True),
                fromfile=f"a/{path}" if path in old else "/dev/null",
                tofile=f"b/{path}" if path in new else "/dev/null",
            )
        )
    return text


# --- Commands ---------------------------------------------------------------------


def load(directory: Path) -> Metadata:
    files, strays = read_namespace_dir(directory)
    return validate(files, prefix=f"{directory}/", strays=strays)


def _summary(meta: Metadata) -> str:
    retired = sum(1 for p in meta.projects.values() if p.retired)
    tenants = sum(1 for ns in meta.namespaces.values() if ns.tenant is not None)
    return (
        f"{len(meta.namespaces)} namespaces, {len(meta.projects)} projects ({retired} retired), "
        f"{len(meta.groups)} groups, {tenants} tenants"
    )


def cmd_validate(args: argparse.Namespace) -> int:
    meta = load(args.namespaces)
    print(f"{args.namespaces}: valid: {_summary(meta)}")
    return EXIT_OK


def cmd_build(args: argparse.Namespace) -> int:
    meta = load(args.namespaces)
    files = render(meta)
    if write_output_dir(args.out, files):
        print(f"wrote {args.out}: {len(files)} files from {_summary(meta)}")
    else:
        print(f"{args.out} is up to date: {len(files)} files from {_summary(meta)}")
    return EXIT_OK


def cmd_diff(args: argparse.Namespace) -> int:
    new = render(load(args.namespaces))
    if args.against is not None:
        files, strays = read_namespace_revision(args.namespaces, args.against)
        prefix = f"{args.against}:{args.namespaces.name}/"
        old = render(validate(files, prefix, strays)) if files or strays else {}
        old_label = f"revision {args.against}"
    else:
        old = read_output_dir(args.out)
        old_label = str(args.out)
    text = diff_outputs(old, new, old_label, str(args.namespaces), stat_only=args.stat)
    if text:
        print(text, end="")
    else:
        print("no differences")
    return EXIT_DIFFERENT if text and args.exit_code else EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--namespaces",
        type=Path,
        default=NAMESPACES_DIR,
        metavar="DIR",
        help="the metadata directory: <name>.yaml per namespace and _infra.yaml "
        "(default: namespaces/ of this checkout)",
    )
    parser = argparse.ArgumentParser(
        prog="namespaces",
        description=__doc__.split("\n\n")[1],
        epilog=__doc__[__doc__.index("Exit codes:") :],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    validate = sub.add_parser(
        "validate", parents=[common], help="check every namespace file and the rules across them"
    )
    validate.set_defaults(func=cmd_validate)
    build = sub.add_parser(
        "build",
        parents=[common],
        help="validate, then write zuul/main.yaml and gerrit/ into DIR (replaced atomically)",
    )
    build.add_argument(
        "--out",
        type=Path,
        required=True,
        metavar="DIR",
        help="output directory; created, or replaced when it holds a previous build "
        f"(it must contain {MARKER}); left untouched when the output is the same",
    )
    build.set_defaults(func=cmd_build)
    diff = sub.add_parser(
        "diff",
        parents=[common],
        help="show what a build would change, against a build directory or a git revision",
    )
    against = diff.add_mutually_exclusive_group(required=True)
    against.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="compare with this build directory (e.g. the one last deployed)",
    )
    against.add_argument(
        "--against",
        metavar="REV",
        help="compare with the output built from the metadata committed in git revision REV "
        "(e.g. HEAD, origin/master): what a change to the metadata will do once merged",
    )
    diff.add_argument(
        "--stat", action="store_true", help="list the files that differ, without their diff"
    )
    diff.add_argument(
        "--exit-code", action="store_true", help="exit with 3 when there are differences"
    )
    diff.set_defaults(func=cmd_diff)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except MetadataError as error:
        for problem in error.problems:
            print(problem, file=sys.stderr)
        print(f"namespaces: {len(error.problems)} problem(s); nothing written", file=sys.stderr)
        return EXIT_INVALID
    except UsageError as error:
        print(f"namespaces: {error}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as error:
        print(f"namespaces: {error}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
