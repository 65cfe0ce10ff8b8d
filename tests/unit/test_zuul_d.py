"""Rules zuul.d keeps that Zuul itself does not check.

File matchers (`files`, `irrelevant-files`) belong on a job's entry in a
change pipeline (check, gate, deploy), never on the job: Zuul applies a
job's own matchers to a timer's item too, matching the files of the
branch's last commit, so a periodic buildset would run only the jobs that
commit happened to touch (seen on the local fleet: an hourly buildset ran
bootstrap and the Zuul job after a commit to roles/zuul_config, and none of
the others).
"""

from __future__ import annotations

from pathlib import Path

import yaml

from sctools import REPO_ROOT

MATCHERS = ("files", "irrelevant-files")
FLEET_PIPELINES = REPO_ROOT / "tests/standins/git/fleet/zuul-cd/zuul.d/pipelines.yaml"


def load(paths: list[Path]) -> dict[str, list]:
    return {str(p.relative_to(p.parents[1])): yaml.safe_load(p.read_text()) or [] for p in paths}


def timer_pipelines(config: dict[str, list]) -> set[str]:
    return {
        item["pipeline"]["name"]
        for items in config.values()
        for item in items
        if "pipeline" in item and "timer" in (item["pipeline"].get("trigger") or {})
    }


def misplaced_matchers(config: dict[str, list], timers: set[str]) -> list[str]:
    """Each file matcher on a job, or on a job's entry in a timer pipeline."""
    found = []
    for path, items in config.items():
        for item in items:
            job = item.get("job") or {}
            found += [f"{path}: job {job['name']}: {key}" for key in MATCHERS if key in job]
            for pipeline, stanza in (item.get("project") or {}).items():
                if pipeline not in timers or not isinstance(stanza, dict):
                    continue
                for entry in stanza.get("jobs", []):
                    for name, variant in entry.items() if isinstance(entry, dict) else []:
                        found += [
                            f"{path}: project {pipeline}: {name}: {key}"
                            for key in MATCHERS
                            if key in (variant or {})
                        ]
    return found


def test_no_file_matcher_applies_to_a_timer_pipeline():
    config = load(sorted((REPO_ROOT / "zuul.d").glob("*.yaml")))
    timers = timer_pipelines(config) | timer_pipelines(load([FLEET_PIPELINES]))
    assert timers >= {"periodic-hourly", "periodic"}
    assert misplaced_matchers(config, timers) == []


def test_a_matcher_on_a_job_or_a_periodic_entry_is_named():
    config = {
        "zuul.d/x.yaml": [
            {"pipeline": {"name": "nightly", "trigger": {"timer": [{"time": "0 0 * * *"}]}}},
            {"job": {"name": "j1", "files": ["^a/"]}},
            {"job": {"name": "j2"}},
            {
                "project": {
                    "check": {"jobs": [{"j2": {"files": ["^b/"]}}]},
                    "nightly": {"jobs": ["j1", {"j2": {"irrelevant-files": ["^c/"]}}]},
                }
            },
        ]
    }
    assert misplaced_matchers(config, timer_pipelines(config)) == [
        "zuul.d/x.yaml: job j1: files",
        "zuul.d/x.yaml: project nightly: j2: irrelevant-files",
    ]
