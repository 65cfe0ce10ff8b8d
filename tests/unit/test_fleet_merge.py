"""Unit tests of `fleet merge`'s usage checks (tools/sctools/fleet_merge.py).

What it does on a fleet is tested there (tests/integration/test_zuul_cd.py).
"""

import pytest
import yaml

from sctools import fleet, fleet_merge
from sctools.cli import Exit, ToolError


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "give PATHs or --cherry-pick REV"),
        (["README.md", "--cherry-pick", "HEAD"], "give PATHs or --cherry-pick REV"),
        (["--cherry-pick", "HEAD", "-m", "x"], "--message goes with PATHs"),
    ],
    ids=["nothing", "both", "message with a cherry-pick"],
)
def test_bad_usage_is_refused_before_anything_is_touched(argv, message, monkeypatch):
    def untouchable(*args, **kwargs):
        raise AssertionError("touched the fleet")

    monkeypatch.setattr(fleet_merge, "fetch_master", untouchable)
    with pytest.raises(ToolError) as error:
        fleet_merge.cmd_merge(fleet.load_fleet(), argv)
    assert message in str(error.value)
    assert error.value.code == Exit.USAGE


def test_a_path_outside_the_checkout_is_refused(tmp_path):
    with pytest.raises(ToolError) as error:
        fleet_merge.apply_paths(tmp_path, ["../elsewhere"])
    assert "outside this checkout" in str(error.value)
    assert error.value.code == Exit.USAGE


def merged_pipelines(monkeypatch, tmp_path, spec):
    """What set_periodic_timer(spec) would push as fleet/zuul-cd's pipelines."""
    pushed = {}

    def merge(change, message, repo):
        (tmp_path / "zuul.d").mkdir(exist_ok=True)
        change(tmp_path)
        pushed.update(repo=repo, text=(tmp_path / "zuul.d" / "pipelines.yaml").read_text())
        return "old", "new"

    monkeypatch.setattr(fleet_merge, "merge", merge)
    fleet_merge.set_periodic_timer(spec)
    return pushed


def test_the_periodic_timer_is_set_in_the_seed_and_set_back(monkeypatch, tmp_path):
    short = merged_pipelines(monkeypatch, tmp_path, "* * * * * */5")
    assert short["repo"] == fleet_merge.PIPELINES_PROJECT
    pipelines = {p["pipeline"]["name"]: p["pipeline"] for p in yaml.safe_load(short["text"])}
    assert pipelines["periodic-hourly"]["trigger"]["timer"] == [{"time": "* * * * * */5"}]
    assert (
        pipelines["deploy"]
        == {
            p["pipeline"]["name"]: p["pipeline"]
            for p in yaml.safe_load(fleet_merge.PIPELINES_SEED.read_text())
        }["deploy"]
    )
    seeded = merged_pipelines(monkeypatch, tmp_path, None)
    assert seeded["text"] == fleet_merge.PIPELINES_SEED.read_text()


def test_a_seed_without_one_timer_is_refused_before_any_push(monkeypatch, tmp_path):
    seed = tmp_path / "pipelines.yaml"
    seed.write_text("- pipeline:\n    name: deploy\n")
    monkeypatch.setattr(fleet_merge, "PIPELINES_SEED", seed)

    def untouchable(*args, **kwargs):
        raise AssertionError("pushed")

    monkeypatch.setattr(fleet_merge, "merge", untouchable)
    with pytest.raises(ToolError) as error:
        fleet_merge.set_periodic_timer("* * * * *")
    assert str(seed) in str(error.value)


def test_a_buildset_that_reports_between_two_queries_returns_its_ended_builds(monkeypatch):
    # Zuul's state moves on between any two API calls: here everything ends
    # right after the first call. The builds returned must be those of the
    # reported buildset, never a list read before it reported.
    calls = []

    def zuul_api(fleet, path):
        calls.append(path)
        ended = len(calls) > 1
        if "/buildsets?" in path:
            return [{"uuid": "bs", "result": "SUCCESS" if ended else None}]
        return [{"uuid": "b1", "job_name": "job", "result": "SUCCESS" if ended else None}]

    monkeypatch.setattr(fleet_merge, "zuul_api", zuul_api)
    monkeypatch.setattr(
        fleet_merge, "infra", lambda: {"deploy-tenant": "t", "metadata-project": "p"}
    )
    monkeypatch.setattr(fleet_merge.time, "sleep", lambda seconds: None)
    ended = []
    buildset, builds = fleet_merge.wait_for_buildset(None, "sha", 60, ended.append)
    assert buildset["result"] == "SUCCESS"
    assert [b["result"] for b in builds] == ["SUCCESS"]
    assert [b["uuid"] for b in ended] == ["b1"]
