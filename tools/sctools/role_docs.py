"""Role variables are described once: in the role's meta/argument_specs.yml.

Every role's README.md shows them in a table that this tool writes from
the spec, between two marker lines (one table per entry point: `main`'s
between BEGIN and END, another one's, e.g. apache's `site`, between
`begin_marker(entry)` and END), and `check` fails when

- a variable of defaults/main.yml is not in the spec, or a spec option
  that is not required has no default there (a default the role never set);
- the spec's `default` differs from defaults/main.yml (or is missing);
- a README table is not what `write` would write (or has no markers).

Usage: role-docs check|write [ROLE...]   (all roles when none is named)
Exit codes: 0 all agree (check) or tables written (write); 1 check found
differences, each printed as `file: reason`; 2 bad usage or a file that
cannot be read; 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from sctools import REPO_ROOT, strict_yaml
from sctools.cli import Exit, ToolError, command

ROLES_DIR = REPO_ROOT / "roles"
BEGIN = (
    "<!-- role-docs: generated from meta/argument_specs.yml by `role-docs write`;"
    " edit the spec, not this table -->"
)
END = "<!-- role-docs: end -->"
# Longer defaults are named, not printed: the table stays readable.
MAX_INLINE_DEFAULT = 60


class RoleDocsError(Exception):
    """A role whose files cannot be read; str() names the file."""


def _load(path: Path) -> Any:
    try:
        return strict_yaml.load(path)
    except FileNotFoundError:
        return None
    except (OSError, strict_yaml.StrictYAMLError) as exc:
        raise RoleDocsError(str(exc)) from exc


def begin_marker(entry: str) -> str:
    """The line that opens the README table of one entry point."""
    if entry == "main":
        return BEGIN
    return BEGIN.replace("role-docs: generated", f"role-docs: entry point {entry}: generated")


def entry_points(role_dir: Path) -> list[str]:
    """The spec's entry points, `main` first."""
    path = role_dir / "meta" / "argument_specs.yml"
    spec = _load(path)
    try:
        names = list(spec["argument_specs"])
    except (TypeError, KeyError) as exc:
        raise RoleDocsError(f"{path}: no argument_specs") from exc
    if "main" not in names:
        raise RoleDocsError(f"{path}: no argument_specs.main")
    return ["main", *(n for n in names if n != "main")]


def options(role_dir: Path, entry: str = "main") -> dict[str, dict]:
    """The options of one of the role's entry points, in the spec's order."""
    path = role_dir / "meta" / "argument_specs.yml"
    spec = _load(path)
    try:
        opts = spec["argument_specs"][entry].get("options") or {}
    except (TypeError, KeyError, AttributeError) as exc:
        raise RoleDocsError(f"{path}: no argument_specs.{entry}") from exc
    if not isinstance(opts, dict) or not all(isinstance(v, dict) for v in opts.values()):
        raise RoleDocsError(f"{path}: argument_specs.{entry}.options is not a mapping of mappings")
    return opts


def defaults(role_dir: Path) -> dict[str, Any]:
    path = role_dir / "defaults" / "main.yml"
    data = _load(path)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise RoleDocsError(f"{path}: not a mapping of variables")
    return data


def _markup(text: str) -> str:
    """Ansible doc markup to Markdown: C(x), O(x), V(x) -> `x`, I(x) -> *x*; cell-safe."""
    text = re.sub(r"\b[COV]\(([^)]*)\)", r"`\1`", text)
    text = re.sub(r"\bI\(([^)]*)\)", r"*\1*", text)
    return " ".join(text.split()).replace("|", "\\|")


def _type(option: Mapping) -> str:
    kind = str(option.get("type", "str"))
    if "elements" in option:
        kind += f" of {option['elements']}"
    return kind


def _default(option: Mapping) -> str:
    if option.get("required"):
        return "**required**"
    if "default" not in option:
        return "none"
    value = option["default"]
    text = value if isinstance(value, str) else json.dumps(value)
    if value == "":
        text = '""'
    if len(text) > MAX_INLINE_DEFAULT:
        return "see defaults/main.yml"
    return "`" + text.replace("|", "\\|") + "`"


def _description(option: Mapping) -> str:
    description = option.get("description", "")
    if isinstance(description, list):
        description = " ".join(str(part) for part in description)
    text = _markup(str(description))
    if option.get("choices"):
        text += " One of: " + ", ".join(f"`{c}`" for c in option["choices"]) + "."
    if option.get("no_log"):
        text += " Secret: never logged."
    return text


def table(opts: Mapping[str, Mapping], entry: str = "main") -> str:
    rows = [
        "| Variable | Type | Default | Meaning |",
        "|---|---|---|---|",
        *(
            f"| `{name}` | {_type(o)} | {_default(o)} | {_description(o)} |"
            for name, o in opts.items()
        ),
    ]
    return "\n".join([begin_marker(entry), *rows, END])


def _block(readme: str, entry: str = "main") -> tuple[int, int] | None:
    start = readme.find(begin_marker(entry))
    end = readme.find(END, start)
    if start < 0 or end < start:
        return None
    return start, end + len(END)


def problems(role_dir: Path) -> list[str]:
    """What disagrees in one role, each as `file: reason`."""
    opts, values = options(role_dir), defaults(role_dir)
    spec_file = role_dir.relative_to(REPO_ROOT) / "meta" / "argument_specs.yml"
    found = []
    for name in values:
        if name not in opts:
            found.append(f"{spec_file}: {name} is in defaults/main.yml but not in the spec")
    for name, option in opts.items():
        if option.get("required"):
            if name in values:
                found.append(f"{spec_file}: {name} is required but has a default")
            continue
        if name not in values:
            found.append(f"{spec_file}: {name} is not required and has no default")
        elif option.get("default") != values[name] or "default" not in option:
            found.append(
                f"{spec_file}: {name}: default {option.get('default')!r}"
                f" but defaults/main.yml has {values[name]!r}"
            )
    readme = role_dir / "README.md"
    text = readme.read_text() if readme.exists() else ""
    where = readme.relative_to(REPO_ROOT)
    for entry in entry_points(role_dir):
        block = _block(text, entry)
        table_of = "the variable table" + ("" if entry == "main" else f" of entry point {entry}")
        if block is None:
            found.append(
                f"{where}: no variable table between the role-docs markers"
                + ("" if entry == "main" else f" of entry point {entry} ({begin_marker(entry)!r})")
            )
        elif text[block[0] : block[1]] != table(options(role_dir, entry), entry):
            found.append(f"{where}: {table_of} is stale: run `role-docs write`")
    return found


def write(role_dir: Path) -> bool:
    """Rewrite the README's tables; True when one changed. Needs the markers."""
    readme = role_dir / "README.md"
    old = new = readme.read_text()
    for entry in entry_points(role_dir):
        block = _block(new, entry)
        if block is None:
            raise RoleDocsError(
                f"{readme}: no role-docs markers: put {begin_marker(entry)!r} and {END!r} there"
            )
        new = new[: block[0]] + table(options(role_dir, entry), entry) + new[block[1] :]
    if new != old:
        readme.write_text(new)
    return new != old


def role_dirs(names: Iterable[str]) -> list[Path]:
    names = list(names)
    if not names:
        return sorted(p.parent.parent for p in ROLES_DIR.glob("*/meta/argument_specs.yml"))
    dirs = []
    for name in names:
        path = ROLES_DIR / name
        if not (path / "meta" / "argument_specs.yml").is_file():
            raise RoleDocsError(f"{name}: no such role with meta/argument_specs.yml under roles/")
        dirs.append(path)
    return dirs


@command("role-docs")
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="role-docs", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("check", "write"))
    parser.add_argument("roles", nargs="*", help="role names (default: every role)")
    args = parser.parse_args(argv)
    try:
        dirs = role_dirs(args.roles)
        if args.command == "write":
            for role_dir in dirs:
                if write(role_dir):
                    print(f"role-docs: wrote {role_dir.relative_to(REPO_ROOT)}/README.md")
            return Exit.OK
        found = [p for role_dir in dirs for p in problems(role_dir)]
    except RoleDocsError as exc:
        raise ToolError(str(exc), Exit.USAGE) from exc
    for problem in found:
        print(problem)
    return Exit.FAILED if found else Exit.OK


if __name__ == "__main__":
    sys.exit(main())
