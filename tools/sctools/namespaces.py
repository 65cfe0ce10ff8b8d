"""namespaces: validate the namespace metadata, build and diff what it generates.

Every namespace describes itself in namespaces/<name>.yaml (who approves its
changes, its projects, its Zuul tenant); namespaces/_infra.yaml holds what
the infra roots own. This command validates all of them together and
aggregates them into Zuul's main.yaml and the code-review project list,
groups and ACLs (docs/namespaces.md describes the format and the outputs).

Exit codes (sctools.cli, the table in README.md):
  0    success (`diff`: also when there are differences, unless --exit-code)
  1    the metadata is invalid: every problem is printed (file: field: message)
       and nothing is written
  2    usage or I/O error: bad option, unreadable directory, an --out that is
       not a build directory, an unknown git revision
  6    `diff --exit-code` found differences
  130  interrupted
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import dataclasses
import errno
import fcntl
import filecmp
import gc
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from sctools import REPO_ROOT, strict_yaml
from sctools.cli import Exit, ToolError, command
from sctools.namespace_metadata import Metadata, MetadataError, is_ignored, parse_deploy_tenant
from sctools.namespace_outputs import render_stream, validate
from sctools.patience_diff import unified_diff

# (path, pieces of text) in path order: render_stream, read_output_stream.
Files = Iterable[tuple[str, Iterable[str]]]
# (added|removed|changed, path, old text, new text): changed_files.
Change = tuple[str, str, str | None, str | None]

NAMESPACES_DIR = REPO_ROOT / "namespaces"
# Marks a directory written by `build`: only such a directory is replaced.
MARKER = ".namespaces-build"
MARKER_TEXT = "Written by `namespaces build`; the whole directory is replaced on each build.\n"


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
        raise ToolError(f"{directory}: not a directory", Exit.USAGE)
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
        raise ToolError(f"{directory}: cannot read: {exc}", Exit.USAGE) from exc
    except strict_yaml.StrictYAMLError as exc:
        raise ToolError(str(exc), Exit.USAGE) from exc
    return files, strays


def _git(directory: Path, *args: str, binary: bool = False) -> str | bytes:
    result = subprocess.run(["git", "-C", str(directory), *args], capture_output=True, check=False)
    if result.returncode != 0:
        raise ToolError(
            f"git {' '.join(args)}: {result.stderr.decode(errors='replace').strip()}", Exit.USAGE
        )
    return result.stdout if binary else result.stdout.decode()


def read_namespace_revision(
    directory: Path, revision: str
) -> tuple[dict[str, str], dict[str, str]]:
    """`directory` as committed in `revision`, as read_namespace_dir reads it (empty if absent)."""
    if not directory.is_dir():
        raise ToolError(f"{directory}: not a directory", Exit.USAGE)
    _git(directory, "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}")
    top = Path(str(_git(directory, "rev-parse", "--show-toplevel")).strip())
    prefix = directory.resolve().relative_to(top.resolve()).as_posix()
    if not str(_git(top, "ls-tree", "--name-only", revision, "--", prefix)).strip():
        return {}, {}
    archive = _git(top, "archive", "--format=tar", revision, "--", prefix, binary=True)
    files, strays = {}, {}
    assert isinstance(archive, bytes)  # binary=True
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
                data = tar.extractfile(member).read()  # type: ignore[union-attr]  # a file
                try:
                    files[name] = strict_yaml.decode(data, f"{revision}:{member.name}")
                except strict_yaml.StrictYAMLError as exc:
                    raise ToolError(str(exc), Exit.USAGE) from exc
            else:
                files[name] = ""
    return files, strays


def read_output_dir(out: Path) -> dict[str, str]:
    """A build directory's files (relative path -> text), the marker left out."""
    return {path: "".join(pieces) for path, pieces in read_output_stream(out)}


def read_output_stream(out: Path) -> Iterator[tuple[str, Iterator[str]]]:
    """A build directory's files in path order, as render_stream gives them; each
    file is read when its turn comes.

    `out` is resolved once: a build that swaps it meanwhile does not mix two
    generations into what is read.
    """
    if not out.exists():
        return iter(())
    root = Path(os.path.realpath(out))
    if not _is_build_dir(root):
        raise ToolError(
            f"{out}: exists and is not a namespaces build directory (no {MARKER}); "
            "refusing to use it",
            Exit.USAGE,
        )
    paths = sorted(
        p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and p.name != MARKER
    )
    return ((path, _read_lazily(root / path)) for path in paths)


def _read_lazily(path: Path) -> Iterator[str]:
    yield path.read_text(encoding="utf-8")


def _is_build_dir(path: Path) -> bool:
    return path.is_dir() and (not any(path.iterdir()) or (path / MARKER).is_file())


# --- Writing ----------------------------------------------------------------------
#
# `--out DIR` is a symlink to a generation directory beside it, which holds
# the files:  DIR -> .DIR.gen-XXXXXXXX.  A build writes a new generation,
# then points DIR at it by renaming a new symlink over DIR: one atomic
# rename, so a reader opening DIR/... sees the old build or the new one,
# whenever the writer dies. What a killed build leaves beside DIR has one of
# the names below and is removed by the next build.


def _ours(name: str, kinds: str) -> re.Pattern:
    """Names `build` creates beside an output directory called `name`.

    gen: generations; link: a symlink about to replace DIR (or, after a
    migration, the old directory); new, old: the temporary directories of
    builds before generations (mkdtemp's .DIR.new-*, .DIR.old-<pid>).
    """
    return re.compile(rf"\.{re.escape(name)}\.({kinds})-[A-Za-z0-9_]+")


def write_output_dir(out: Path, files: Mapping[str, str] | Files) -> bool:
    """Make `out` hold exactly `files`; False (nothing touched) when it already does.

    `files`: path -> text, or (path, pieces of text) as render_stream yields
    them, each written as it comes.

    Steps (each leaves `out` a complete old or new build, and whatever a kill
    leaves behind is removed at the start of the next build):
    1. lock the parent directory (two builds of the same `out` take turns);
    2. remove the leftovers of killed builds;
    3. write a new generation .OUT.gen-X; if it equals the current one,
       remove it and stop;
    4. create the symlink .OUT.link-X -> .OUT.gen-X and rename it over `out`;
       an `out` that is still a real directory (a build before generations)
       is exchanged with the link in one renameat2(RENAME_EXCHANGE);
    5. remove the previous generation.
    `out` must be absent, such a symlink, or a directory of an older build;
    anything else (a symlink of yours to elsewhere) is refused.
    """
    out = Path(os.path.abspath(out))
    if out.name in ("", "..") or out == out.parent:
        raise ToolError(f"{out}: cannot be an output directory", Exit.USAGE)
    out.parent.mkdir(parents=True, exist_ok=True)
    with _locked(out.parent):
        current = _current(out)
        keep = current.name if current is not None and out.is_symlink() else None
        _remove_leftovers(out, keep)
        new = Path(tempfile.mkdtemp(prefix=f".{out.name}.gen-", dir=out.parent))
        link = out.parent / f".{out.name}.link-{new.name.rpartition('-')[2]}"
        try:
            _write_tree(new, files)
            if current is not None and _same_tree(current, new):
                shutil.rmtree(new)
                return False
            os.symlink(new.name, link)
            if out.is_symlink() or not out.exists():
                os.replace(link, out)
                previous = current
            else:
                previous = _swap_in(link, out)
        except BaseException:  # an error, not a kill: tidy up now rather than next time
            if not (out.is_symlink() and os.readlink(out) == new.name):
                shutil.rmtree(new, ignore_errors=True)
                if link.is_symlink():
                    link.unlink()
            raise
        if previous is not None and previous.exists():
            shutil.rmtree(previous)
    return True


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """An exclusive flock on the directory itself: no lock file to leave behind."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _current(out: Path) -> Path | None:
    """The directory `out` shows now (None: none); ToolError (usage) if `out` is not ours."""
    if out.is_symlink():
        target = os.readlink(out)
        if not _ours(out.name, "gen").fullmatch(target):
            raise ToolError(
                f"{out}: is a symlink to {target}, which `namespaces build` did not make; "
                f"refusing to replace it. Give the real directory as --out (a build keeps "
                f"--out as a symlink to .{out.name}.gen-* beside it)",
                Exit.USAGE,
            )
        generation = out.parent / target
        return generation if generation.is_dir() else None
    if not out.exists():
        return None
    if not _is_build_dir(out):
        raise ToolError(
            f"{out}: exists and is not a namespaces build directory (no {MARKER}); "
            "refusing to use it",
            Exit.USAGE,
        )
    return out


def _remove_leftovers(out: Path, keep: str | None) -> None:
    """Remove what killed builds left beside `out` (only names of ours), but `keep`."""
    pattern = _ours(out.name, "gen|link|new|old")
    for entry in sorted(os.scandir(out.parent), key=lambda e: e.name):
        if entry.name != keep and pattern.fullmatch(entry.name):
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)


def _write_tree(root: Path, files: Mapping[str, str] | Files) -> None:
    for relative, content in files.items() if isinstance(files, Mapping) else files:
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", encoding="utf-8") as stream:
            stream.writelines((content,) if isinstance(content, str) else content)
    with open(root / MARKER, "w", encoding="utf-8") as stream:
        stream.write(MARKER_TEXT)
    root.chmod(0o755)


def _tree(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def _same_tree(old: Path, new: Path) -> bool:
    """Same files, same bytes (read in pieces: nothing held in memory)."""
    names = _tree(new)
    return _tree(old) == names and all(
        filecmp.cmp(old / name, new / name, shallow=False) for name in names
    )


def _swap_in(link: Path, out: Path) -> Path:
    """Put `link` where the real directory `out` (an older build) is; returns where that went.

    renameat2(RENAME_EXCHANGE) swaps the two names in one step: `out`
    becomes the symlink, `link` the old directory. Without it (not Linux,
    or a file system that lacks it) two renames leave a moment with no
    `out`: acceptable once, for the migration from a build before
    generations.
    """
    try:
        _exchange(link, out)
        return link
    except OSError as error:
        if error.errno not in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
            raise
    aside = link.with_name(link.name.replace(".link-", ".old-"))
    os.rename(out, aside)
    try:
        os.replace(link, out)
    except BaseException:
        os.rename(aside, out)
        raise
    return aside


def _exchange(a: Path, b: Path) -> None:
    """Swap two paths atomically: Linux renameat2(RENAME_EXCHANGE)."""
    renameat2 = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if renameat2 is None:
        raise OSError(errno.ENOSYS, "renameat2 is not available")
    fd, path = ctypes.c_int, ctypes.c_char_p
    renameat2.argtypes = [fd, path, fd, path, ctypes.c_uint]
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), str(a), None, str(b))


# --- Diff -------------------------------------------------------------------------


def changed_files(old: Files, new: Files, texts: bool = True) -> list[Change]:
    """The files that differ, in path order: (kind, path, old text, new text).

    Both sides come in path order (render_stream, read_output_stream) and
    are walked side by side, one file at a time: only the texts of the files
    that differ are kept (none when `texts` is false), never both trees.
    """
    changes: list[Change] = []
    old_files, new_files = iter(old), iter(new)
    a, b = next(old_files, None), next(new_files, None)
    while a is not None or b is not None:
        if a is not None and (b is None or a[0] < b[0]):
            changes.append(("removed", a[0], "".join(a[1]) if texts else None, None))
            a = next(old_files, None)
        elif b is not None and (a is None or b[0] < a[0]):
            changes.append(("added", b[0], None, "".join(b[1]) if texts else None))
            b = next(new_files, None)
        elif a is not None and b is not None:  # the same path on both sides
            old_text, new_text = "".join(a[1]), "".join(b[1])
            if old_text != new_text:
                changes.append(
                    ("changed", a[0], old_text if texts else None, new_text if texts else None)
                )
            a, b = next(old_files, None), next(new_files, None)
    return changes


def diff_outputs(changes: list[Change], old_label: str, new_label: str,
                 stat_only: bool = False) -> Iterator[str]:  # fmt: skip
    """A summary of the files that differ, then their unified diff; nothing if none.

    The diff is patience_diff's: its time grows with the size of the files
    and of the change, where difflib's grew with their square. Consumes the
    texts of `changes`: each goes once split into lines.
    """
    if not changes:
        return
    counts = {kind: 0 for kind in ("added", "removed", "changed")}
    for kind, *_ in changes:
        counts[kind] += 1
    yield (
        f"{len(changes)} file(s) differ between {old_label} and {new_label} "
        f"({counts['added']} added, {counts['removed']} removed, {counts['changed']} changed):\n"
    )
    yield from (f"  {kind:<8} {path}\n" for kind, path, _, _ in changes)
    if stat_only:
        return
    for index, (kind, path, old_text, new_text) in enumerate(changes):
        changes[index] = (kind, path, None, None)
        fromfile = f"a/{path}" if old_text is not None else "/dev/null"
        tofile = f"b/{path}" if new_text is not None else "/dev/null"
        old_lines = (old_text or "").splitlines(keepends=True)
        new_lines = (new_text or "").splitlines(keepends=True)
        del old_text, new_text  # the lines hold the same text
        yield from unified_diff(old_lines, new_lines, fromfile, tofile)


# --- Commands ---------------------------------------------------------------------


def load(directory: Path) -> Metadata:
    files, strays = read_namespace_dir(directory)
    meta = validate(files, prefix=f"{directory}/", strays=strays)
    # The metadata lives until the command ends: out of the cyclic collector's
    # way, whose passes over every object of 280,000 projects cost a fifth of
    # the time of rendering them (main() unfreezes).
    gc.freeze()
    return meta


def _summary(meta: Metadata) -> str:
    retired = sum(1 for p in meta.projects.values() if p.retired)
    # The namespaces' tenants and the deploy tenant.
    tenants = 1 + sum(1 for ns in meta.namespaces.values() if ns.tenant is not None)
    return (
        f"{len(meta.namespaces)} namespaces, {len(meta.projects)} projects ({retired} retired), "
        f"{len(meta.groups)} groups, {tenants} tenants"
    )


def cmd_validate(args: argparse.Namespace) -> int:
    meta = load(args.namespaces)
    print(f"{args.namespaces}: valid: {_summary(meta)}")
    return Exit.OK


def cmd_build(args: argparse.Namespace) -> int:
    meta = load(args.namespaces)
    if args.deploy_tenant is not None:
        path = args.deploy_tenant
        override = parse_deploy_tenant(str(path), path.read_text(), meta.infra)
        meta = dataclasses.replace(meta, deploy_tenant_override=override)
    files = list(render_stream(meta))  # paths and generators: no text made yet
    if write_output_dir(args.out, files):
        print(f"wrote {args.out}: {len(files)} files from {_summary(meta)}")
    else:
        print(f"{args.out} is up to date: {len(files)} files from {_summary(meta)}")
    return Exit.OK


def cmd_diff(args: argparse.Namespace) -> int:
    new = render_stream(load(args.namespaces))
    if args.against is not None:
        files, strays = read_namespace_revision(args.namespaces, args.against)
        prefix = f"{args.against}:{args.namespaces.name}/"
        old = render_stream(validate(files, prefix, strays)) if files or strays else iter(())
        old_label = f"revision {args.against}"
    else:
        old = read_output_stream(args.out)
        old_label = str(args.out)
    changes = changed_files(old, new, texts=not args.stat)
    if not changes:
        print("no differences")
        return Exit.OK
    sys.stdout.writelines(diff_outputs(changes, old_label, str(args.namespaces), args.stat))
    return Exit.DIFFERENT if args.exit_code else Exit.OK


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
        epilog=__doc__[__doc__.index("Exit codes") :],
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
    build.add_argument(
        "--deploy-tenant",
        type=Path,
        metavar="FILE",
        help="a tenant file holding the deploy tenant alone, written into main.yaml in place "
        "of the generated one: for a site without the production connection (the local "
        "fleet: tests/standins/zuul-cd-tenant.yaml)",
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
        "--exit-code",
        action="store_true",
        help=f"exit with {Exit.DIFFERENT:d} when there are differences",
    )
    diff.set_defaults(func=cmd_diff)
    return parser


@command("namespaces")
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result: int = args.func(args)
        return result
    except MetadataError as error:
        for problem in error.problems:
            print(problem, file=sys.stderr)
        raise ToolError(f"{len(error.problems)} problem(s); nothing written") from error
    except OSError as error:
        raise ToolError(str(error), Exit.USAGE) from error
    finally:
        gc.unfreeze()  # load() froze the metadata for this command only


if __name__ == "__main__":
    sys.exit(main())
