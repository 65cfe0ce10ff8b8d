"""Unit tests of tools/sctools/ci_stages.py: the stage table of .ci/run."""

import json

import pytest

from sctools import ci_stages

TOX = {
    "testenvs": {
        ".pkg": {"test": []},
        "linters": {
            "result": {"success": True},
            "setup": [{"elapsed": 20.4}],
            "test": [{"elapsed": 2.0}, {"elapsed": 60.0}],
        },
        "molecule": {
            "result": {"success": False},
            "setup": [{"elapsed": 10}],
            "test": [{"elapsed": 900}],
        },
        "integration": {"result": {"success": True}, "setup": [], "test": [{"elapsed": 700}]},
    }
}
MOLECULE = {
    "scenarios": [
        {"role": "sshd", "ok": True, "seconds": 60},
        {"role": "mirror", "ok": False, "seconds": 250},
    ]
}


def test_every_stage_in_order_with_scenarios_under_molecule():
    stages = ci_stages.build("171:0", TOX, MOLECULE)
    assert [s.name for s in stages] == [
        "prepare-host",
        "linters",
        "molecule",
        "molecule mirror",
        "molecule sshd",
        "integration",
    ]
    assert stages[1].seconds == 82.4
    assert [s.ok for s in stages] == [True, True, False, False, True, True]


def test_failed_prepare_host_is_shown_and_missing_files_give_an_empty_table(tmp_path, capsys):
    missing = str(tmp_path / "none.json")
    assert ci_stages.main(["--prepare", "12:1", "--tox-json", missing, "--total", "13"]) == 0
    out = capsys.readouterr().out
    assert "prepare-host" in out and "FAILED" in out
    assert out.rstrip().endswith("13")


def test_table_reads_the_files_tox_and_molecule_all_write(tmp_path, capsys):
    (tmp_path / "tox.json").write_text(json.dumps(TOX))
    (tmp_path / "m.json").write_text(json.dumps(MOLECULE))
    ci_stages.main(
        [
            "--prepare",
            "5:0",
            "--tox-json",
            str(tmp_path / "tox.json"),
            "--molecule-json",
            str(tmp_path / "m.json"),
        ]
    )
    rows = capsys.readouterr().out.splitlines()
    assert any(r.split() == ["molecule", "mirror", "FAILED", "250"] for r in rows)
    assert any(r.split() == ["integration", "passed", "700"] for r in rows)


def test_bad_prepare_figure_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        ci_stages.main(["--prepare", "soon"])
    assert exc.value.code == 2
    assert "SECONDS:EXIT" in capsys.readouterr().err


def test_side_by_side_stages_are_said_to_overlap_only_when_they_did():
    stages = ci_stages.build("10:0", TOX, MOLECULE)  # 10 + 82.4 + 910 + 700 s
    assert "side by side" in ci_stages.table(stages, total=1200)
    assert "side by side" not in ci_stages.table(stages, total=1703)


def test_a_scenario_row_shows_its_steps_with_a_repeated_step_summed(tmp_path, capsys):
    phases = [["destroy", 2.2], ["create", 3.0], ["converge", 61.4], ["destroy", 1.9]]
    molecule = {"scenarios": [{"role": "sshd", "ok": True, "seconds": 70, "phases": phases}]}
    (tmp_path / "m.json").write_text(json.dumps(molecule))
    ci_stages.main(["--prepare", "5:0", "--molecule-json", str(tmp_path / "m.json")])
    rows = capsys.readouterr().out.splitlines()
    # No tox file: the scenario rows hang under a molecule row that is not there.
    assert not any("sshd" in r for r in rows)
    (stage,) = ci_stages.molecule_stages(molecule)
    assert stage.detail == "destroy 4 create 3 converge 61"
    assert ci_stages.table([stage]).splitlines()[-1].split()[-6:] == [
        "destroy",
        "4",
        "create",
        "3",
        "converge",
        "61",
    ]
