"""The one YAML loader of the tools: safe, and strict about mapping keys.

PyYAML keeps the last of two equal keys without a word (a second
`timeout:` under a playbook of schedule.yaml silently wins) and accepts keys
that are not strings (`1:`, `null:`, `yes:`, `[a]:`), which no file of
ours means. StrictLoader refuses both; every tool reads its YAML through
load() or load_text(), which raise StrictYAMLError with a one-line message
that names the file and the line:

    schedule.yaml:12: duplicate key 'timeout' (first on line 9)

A file must be UTF-8. Callers that need more (Ansible's tags) subclass
StrictLoader and pass it as `loader`.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import yaml

# libyaml's parser when PyYAML has it: several times faster than Python's.
_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_MERGE_TAG = "tag:yaml.org,2002:merge"


class StrictYAMLError(Exception):
    """A YAML file a tool cannot use; str() is one line: `file:line: reason`."""

    def __init__(self, source: str, line: int | None, reason: str):
        self.source = source
        self.line = line
        self.reason = " ".join(reason.split())  # one line, whatever the parser said
        where = f"{source}:{line}" if line else source
        super().__init__(f"{where}: {self.reason}")


class _KeyError(yaml.constructor.ConstructorError):
    """A duplicate or non-string key: reported as is, not as a syntax error."""


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, datetime.date):
        return "a date"
    if isinstance(value, list):
        return "a sequence"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__}"


class StrictLoader(_BaseLoader):  # type: ignore[misc, valid-type]
    """Safe loader that refuses duplicate mapping keys and keys that are not strings."""

    def construct_mapping(self, node: yaml.Node, deep: bool = False) -> dict:
        if isinstance(node, yaml.MappingNode):
            self._check_keys(node)
        return super().construct_mapping(node, deep=deep)

    def _check_keys(self, node: yaml.MappingNode) -> None:
        seen: dict[str, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG:
                continue  # `<<: *anchor`: merged keys may be overridden, by design
            line = key_node.start_mark.line + 1
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                shown = key_node.value if isinstance(key_node, yaml.ScalarNode) else repr(key)
                reason = f"key {shown} reads as {_kind(key)}, not a string (quote it if meant)"
                raise _KeyError(None, None, reason, key_node.start_mark)
            if key in seen:
                reason = f"duplicate key '{key}' (first on line {seen[key]})"
                raise _KeyError(None, None, reason, key_node.start_mark)
            seen[key] = line


def load_text(text: str, source: str, loader: type[StrictLoader] = StrictLoader) -> Any:
    """The single document of `text`; `source` names it in errors (a path)."""
    parser = loader(text)
    try:
        return parser.get_single_data()
    except _KeyError as exc:
        mark = exc.problem_mark  # always set: StrictLoader raises it with the key's mark
        line = mark.line + 1 if mark else None
        raise StrictYAMLError(source, line, exc.problem or "bad key") from exc
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise StrictYAMLError(source, line, f"YAML syntax error: {exc.problem}") from exc
    except yaml.reader.ReaderError as exc:
        # libyaml counts the position in UTF-8 bytes, Python's reader in characters.
        libyaml = isinstance(parser, getattr(yaml, "CParser", ()))
        before = text.encode()[: exc.position].count(b"\n") if libyaml else None
        before = text[: exc.position].count("\n") if before is None else before
        raise StrictYAMLError(
            source,
            before + 1,
            f"YAML syntax error: character #x{exc.character:04x} not allowed ({exc.reason})",
        ) from exc
    finally:
        parser.dispose()


def decode(data: bytes, source: str) -> str:
    """The text of a YAML file's bytes, which must be UTF-8."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise StrictYAMLError(source, line, f"not UTF-8 (byte 0x{data[exc.start]:02x})") from exc


def load(path: Path | str, loader: type[StrictLoader] = StrictLoader) -> Any:
    """The single document of a UTF-8 YAML file; StrictYAMLError names the file."""
    source = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise StrictYAMLError(source, None, f"cannot read: {exc.strerror or exc}") from exc
    return load_text(decode(data, source), source, loader)
