"""Role variables have one description, in meta/argument_specs.yml (sctools.role_docs)."""

import pytest

from sctools import REPO_ROOT, role_docs

SPEC = """\
argument_specs:
  main:
    short_description: A role.
    options:
      demo_port:
        type: int
        default: 8080
        description: The C(port) it | listens on.
      demo_names:
        type: list
        elements: str
        default: []
        description: [Names, "one I(each)."]
      demo_mode:
        type: str
        choices: [a, b]
        default: a
        description: Mode.
      demo_secret:
        type: str
        required: true
        no_log: true
        description: Required O(x).
"""
DEFAULTS = "demo_port: 8080\ndemo_names: []\ndemo_mode: a\n"


@pytest.fixture
def role(tmp_path, monkeypatch):
    monkeypatch.setattr(role_docs, "REPO_ROOT", tmp_path)
    monkeypatch.setattr(role_docs, "ROLES_DIR", tmp_path / "roles")
    path = tmp_path / "roles" / "demo"
    (path / "meta").mkdir(parents=True)
    (path / "defaults").mkdir()
    (path / "meta" / "argument_specs.yml").write_text(SPEC)
    (path / "defaults" / "main.yml").write_text(DEFAULTS)
    (path / "README.md").write_text(f"# demo\n\n{role_docs.BEGIN}\nold\n{role_docs.END}\n\nMore.\n")
    return path


def test_every_role_agrees_with_its_spec_and_its_readme_table_is_current():
    problems = [p for d in role_docs.role_dirs([]) for p in role_docs.problems(d)]
    assert problems == [], "\n".join(problems) + "\n(run `role-docs write`, fix the spec)"


def test_every_role_has_a_spec():
    roles = {p.name for p in (REPO_ROOT / "roles").iterdir() if (p / "tasks").is_dir()}
    assert roles == {d.name for d in role_docs.role_dirs([])}


def test_write_renders_the_table_between_the_markers_and_keeps_the_rest(role):
    assert role_docs.write(role) is True
    text = (role / "README.md").read_text()
    assert text.startswith("# demo\n\n") and text.endswith("\n\nMore.\n")
    rows = text.split(role_docs.BEGIN)[1].split(role_docs.END)[0].strip().splitlines()
    assert rows[2] == "| `demo_port` | int | `8080` | The `port` it \\| listens on. |"
    assert rows[3] == "| `demo_names` | list of str | `[]` | Names one *each*. |"
    assert rows[4] == "| `demo_mode` | str | `a` | Mode. One of: `a`, `b`. |"
    assert rows[5] == "| `demo_secret` | str | **required** | Required `x`. Secret: never logged. |"
    assert role_docs.problems(role) == []
    assert role_docs.write(role) is False


@pytest.mark.parametrize(
    ("spec", "defaults", "expected"),
    [
        (
            SPEC,
            DEFAULTS + "demo_extra: 1\n",
            "demo_extra is in defaults/main.yml but not in the spec",
        ),
        (SPEC, "demo_port: 8080\ndemo_names: []\n", "demo_mode is not required and has no default"),
        (
            SPEC,
            DEFAULTS.replace("8080", "9090"),
            "demo_port: default 8080 but defaults/main.yml has 9090",
        ),
        (SPEC, DEFAULTS + "demo_secret: x\n", "demo_secret is required but has a default"),
        (SPEC.replace("        default: a\n", ""), DEFAULTS, "demo_mode: default None"),
    ],
)
def test_a_disagreement_is_named_with_its_file(role, spec, defaults, expected):
    role_docs.write(role)
    (role / "meta" / "argument_specs.yml").write_text(spec)
    (role / "defaults" / "main.yml").write_text(defaults)
    found = role_docs.problems(role)
    assert any(
        p.startswith("roles/demo/meta/argument_specs.yml: ") and expected in p for p in found
    ), found


def test_a_stale_or_missing_table_is_reported(role):
    assert any(
        p.endswith("the variable table is stale: run `role-docs write`")
        for p in role_docs.problems(role)
    )
    (role / "README.md").write_text("# demo\n")
    assert any("no variable table" in p for p in role_docs.problems(role))
    assert role_docs.main(["write", "demo"]) == 2


def test_check_exit_codes(role, capsys):
    assert role_docs.main(["check", "demo"]) == 1
    assert "stale" in capsys.readouterr().out
    assert role_docs.main(["write", "demo"]) == 0
    assert role_docs.main(["check", "demo"]) == 0
    assert role_docs.main(["check", "nosuch"]) == 2
    (role / "defaults" / "main.yml").write_text("a: 1\na: 2\n")
    assert role_docs.main(["check", "demo"]) == 2
    assert "duplicate key" in capsys.readouterr().err


def test_every_entry_point_has_its_own_table(role):
    spec = role / "meta" / "argument_specs.yml"
    spec.write_text(
        SPEC + "  site:\n    short_description: A site.\n    options:\n"
        "      demo_site:\n        type: str\n        required: true\n"
        "        description: Its name.\n"
    )
    assert any(
        "no variable table between the role-docs markers of entry point site" in p
        for p in role_docs.problems(role)
    )
    with pytest.raises(role_docs.RoleDocsError, match="entry point site"):
        role_docs.write(role)
    readme = role / "README.md"
    readme.write_text(readme.read_text() + f"\n{role_docs.begin_marker('site')}\n{role_docs.END}\n")
    assert role_docs.write(role) is True
    site = readme.read_text().split(role_docs.begin_marker("site"))[1].split(role_docs.END)[0]
    assert "| `demo_site` | str | **required** | Its name. |" in site
    assert "demo_port" not in site
    assert role_docs.problems(role) == []
