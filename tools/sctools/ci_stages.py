"""The stage table printed at the end of every CI run (.ci/run).

Every CI run shows where its time went: one row per stage with its result
and seconds. The figures come from the tools themselves, never from
parsing their human output:

  prepare-host   measured by .ci/run (``--prepare SECONDS:RC``)
  tox envs       tox's own result file (.ci/run sets TOX_RESULT_JSON)
  molecule ...   one row per scenario, from molecule-all's summary file
                 (molecule_all.SUMMARY_FILE), under the molecule env's row,
                 with the seconds of each of molecule's steps after it

Usage: python -m sctools.ci_stages --prepare 171:0 --tox-json FILE [--molecule-json FILE]
Exit codes: 0 the table was printed (whatever the stages' results); 2 bad usage.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from sctools.cli import Exit, command


@dataclass
class Stage:
    name: str
    ok: bool | None  # None: did not run or no result
    seconds: float
    indent: bool = False
    detail: str = ""  # after the figures: a scenario's steps and their seconds


def tox_stages(data: dict) -> list[Stage]:
    """One stage per tox env, in the order tox ran them: setup plus commands."""
    stages = []
    for name, env in data.get("testenvs", {}).items():
        if not isinstance(env, dict) or "result" not in env:
            continue  # tox also reports its packaging env (".pkg")
        steps = env.get("setup", []) + env.get("test", [])
        seconds = sum(float(s.get("elapsed", 0)) for s in steps)
        ok = env["result"].get("success")
        stages.append(Stage(name, ok, seconds))
    return stages


def steps(phases: list) -> str:
    """molecule's steps with their seconds, a step that ran twice (destroy) summed."""
    seconds: dict[str, float] = {}
    for name, taken in phases:
        seconds[str(name)] = seconds.get(str(name), 0.0) + float(taken)
    return " ".join(f"{name} {taken:.0f}" for name, taken in seconds.items())


def molecule_stages(data: dict) -> list[Stage]:
    return [
        Stage(
            f"molecule {s['role']}",
            bool(s["ok"]),
            float(s["seconds"]),
            indent=True,
            detail=steps(s.get("phases", [])),
        )
        for s in sorted(data.get("scenarios", []), key=lambda s: -float(s["seconds"]))
    ]


def table(stages: list[Stage], total: float | None = None) -> str:
    lines = ["", "CI stages", f"{'stage':<34} {'result':<8} {'seconds':>8}"]
    for s in stages:
        result = "-" if s.ok is None else ("passed" if s.ok else "FAILED")
        name = ("  " + s.name) if s.indent else s.name
        lines.append(f"{name:<34} {result:<8} {s.seconds:8.0f}  {s.detail}".rstrip())
    if total is not None:
        lines.append(f"{'total':<34} {'':<8} {total:8.0f}")
        if sum(s.seconds for s in stages if not s.indent) > total + 1:
            # `tox p` runs the short environments side by side.
            lines.append("(stages that ran side by side overlap: their seconds add up to more)")
    return "\n".join(lines)


def read_json(path: str | None, what: str) -> dict:
    if not path:
        return {}
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        print(f"ci-stages: cannot read {what} {path}: {exc}", file=sys.stderr)
        return {}


def build(prepare: str, tox: dict, molecule: dict) -> list[Stage]:
    seconds, _, rc = prepare.partition(":")
    stages = [Stage("prepare-host", rc == "0", float(seconds))]
    for stage in tox_stages(tox):
        stages.append(stage)
        if stage.name == "molecule":
            stages += molecule_stages(molecule)
    return stages


@command("ci-stages")
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ci-stages", description=__doc__.split("\n\n")[0])
    parser.add_argument("--prepare", required=True, help="SECONDS:EXIT of prepare-host")
    parser.add_argument("--tox-json", help="tox's result file (TOX_RESULT_JSON)")
    parser.add_argument("--molecule-json", help="molecule-all's summary file")
    parser.add_argument("--total", type=float, help="the run's wall time in seconds")
    args = parser.parse_args(argv)
    try:
        float(args.prepare.partition(":")[0])
    except ValueError:
        parser.error(f"--prepare wants SECONDS:EXIT, got {args.prepare!r}")
    stages = build(
        args.prepare,
        read_json(args.tox_json, "tox result file"),
        read_json(args.molecule_json, "molecule summary"),
    )
    print(table(stages, args.total), flush=True)
    return Exit.OK


if __name__ == "__main__":
    sys.exit(main())
