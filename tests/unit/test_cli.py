"""sctools.cli: one exit-code table, one error type, one main wrapper for every tool.

Each command's codes (its --help, the README's table, run-all's callers)
are checked against sctools.cli.Exit; each console script is driven into
an error, Ctrl-C and a broken pipe and must answer the same way.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import sys
import tomllib

import pytest
import yaml

from sctools import (
    REPO_ROOT,
    affected,
    cli,
    fleet,
    images,
    molecule_all,
    namespaces,
    role_docs,
    run_all,
    zuul_jobs,
)
from sctools.cli import Exit, ToolError

SCRIPTS = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["scripts"]
# Tools run as `python -m sctools.X`, beside the console scripts.
MODULE_TOOLS = {
    "ci-stages": "sctools.ci_stages:main",
    "buildset-registry": "sctools.buildset_registry:main",
}
TOOLS = {**SCRIPTS, **MODULE_TOOLS}


def entry_point(target: str):
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def documented_codes(doc: str) -> set[int]:
    """The codes a module's docstring lists after "Exit codes"."""
    section = doc[doc.index("Exit codes") :]
    return {int(c) for c in re.findall(r"(?:^|[;:]\s*|\s)(\d{1,3})\s+(?=[a-z`(-])", section, re.M)}


def test_the_table_is_the_documented_one():
    assert {e.name: e.value for e in Exit} == {
        "OK": 0, "FAILED": 1, "USAGE": 2, "BUSY": 3, "STOPPED": 4,
        "UNAVAILABLE": 5, "DIFFERENT": 6, "INTERRUPTED": 130,
    }  # fmt: skip


def test_the_readme_lists_the_table_once_and_as_the_code_has_it():
    readme = (REPO_ROOT / "README.md").read_text()
    assert readme.count("### Exit codes") == 1
    table = readme[readme.index("### Exit codes") :]
    rows = re.findall(r"^\| (\d+) \| ", table, re.M)
    assert [int(r) for r in rows] == [e.value for e in Exit]


@pytest.mark.parametrize(
    ("module", "codes"),
    [
        (run_all, {0, 1, 2, 3, 4, 130}),
        (images, {0, 1, 2, 5, 130}),
        (namespaces, {0, 1, 2, 6, 130}),
        (affected, {0, 2, 130}),
        (zuul_jobs, {0, 2, 6, 130}),
        (molecule_all, {0, 1, 2, 5, 130}),
        (fleet, {0, 1, 2, 3, 4, 5, 130}),
        (role_docs, {0, 1, 2, 130}),
    ],
    ids=lambda v: getattr(v, "__name__", ""),
)
def test_each_command_documents_codes_of_the_table(module, codes):
    assert documented_codes(module.__doc__) == codes
    assert codes <= {e.value for e in Exit}


def test_run_all_keeps_the_codes_its_callers_rely_on():
    # cron, the deploy jobs (playbooks/zuul), fleet and the integration tests.
    assert (Exit.BUSY, Exit.STOPPED, Exit.USAGE) == (3, 4, 2)
    playbook = yaml.safe_load(
        (REPO_ROOT / "playbooks/zuul/run-production-playbook.yaml").read_text()
    )
    text = yaml.safe_dump(playbook)
    assert "infra_prod_run.rc != 3" in text  # waits while another run holds the lock
    explained = {int(c) for c in re.findall(r"(\d+): '", text)}
    assert explained == {1, 2, 3, 4, 130}
    assert "report:" not in text and "--report-file" in text  # nothing scrapes the output


@pytest.mark.parametrize("tool", sorted(TOOLS))
def test_every_tool_main_is_wrapped(tool):
    main = entry_point(TOOLS[tool])
    assert main.__wrapped__, f"{tool}: main is not decorated with sctools.cli.command"


def raising(exc: BaseException):
    def parse_args(self, *args, **kwargs):
        raise exc

    return parse_args


@pytest.mark.parametrize("tool", sorted(TOOLS))
@pytest.mark.parametrize(
    ("exc", "code", "err"),
    [
        (KeyboardInterrupt(), Exit.INTERRUPTED, "{tool}: interrupted\n"),
        (
            ToolError("no such thing", Exit.UNAVAILABLE),
            Exit.UNAVAILABLE,
            "{tool}: error: no such thing\n",
        ),
        (ToolError("broken"), Exit.FAILED, "{tool}: error: broken\n"),
    ],
    ids=["ctrl-c", "tool-error-code", "tool-error-default"],
)
def test_every_tool_answers_errors_and_ctrl_c_alike(tool, exc, code, err, monkeypatch, capsys):
    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", raising(exc))
    assert entry_point(TOOLS[tool])([]) == code
    assert capsys.readouterr().err == err.format(tool=tool)


def test_a_closed_pipe_ends_quietly(monkeypatch, capsys):
    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", raising(BrokenPipeError()))
    redirected = []
    monkeypatch.setattr(cli.os, "dup2", lambda source, target: redirected.append(target))
    with open(os.devnull, "w") as reader_gone:
        monkeypatch.setattr(sys, "stdout", reader_gone)
        assert images.main(["list", "--json"]) == Exit.OK
        assert redirected == [reader_gone.fileno()]  # later writes go to /dev/null
    assert capsys.readouterr().err == ""


def test_bad_usage_is_2_for_every_tool(capsys):
    for tool, target in sorted(TOOLS.items()):
        with pytest.raises(SystemExit) as exit_:
            entry_point(target)(["--no-such-option"])
        assert exit_.value.code == Exit.USAGE, tool
