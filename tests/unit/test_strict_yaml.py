"""The one YAML loader of the tools (tools/sctools/strict_yaml.py), and the tools using it.

PyYAML alone keeps the last of two equal keys and accepts keys that are not
strings, silently. The loader refuses both, naming file, line and key; each
tool that reads YAML turns that into its bad-input exit code with one line
on stderr, and writes nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sctools import fleet, molecule_all, namespaces, run_all, strict_yaml
from sctools.analysis.loader import DepsError
from sctools.analysis.playbooks import Analyzer
from sctools.cli import Exit, ToolError


def load(text: str):
    return strict_yaml.load_text(text, "f.yaml")


def error_of(text: str) -> str:
    with pytest.raises(strict_yaml.StrictYAMLError) as error:
        load(text)
    assert "\n" not in str(error.value)
    return str(error.value)


# -- the loader -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: 1\nb: 2\na: 3\n", "f.yaml:3: duplicate key 'a' (first on line 1)"),
        (
            "playbooks:\n  base:\n    timeout: 10\n    owner: cron\n    timeout: 5\n",
            "f.yaml:5: duplicate key 'timeout' (first on line 3)",
        ),
        ("playbooks:\n  base: {}\n  certs: {}\n  base: {}\n", "f.yaml:4: duplicate key 'base'"),
        ("- name: one\n- name: two\n  name: three\n", "f.yaml:3: duplicate key 'name'"),
        ("{a: 1, b: 2, a: 3}\n", "f.yaml:1: duplicate key 'a'"),
        ("a: 1\n'a': 2\n", "f.yaml:2: duplicate key 'a'"),  # quoting changes nothing
    ],
)
def test_a_duplicate_key_is_an_error_naming_file_line_and_key(text, message):
    assert error_of(text).startswith(message)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1: x\n", "f.yaml:1: key 1 reads as an integer, not a string"),
        ("a: {}\nnull: x\n", "f.yaml:2: key null reads as null, not a string"),
        ("~: x\n", "f.yaml:1: key ~ reads as null"),
        ("[a]: x\n", "f.yaml:1: key ['a'] reads as a sequence"),
        ("? {a: 1}\n: x\n", "f.yaml:1: key {'a': 1} reads as a mapping"),
        ("settings:\n  yes: 1\n", "f.yaml:2: key yes reads as a boolean"),
        ("1.5: x\n", "f.yaml:1: key 1.5 reads as a number"),
        ("2024-01-01: x\n", "f.yaml:1: key 2024-01-01 reads as a date"),
        ("- ok: 1\n- 80: http\n", "f.yaml:2: key 80 reads as an integer"),
    ],
)
def test_a_key_that_is_not_a_string_is_an_error(text, message):
    assert error_of(text).startswith(message)


def test_string_keys_quoted_or_not_and_merge_keys_are_accepted():
    text = "'1': x\n\"null\": y\nbase: &base {a: 1, b: 2}\nother:\n  <<: *base\n  b: 3\n"
    assert load(text) == {
        "1": "x",
        "null": "y",
        "base": {"a": 1, "b": 2},
        "other": {"a": 1, "b": 3},  # a merged key may be overridden: that is what << is for
    }


def test_a_syntax_error_names_file_and_line_on_one_line():
    assert error_of("a: 1\nb: [x\n").startswith("f.yaml:3: YAML syntax error: ")
    assert error_of("a: 1\nb: \x07\n").startswith("f.yaml:2: YAML syntax error: ")


def test_a_file_that_is_not_utf8_is_an_error_naming_file_and_line(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("a: 1\nb: caf\xe9\n".encode("latin-1"))
    with pytest.raises(strict_yaml.StrictYAMLError) as error:
        strict_yaml.load(path)
    assert str(error.value) == f"{path}:2: not UTF-8 (byte 0xe9)"


def test_load_reads_a_file_and_names_it(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text("a: [1, 2]\n")
    assert strict_yaml.load(path) == {"a": [1, 2]}
    path.write_text("a: 1\na: 2\n")
    with pytest.raises(strict_yaml.StrictYAMLError, match=rf"^{path}:2: duplicate key 'a'"):
        strict_yaml.load(path)
    with pytest.raises(strict_yaml.StrictYAMLError, match="cannot read"):
        strict_yaml.load(tmp_path / "missing.yaml")


def write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def test_ansible_files_keep_their_tags_but_not_duplicate_keys(tmp_path):
    write(tmp_path, {"ansible.cfg": "[defaults]\nroles_path = roles\n"})
    analyzer = Analyzer(tmp_path)
    write(tmp_path, {"vars.yml": "secret: !vault |\n  $ANSIBLE_VAULT;1.1\nraw: !unsafe '{{'\n"})
    assert analyzer.load_yaml("vars.yml") == {"secret": "$ANSIBLE_VAULT;1.1\n", "raw": "{{"}
    write(tmp_path, {"tasks.yml": "- name: a\n  debug: {msg: x, msg: y}\n"})
    with pytest.raises(DepsError, match=rf"^{tmp_path / 'tasks.yml'}:2: duplicate key 'msg'"):
        analyzer.load_yaml("tasks.yml")
    write(tmp_path, {"tags.yml": "- !unsafe {a: 1, a: 2}\n"})  # under a tag too
    with pytest.raises(DepsError, match="tags.yml:1: duplicate key 'a'"):
        analyzer.load_yaml("tags.yml")


# -- each tool: exit code, one line naming file and line, nothing written ----------


def only_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, err
    return lines[0]


def run_all_args(tmp_path: Path) -> list[str]:
    return [
        "--schedule", str(tmp_path / "schedule.yaml"),
        "--owner", "all",
        "--log-dir", str(tmp_path / "logs"),
        "--lock-file", str(tmp_path / "run-all.lock"),
        "--stop-file", str(tmp_path / "emergency-stop"),
        "--metrics-file", str(tmp_path / "run_all.prom"),
        "--ansible-playbook", "false",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "playbooks:\n  base:\n    depends_on: []\n    timeout: 600\n    owner: cron\n"
            "    timeout: 5\n",
            "schedule.yaml:6: duplicate key 'timeout' (first on line 4)",
        ),
        (
            "playbooks:\n  base: {depends_on: [], timeout: 600, owner: cron}\n"
            "  base: {depends_on: [], timeout: 5, owner: zuul}\n",
            "schedule.yaml:3: duplicate key 'base' (first on line 2)",
        ),
        (
            "playbooks:\n  1: {depends_on: [], timeout: 600, owner: cron}\n",
            "schedule.yaml:2: key 1 reads as an integer",
        ),
    ],
)
def test_run_all_refuses_a_bad_key_in_the_schedule(tmp_path, capsys, text, message):
    (tmp_path / "schedule.yaml").write_text(text)
    assert run_all.main(run_all_args(tmp_path)) == Exit.USAGE
    line = only_line(capsys.readouterr().err)
    assert line.startswith(f"run-all: error: {tmp_path}/{message}")
    assert [p.name for p in tmp_path.iterdir()] == ["schedule.yaml"]


def test_run_all_refuses_a_schedule_that_is_not_utf8(tmp_path, capsys):
    (tmp_path / "schedule.yaml").write_bytes(b"# r\xe9sum\xe9\nplaybooks: {}\n")
    assert run_all.main(run_all_args(tmp_path)) == Exit.USAGE
    line = only_line(capsys.readouterr().err)
    assert line == f"run-all: error: {tmp_path}/schedule.yaml:1: not UTF-8 (byte 0xe9)"


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "      public_v4: 172.30.42.10\n",
            "      public_v4: 172.30.42.10\n      public_v4: 172.30.42.11\n",
            "hosts.yaml:9: duplicate key 'public_v4' (first on line 8)",
        ),
        ("    fleet_network: net\n", "    null: net\n", "hosts.yaml:3: key null reads as null"),
    ],
)
def test_fleet_refuses_a_bad_key_in_its_inventory(
    tmp_path, fleet_inventory, capsys, monkeypatch, old, new, message
):
    path = fleet_inventory((old, new))
    monkeypatch.setattr(fleet.load_fleet, "__defaults__", (path,))
    monkeypatch.setattr(fleet.docker_cli, "run", pytest.fail)  # nothing may be started
    assert fleet.main(["up"]) == 2
    assert only_line(capsys.readouterr().err).startswith(f"fleet: error: {tmp_path}/{message}")
    assert [p.name for p in tmp_path.iterdir()] == ["hosts.yaml"]


def test_fleet_refuses_a_bad_key_in_the_nested_docker_platform(tmp_path):
    path = tmp_path / "nested.yml"
    path.write_text("platforms:\n  - capabilities: [A]\n    capabilities: [B]\n")
    with pytest.raises(ToolError) as error:
        fleet.nested_docker_args(path)
    assert str(error.value).startswith(f"{path}:3: duplicate key 'capabilities'")
    assert error.value.code == 2


def test_molecule_all_refuses_a_bad_key_in_a_scenario(tmp_path, capsys, monkeypatch):
    write(
        tmp_path,
        {
            "ansible.cfg": "[defaults]\nroles_path = roles\n",
            "roles/plain/tasks/main.yml": "[]\n",
            "roles/plain/molecule/default/molecule.yml": "scenario: {name: default}\n",
            "roles/plain/molecule/default/converge.yml": (
                "- hosts: all\n  roles: [plain]\n  hosts: none\n"
            ),
        },
    )
    monkeypatch.setattr(molecule_all, "REPO_ROOT", tmp_path)
    monkeypatch.setattr(molecule_all, "ROLES_DIR", tmp_path / "roles")
    monkeypatch.setattr(molecule_all, "LOG_DIR", tmp_path / "logs")
    monkeypatch.setattr(molecule_all, "roles_with_scenario", lambda: ["plain"])
    monkeypatch.setattr(molecule_all, "run_role", pytest.fail)  # nothing may run
    monkeypatch.setattr(molecule_all, "write_summary", pytest.fail)
    assert molecule_all.main(["--command", "converge"]) == 2
    converge = tmp_path / "roles/plain/molecule/default/converge.yml"
    line = only_line(capsys.readouterr().err)
    assert line == f"molecule-all: error: {converge}:3: duplicate key 'hosts' (first on line 1)"
    assert not (tmp_path / "logs").exists()


INFRA = "admin-group: {name: infra-root, members: [root1]}\nzuul-connection: gerrit\n"
ALPHA = (
    "name: alpha\ndescription: Alpha\napprovers: alpha-core\n"
    "groups:\n  alpha-core: {members: [ann]}\n"
)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (ALPHA + "description: Again\n", "alpha.yaml:6: duplicate key 'description'"),
        (ALPHA + "1: one\n", "alpha.yaml:6: key 1 reads as an integer"),
    ],
)
def test_namespaces_refuses_a_bad_key_as_invalid_metadata(tmp_path, capsys, text, message):
    meta = write(tmp_path / "ns", {"_infra.yaml": INFRA, "alpha.yaml": text})
    out = tmp_path / "out"
    code = namespaces.main(["build", "--namespaces", str(meta), "--out", str(out)])
    assert code == Exit.FAILED  # how `namespaces` reports bad metadata
    err = capsys.readouterr().err
    assert any(line.startswith(f"{meta}/{message}") for line in err.splitlines()), err
    assert "nothing written" in err
    assert not out.exists()


def test_namespaces_refuses_a_file_that_is_not_utf8(tmp_path, capsys):
    meta = write(tmp_path / "ns", {"_infra.yaml": INFRA})
    (meta / "alpha.yaml").write_bytes(ALPHA.replace("Alpha", "Alph\xe4").encode("latin-1"))
    code = namespaces.main(["build", "--namespaces", str(meta), "--out", str(tmp_path / "out")])
    assert code == Exit.USAGE
    line = only_line(capsys.readouterr().err)
    assert line == f"namespaces: error: {meta}/alpha.yaml:2: not UTF-8 (byte 0xe4)"
    assert not (tmp_path / "out").exists()
