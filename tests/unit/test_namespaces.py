"""Namespace metadata: validation, aggregation, build and diff (tools/sctools/namespaces.py).

Each bad input is fed to `namespaces build` over a previous good build: the
command must exit 1, name the file and the field, and leave the output
directory byte-identical (nothing written, no temporary directory left).
"""

from __future__ import annotations

import copy
import difflib
import errno
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from sctools import namespace_outputs, namespaces
from sctools.cli import Exit
from sctools.namespace_metadata import (
    BRANCH_NAME,
    CONNECTION_NAME,
    GROUP_NAME,
    MEMBER_NAME,
    NAMESPACE_NAME,
    PROJECT_NAME,
    TENANT_NAME,
    MetadataError,
    validate_files,
)
from sctools.namespace_outputs import git_config_value, render

INFRA = {
    "admin-group": {"name": "infra-root", "members": ["root1"]},
    "zuul-connection": "gerrit",
    "metadata-project": "alpha/meta",
    "deploy-tenant": "deploy",
}
ALPHA = {
    "name": "alpha",
    "description": "Alpha",
    "approvers": "alpha-core",
    "groups": {"alpha-core": {"members": ["ann", "abe"]}},
    "projects": {
        "alpha/meta": {"description": "holds namespaces/"},
        "alpha/config": {"description": "alpha's pipelines"},
        "alpha/one": {"description": "one"},
        "alpha/old": {"description": "old", "retired": True},
    },
    "tenant": {
        "name": "alpha",
        "config-projects": ["alpha/config"],
        "untrusted-projects": ["alpha/one"],
    },
}
BETA = {
    "name": "beta",
    "description": "Beta",
    "approvers": "beta-core",
    "groups": {
        "beta-core": {"members": ["bea"]},
        "beta-docs": {"description": "docs", "members": ["bob"]},
    },
    "projects": {
        "beta/two": {"description": "two", "default-branch": "main"},
        "beta/docs": {"description": "docs", "approvers": ["beta-docs"]},
    },
    "tenant": {
        "name": "beta",
        "options": {"max-job-timeout": 3600},
        "untrusted-projects": ["beta/two", {"name": "beta/docs", "include": ["job"]}],
        "loads": {"untrusted-projects": [{"name": "alpha/one", "include": ["job"]}]},
    },
}
BASE = {"_infra.yaml": INFRA, "alpha.yaml": ALPHA, "beta.yaml": BETA}


def write_metadata(directory: Path, data: dict) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("*.y*ml"):
        old.unlink()
    for name, content in data.items():
        text = content if isinstance(content, str) else yaml.safe_dump(content, sort_keys=False)
        (directory / name).write_text(text)
    return directory


def snapshot(directory: Path) -> dict[str, bytes]:
    return {
        p.relative_to(directory).as_posix(): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def good_build(tmp_path):
    """A valid metadata directory and a build of it in tmp_path/out."""
    meta = write_metadata(tmp_path / "namespaces", BASE)
    out = tmp_path / "out"
    assert namespaces.main(["build", "--namespaces", str(meta), "--out", str(out)]) == 0
    return meta, out


def build(meta: Path, out: Path, capsys) -> tuple[int, str]:
    capsys.readouterr()
    code = namespaces.main(["build", "--namespaces", str(meta), "--out", str(out)])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def mutated(change) -> dict:
    data = copy.deepcopy(BASE)
    change(data)
    return data


# --- Every bad input: exit 1, file and field named, nothing written -------------------


def _set(path: list, value):
    def change(data):
        node = data
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return change


def _delete(path: list):
    def change(data):
        node = data
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]

    return change


def _both(*changes):
    def change(data):
        for c in changes:
            c(data)

    return change


BAD_INPUTS = {
    "unknown top-level key": (
        _set(["alpha.yaml", "colour"], "red"),
        "alpha.yaml", "colour", "unknown key",
    ),
    "unknown project key (typo)": (
        _set(["alpha.yaml", "projects", "alpha/one", "default_branch"], "main"),
        "alpha.yaml", "projects.alpha/one.default_branch", "unknown key",
    ),
    "unknown tenant option": (
        _set(["beta.yaml", "tenant", "options", "max-job-timeuot"], 10),
        "beta.yaml", "tenant.options.max-job-timeuot", "unknown Zuul tenant option",
    ),
    "unknown infra key": (
        _set(["_infra.yaml", "zuul-connections"], "x"),
        "_infra.yaml", "zuul-connections", "unknown key",
    ),
    "YAML syntax error": (
        _set(["beta.yaml"], "name: beta\nprojects: [unclosed\n"),
        "beta.yaml:3", "", "YAML syntax error",
    ),
    "duplicate YAML key": (
        _set(["beta.yaml"], yaml.safe_dump(BETA) + "name: beta\n"),
        f"beta.yaml:{len(yaml.safe_dump(BETA).splitlines()) + 1}", "", "duplicate key 'name'",
    ),
    "invalid project name": (
        _set(["alpha.yaml", "projects", "alpha/bad name!"], {"description": "x"}),
        "alpha.yaml", "projects.alpha/bad name!", "is not a valid project name",
    ),
    "project name ending in .git": (
        _set(["alpha.yaml", "projects", "alpha/repo.git"], {"description": "x"}),
        "alpha.yaml", "projects.alpha/repo.git", "is not a valid project name",
    ),
    "project claimed by two namespaces": (
        _set(["beta.yaml", "projects", "alpha/one"], {"description": "mine too"}),
        "beta.yaml", "projects.alpha/one", "already claimed by namespace alpha",
    ),
    "project outside the namespace's prefix": (
        _set(["beta.yaml", "projects", "gamma/three"], {"description": "x"}),
        "beta.yaml", "projects.gamma/three", "outside this namespace's prefix 'beta/'",
    ),
    "empty approver group": (
        _set(["alpha.yaml", "groups", "alpha-core", "members"], []),
        "alpha.yaml", "groups.alpha-core.members", "the approver group 'alpha-core' has no members",
    ),
    "approver group with members: left empty": (
        _set(["alpha.yaml", "groups", "alpha-core", "members"], None),
        "alpha.yaml", "groups.alpha-core.members", "has no members",
    ),
    "approvers naming a group the namespace does not define": (
        _set(["alpha.yaml", "approvers"], "beta-core"),
        "alpha.yaml", "approvers", "not defined under groups",
    ),
    "rights granted to another namespace's group": (
        _set(["beta.yaml", "projects", "beta/two", "approvers"], ["alpha-core"]),
        "beta.yaml", "projects.beta/two.approvers[0]",
        "grants rights to group 'alpha-core' that namespace beta does not own "
        "(it belongs to namespace alpha)",
    ),
    "rights granted to the infra roots' group": (
        _set(["beta.yaml", "projects", "beta/two", "approvers"], ["beta-core", "infra-root"]),
        "beta.yaml", "projects.beta/two.approvers[1]", "infra roots' admin group",
    ),
    "rights granted to a group nobody defines": (
        _set(["beta.yaml", "projects", "beta/two", "approvers"], ["ghosts"]),
        "beta.yaml", "projects.beta/two.approvers[0]", "no namespace defines it",
    ),
    "group defined by two namespaces": (
        _set(["beta.yaml", "groups", "alpha-core"], {"members": ["eve"]}),
        "beta.yaml", "groups.alpha-core", "already defined by namespace alpha",
    ),
    "namespace defining the admin group": (
        _set(["beta.yaml", "groups", "infra-root"], {"members": ["eve"]}),
        "beta.yaml", "groups.infra-root", "infra roots' admin group",
    ),
    "duplicate tenant": (
        _set(["beta.yaml", "tenant", "name"], "alpha"),
        "beta.yaml", "tenant.name", "tenant 'alpha' is already defined by namespace alpha",
    ),
    "tenant naming an undeclared project": (
        _set(["alpha.yaml", "tenant", "untrusted-projects"], ["alpha/one", "alpha/nobody"]),
        "alpha.yaml", "tenant.untrusted-projects[1]",
        "project 'alpha/nobody' is not declared by any namespace",
    ),
    "tenant loading an undeclared project": (
        _set(["beta.yaml", "tenant", "loads", "untrusted-projects"], ["zuul/zuul-jobs"]),
        "beta.yaml", "tenant.loads.untrusted-projects[0]",
        "project 'zuul/zuul-jobs' is not declared by any namespace",
    ),
    "tenant listing another namespace's project as its own": (
        _set(["beta.yaml", "tenant", "untrusted-projects"], ["alpha/one"]),
        "beta.yaml", "tenant.untrusted-projects[0]", "belongs to namespace alpha; list it under "
        "tenant.loads.untrusted-projects",
    ),
    "tenant loading a retired project": (
        _set(["alpha.yaml", "tenant", "untrusted-projects"], ["alpha/old"]),
        "alpha.yaml", "tenant.untrusted-projects[0]", "project 'alpha/old' is retired",
    ),
    "tenant listing a project twice": (
        _set(["alpha.yaml", "tenant", "untrusted-projects"], ["alpha/config"]),
        "alpha.yaml", "tenant.untrusted-projects[0]", "already listed at tenant.config-projects[0]",
    ),
    "tenant option referring to objects outside any namespace": (
        _set(["beta.yaml", "tenant", "options", "semaphores"], ["global"]),
        "beta.yaml", "tenant.options.semaphores", "outside any namespace",
    ),
    "tenant option of the wrong type": (
        _set(["beta.yaml", "tenant", "options", "max-job-timeout"], "an hour"),
        "beta.yaml", "tenant.options.max-job-timeout", "must be a positive integer",
    ),
    "unknown Zuul class in include": (
        _set(["beta.yaml", "tenant", "untrusted-projects", 1, "include"], ["jobs"]),
        "beta.yaml", "tenant.untrusted-projects[1].include[0]", "'jobs' is not one of",
    ),
    "namespace name differing from the file name": (
        _set(["beta.yaml", "name"], "gamma"),
        "beta.yaml", "name", "must match the file name (beta.yaml)",
    ),
    "missing required key": (
        _delete(["alpha.yaml", "approvers"]),
        "alpha.yaml", "approvers", "missing (required)",
    ),
    "metadata project nobody declares": (
        _set(["_infra.yaml", "metadata-project"], "alpha/missing"),
        "_infra.yaml", "metadata-project", "'alpha/missing' is not declared by any namespace",
    ),
    "retired metadata project": (
        _both(
            _set(["alpha.yaml", "projects", "alpha/meta", "retired"], True),
            _set(["alpha.yaml", "tenant", "config-projects"], []),
        ),
        "_infra.yaml", "metadata-project", "'alpha/meta' is retired",
    ),
    "deploy tenant missing": (
        _delete(["_infra.yaml", "deploy-tenant"]),
        "_infra.yaml", "deploy-tenant", "missing (required)",
    ),
    "deploy tenant not a tenant name": (
        _set(["_infra.yaml", "deploy-tenant"], "deploy tenant"),
        "_infra.yaml", "deploy-tenant", "tenant name",
    ),
    "namespace tenant named as the deploy tenant": (
        _set(["beta.yaml", "tenant", "name"], "deploy"),
        "beta.yaml", "tenant.name", "is the infra roots' deploy tenant",
    ),
    "namespace tenant loading the metadata project, untrusted": (
        _set(["alpha.yaml", "tenant", "untrusted-projects"], ["alpha/one", "alpha/meta"]),
        "alpha.yaml", "tenant.untrusted-projects[1]", "'alpha/meta' is the metadata project",
    ),
    "namespace tenant loading the metadata project, trusted": (
        _set(
            ["beta.yaml", "tenant", "loads", "config-projects"],
            [{"name": "alpha/meta", "exclude": ["pipeline"]}],
        ),
        "beta.yaml", "tenant.loads.config-projects[0]", "loaded only by the deploy tenant 'deploy'",
    ),
    "empty admin group": (
        _set(["_infra.yaml", "admin-group", "members"], []),
        "_infra.yaml", "admin-group.members", "the admin group has no members",
    ),
    "missing _infra.yaml": (
        _delete(["_infra.yaml"]),
        "_infra.yaml", "", "missing",
    ),
    "a .yml file": (
        _both(_set(["gamma.yml"], "name: gamma\n")),
        "gamma.yml", "", "rename it",
    ),
    "invalid default branch": (
        _set(["beta.yaml", "projects", "beta/two", "default-branch"], "main..x"),
        "beta.yaml", "projects.beta/two.default-branch", "not a valid branch name",
    ),
}  # fmt: skip


@pytest.mark.parametrize(("change", "file", "field", "message"), BAD_INPUTS.values(),
                         ids=list(BAD_INPUTS))  # fmt: skip
def test_bad_input_is_rejected_naming_file_and_field_and_nothing_is_written(
    good_build, capsys, change, file, field, message
):
    meta, out = good_build
    before = snapshot(out)
    siblings = sorted(p.name for p in out.parent.iterdir())
    write_metadata(meta, mutated(change))

    code, output = build(meta, out, capsys)

    assert code == Exit.FAILED, output
    where = f"{meta}/{file}: {field}: " if field else f"{meta}/{file}: "
    lines = [line for line in output.splitlines() if line.startswith(where)]
    assert any(message in line for line in lines), output
    assert "nothing written" in output
    assert snapshot(out) == before
    assert sorted(p.name for p in out.parent.iterdir()) == siblings


SITE_DEPLOY_TENANT = [
    {
        "tenant": {
            "name": "deploy",
            "source": {
                "gerrit": {
                    "config-projects": ["site/pipelines", {"alpha/meta": {"exclude": ["pipeline"]}}]
                }
            },
        }
    }
]


def build_with_deploy_tenant(meta: Path, out: Path, tenant_file: Path, capsys) -> tuple[int, str]:
    capsys.readouterr()
    argv = [
        "build",
        "--namespaces",
        str(meta),
        "--out",
        str(out),
        "--deploy-tenant",
        str(tenant_file),
    ]
    code = namespaces.main(argv)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_a_site_deploy_tenant_replaces_the_generated_one_and_nothing_else(
    good_build, tmp_path, capsys
):
    meta, out = good_build
    before = yaml.safe_load((out / "zuul/main.yaml").read_text())
    tenant_file = tmp_path / "site-tenant.yaml"
    tenant_file.write_text(yaml.safe_dump(SITE_DEPLOY_TENANT))
    code, output = build_with_deploy_tenant(meta, out, tenant_file, capsys)
    assert code == Exit.OK, output
    after = yaml.safe_load((out / "zuul/main.yaml").read_text())
    assert [t["tenant"]["name"] for t in after] == [t["tenant"]["name"] for t in before]
    assert after[2] == SITE_DEPLOY_TENANT[0]
    assert after[:2] == before[:2]


@pytest.mark.parametrize(
    ("content", "field", "message"),
    [
        ("[{tenant: {name: deploy, source: {gerrit: {}}}\n", "", "expected"),
        ({"tenant": {"name": "deploy"}}, "", "must be a list of one tenant, not a mapping"),
        (SITE_DEPLOY_TENANT * 2, "", "must be a list of one tenant"),
        (
            [{"tenant": {"name": "other", "source": {"gerrit": {}}}}],
            "[0].tenant.name",
            "must be 'deploy'",
        ),
        (
            [{"tenant": {"name": "deploy", "source": {"git": {}}}}],
            "[0].tenant.source",
            "connection 'gerrit'",
        ),
        ([{"tenant": {"name": "deploy"}}], "[0].tenant.source", "missing (required)"),
        ([{"tenant": "deploy"}], "[0].tenant", "must be a mapping, not a string"),
        (
            [{"tenant": {"name": "deploy", "source": {}}, "pipeline": {}}],
            "[0].pipeline",
            "unknown key",
        ),
    ],
    ids=[
        "yaml error",
        "not a list",
        "two tenants",
        "another name",
        "another connection",
        "no source",
        "tenant not a mapping",
        "more than a tenant",
    ],
)
def test_a_bad_site_deploy_tenant_is_refused_naming_the_file_and_field(
    good_build, tmp_path, capsys, content, field, message
):
    meta, out = good_build
    before = snapshot(out)
    tenant_file = tmp_path / "site-tenant.yaml"
    tenant_file.write_text(content if isinstance(content, str) else yaml.safe_dump(content))
    code, output = build_with_deploy_tenant(meta, out, tenant_file, capsys)
    assert code == Exit.FAILED, output
    where = f"{tenant_file}: {field}: " if field else f"{tenant_file}"
    assert any(line.startswith(where) and message in line for line in output.splitlines()), output
    assert "nothing written" in output
    assert snapshot(out) == before


def test_bad_input_without_previous_build_creates_no_output_dir(tmp_path, capsys):
    meta = write_metadata(tmp_path / "ns", mutated(_set(["alpha.yaml", "colour"], "red")))
    code, _ = build(meta, tmp_path / "out", capsys)
    assert code == Exit.FAILED
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ns"]


def test_every_problem_is_reported_at_once(tmp_path, capsys):
    data = _both(
        _set(["alpha.yaml", "colour"], "red"),
        _set(["beta.yaml", "tenant", "name"], "alpha"),
    )
    meta = write_metadata(tmp_path / "ns", mutated(data))
    code, output = build(meta, tmp_path / "out", capsys)
    assert code == Exit.FAILED
    assert "alpha.yaml: colour: unknown key" in output
    assert "beta.yaml: tenant.name: tenant 'alpha' is already defined" in output
    assert "2 problem(s)" in output


def test_validate_reports_problems_without_traceback(tmp_path, capsys):
    meta = write_metadata(tmp_path / "ns", mutated(_set(["beta.yaml"], "[broken\n")))
    assert namespaces.main(["validate", "--namespaces", str(meta)]) == Exit.FAILED
    err = capsys.readouterr().err
    assert f"{meta}/beta.yaml:2: YAML syntax error" in err
    assert "Traceback" not in err


# --- What the outputs say ----------------------------------------------------------


def rendered(data=BASE) -> dict[str, str]:
    files = {
        name: c if isinstance(c, str) else yaml.safe_dump(c, sort_keys=False)
        for name, c in data.items()
    }
    return render(validate_files(files))


def git_config(path: Path, *args: str) -> list[str]:
    result = subprocess.run(
        ["git", "config", "-f", str(path), *args], capture_output=True, text=True, check=False
    )
    return result.stdout.splitlines() if result.returncode == 0 else []


def test_main_yaml_has_a_tenant_per_namespace_that_wants_one_loads_first():
    main = yaml.safe_load(rendered()["zuul/main.yaml"])
    assert [item["tenant"]["name"] for item in main] == ["alpha", "beta", "deploy"]
    beta = main[1]["tenant"]
    assert beta["max-job-timeout"] == 3600
    assert beta["source"] == {
        "gerrit": {
            "untrusted-projects": [
                {"alpha/one": {"include": ["job"]}},
                "beta/two",
                {"beta/docs": {"include": ["job"]}},
            ]
        }
    }


def test_deploy_tenant_loads_the_metadata_project_alone_and_trusted():
    main = yaml.safe_load(rendered()["zuul/main.yaml"])
    deploy = next(item["tenant"] for item in main if item["tenant"]["name"] == "deploy")
    assert deploy == {"name": "deploy", "source": {"gerrit": {"config-projects": ["alpha/meta"]}}}


def test_namespace_without_tenant_gets_none():
    data = mutated(_both(_delete(["beta.yaml", "tenant"])))
    main = yaml.safe_load(rendered(data)["zuul/main.yaml"])
    assert [item["tenant"]["name"] for item in main] == ["alpha", "deploy"]


def test_projects_yaml_lists_every_project_sorted_with_its_options():
    projects = yaml.safe_load(rendered()["gerrit/projects.yaml"])
    assert [p["project"] for p in projects] == [
        "alpha/config", "alpha/meta", "alpha/old", "alpha/one", "beta/docs", "beta/two",
    ]  # fmt: skip
    two = projects[-1]
    assert two["default-branch"] == "main"
    assert two["acl-config"] == "acls/beta/beta-core.config"
    assert projects[1]["acl-config"] == "acls/_metadata.config"
    assert projects[2]["acl-config"] == "acls/_retired.config"
    assert projects[4]["acl-config"] == "acls/beta/beta-docs.config"
    assert two["approvers"] == ["beta-core"]
    assert projects[2]["retired"] is True


def test_groups_yaml_has_every_group_with_its_members():
    groups = {g["name"]: g for g in yaml.safe_load(rendered()["gerrit/groups.yaml"])}
    assert sorted(groups) == ["alpha-core", "beta-core", "beta-docs", "infra-root"]
    assert groups["alpha-core"]["members"] == ["abe", "ann"]
    assert groups["infra-root"]["namespace"] is None
    assert {g["owner"] for g in groups.values()} == {"infra-root"}


def test_acl_gives_approvers_review_and_workflow_and_infra_root_ownership(tmp_path):
    path = tmp_path / "docs.config"
    path.write_text(rendered()["gerrit/acls/beta/beta-docs.config"])
    assert git_config(path, "--get-all", "access.refs/*.owner") == ["group infra-root"]
    assert git_config(path, "--get-all", "access.refs/heads/*.label-Code-Review") == [
        "-2..+2 group beta-docs"
    ]
    assert git_config(path, "--get-all", "access.refs/heads/*.label-Workflow") == [
        "-1..+1 group beta-docs"
    ]


def test_projects_with_the_same_approvers_share_one_acl_file():
    data = mutated(_set(["beta.yaml", "projects", "beta/three"], {"description": "three"}))
    files = rendered(data)
    projects = {p["project"]: p for p in yaml.safe_load(files["gerrit/projects.yaml"])}
    assert projects["beta/three"]["acl-config"] == projects["beta/two"]["acl-config"]
    assert sorted(p for p in files if p.startswith("gerrit/acls/")) == [
        "gerrit/acls/_metadata.config",
        "gerrit/acls/_retired.config",
        "gerrit/acls/alpha/alpha-core.config",
        "gerrit/acls/beta/beta-core.config",
        "gerrit/acls/beta/beta-docs.config",
    ]


def test_retired_project_is_read_only_and_grants_nothing(tmp_path):
    path = tmp_path / "old.config"
    path.write_text(rendered()["gerrit/acls/_retired.config"])
    assert git_config(path, "--get", "project.state") == ["read only"]
    assert git_config(path, "--get-all", "access.refs/heads/*.label-Code-Review") == []


def test_metadata_project_gives_each_namespace_its_own_file(tmp_path):
    path = tmp_path / "meta.config"
    path.write_text(rendered()["gerrit/acls/_metadata.config"])
    # beta's approvers may vote on the default branch, but not veto (-2).
    assert git_config(path, "--get-all", "access.refs/heads/master.label-Code-Review") == [
        "-1..+2 group beta-core"
    ]
    assert git_config(path, "--get", "submit-requirement.Namespace-beta.applicableIf") == [
        'file:"^namespaces/beta[.]yaml"'
    ]
    assert git_config(path, "--get", "submit-requirement.Namespace-beta.submittableIf") == [
        "label:Code-Review=MAX,group=beta-core OR label:Code-Review=MAX,group=infra-root"
    ]
    assert git_config(path, "--get", "submit-requirement.Infra-Review.applicableIf") == [
        'file:"^~(namespaces/(alpha|beta)[.]yaml)"'
    ]
    assert git_config(path, "--get", "submit-requirement.Infra-Review.submittableIf") == [
        "label:Code-Review=MAX,group=alpha-core OR label:Code-Review=MAX,group=infra-root"
    ]


@pytest.mark.parametrize(
    "text",
    ['say "hi"', "back\\slash", "# not a comment", "semi; colon", " padded ", "two\nlines",
     "tab\there", "plain words"],
)  # fmt: skip
def test_git_config_values_round_trip_through_git(tmp_path, text):
    path = tmp_path / "x.config"
    path.write_text(f"[project]\n\tdescription = {git_config_value(text)}\n")
    result = subprocess.run(
        ["git", "config", "-f", str(path), "--get", "project.description"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert result.stdout == text + "\n"


# --- Determinism -------------------------------------------------------------------


def test_two_builds_are_byte_identical(tmp_path):
    meta = write_metadata(tmp_path / "ns", BASE)
    for out in ("one", "two"):
        assert (
            namespaces.main(["build", "--namespaces", str(meta), "--out", str(tmp_path / out)]) == 0
        )
    assert snapshot(tmp_path / "one") == snapshot(tmp_path / "two")


def test_order_of_files_and_of_keys_does_not_matter():
    reordered = {name: BASE[name] for name in reversed(list(BASE))}
    alpha = copy.deepcopy(ALPHA)
    alpha["projects"] = dict(reversed(list(alpha["projects"].items())))
    alpha["groups"]["alpha-core"]["members"] = ["abe", "ann"]
    reordered["alpha.yaml"] = dict(reversed(list(alpha.items())))
    assert rendered(reordered) == rendered(BASE)


def test_build_of_unchanged_metadata_leaves_the_directory_alone(good_build, capsys):
    meta, out = good_build
    inode = out.stat().st_ino
    code, output = build(meta, out, capsys)
    assert code == 0
    assert "is up to date" in output
    assert out.stat().st_ino == inode


def test_build_replaces_the_previous_build_completely(good_build, capsys):
    meta, out = good_build
    data = mutated(_delete(["beta.yaml", "projects", "beta/docs"]))
    data["beta.yaml"]["tenant"]["untrusted-projects"] = ["beta/two"]
    write_metadata(meta, data)
    code, output = build(meta, out, capsys)
    assert code == 0, output
    assert not (out / "gerrit/acls/beta/docs.config").exists()
    assert snapshot(out) == {
        **{k: v.encode() for k, v in rendered(data).items()},
        namespaces.MARKER: namespaces.MARKER_TEXT.encode(),
    }
    # The link and its generation, no leftovers.
    assert beside(out) == sorted(["out", os.readlink(out)])


def test_build_refuses_to_replace_a_directory_it_did_not_write(tmp_path, capsys):
    meta = write_metadata(tmp_path / "ns", BASE)
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "keep.txt").write_text("mine")
    code, output = build(meta, precious, capsys)
    assert code == Exit.USAGE
    assert "is not a namespaces build directory" in output
    assert snapshot(precious) == {"keep.txt": b"mine"}


# --- Diff --------------------------------------------------------------------------


def run(capsys, *argv) -> tuple[int, str]:
    capsys.readouterr()
    code = namespaces.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_diff_against_an_up_to_date_build_says_so(good_build, capsys):
    meta, out = good_build
    code, output = run(capsys, "diff", "--namespaces", str(meta), "--out", str(out), "--exit-code")
    assert code == 0
    assert output.strip() == "no differences"


def test_diff_against_a_build_shows_what_a_change_will_do_and_writes_nothing(good_build, capsys):
    meta, out = good_build
    before = snapshot(out)
    new = {"description": "n", "approvers": ["beta-core", "beta-docs"]}
    write_metadata(meta, mutated(_set(["beta.yaml", "projects", "beta/new"], new)))
    code, output = run(capsys, "diff", "--namespaces", str(meta), "--out", str(out), "--exit-code")
    assert code == Exit.DIFFERENT
    assert "added    gerrit/acls/beta/beta-core+beta-docs.config" in output
    assert "changed  gerrit/projects.yaml" in output
    assert "+- project: beta/new" in output
    assert "zuul/main.yaml" not in output
    assert snapshot(out) == before
    code, _ = run(capsys, "diff", "--namespaces", str(meta), "--out", str(out))
    assert code == 0  # differences are not an error without --exit-code


def test_diff_stat_lists_files_only(good_build, capsys):
    meta, out = good_build
    write_metadata(
        meta, mutated(_set(["alpha.yaml", "tenant", "options"], {"max-dependencies": 9}))
    )
    code, output = run(capsys, "diff", "--namespaces", str(meta), "--out", str(out), "--stat")
    assert code == 0
    assert "changed  zuul/main.yaml" in output
    assert "@@" not in output


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.org", *args],
        check=True, capture_output=True,
    )  # fmt: skip


def test_diff_against_a_git_revision(tmp_path, capsys):
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "master")
    (repo / "README").write_text("x\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "before namespaces")
    meta = write_metadata(repo / "namespaces", BASE)
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "namespaces")

    code, output = run(
        capsys, "diff", "--namespaces", str(meta), "--against", "HEAD", "--exit-code"
    )
    assert (code, output.strip()) == (0, "no differences")

    write_metadata(meta, mutated(_set(["alpha.yaml", "projects", "alpha/one", "retired"], True)))
    write_metadata(meta, mutated(_both(
        _set(["alpha.yaml", "projects", "alpha/one", "retired"], True),
        _set(["alpha.yaml", "tenant", "untrusted-projects"], []),
        _set(["beta.yaml", "tenant", "loads"], {}),
    )))  # fmt: skip
    code, output = run(
        capsys, "diff", "--namespaces", str(meta), "--against", "HEAD", "--exit-code"
    )
    assert code == Exit.DIFFERENT
    assert "changed  gerrit/projects.yaml" in output
    assert (
        "-  acl-config: acls/alpha/alpha-core.config\n+  acl-config: acls/_retired.config" in output
    )
    assert "-        - alpha/one" in output  # the tenant no longer loads it

    # A revision before namespaces/ existed: everything is new.
    code, output = run(capsys, "diff", "--namespaces", str(meta), "--against", "HEAD~1", "--stat")
    assert code == 0
    assert "added    zuul/main.yaml" in output

    code, output = run(capsys, "diff", "--namespaces", str(meta), "--against", "no-such-rev")
    assert code == Exit.USAGE
    assert "no-such-rev" in output


# --- The repository's own namespaces -----------------------------------------------


def test_the_repository_namespaces_validate():
    meta = namespaces.load(namespaces.NAMESPACES_DIR)
    assert {"opendev", "zuul", "openstack"} <= set(meta.namespaces)
    assert meta.infra.metadata_project == "opendev/system-config"
    assert meta.projects["opendev/system-config"].namespace == "opendev"
    assert any(p.retired for p in meta.namespaces["openstack"].projects.values())
    openstack = meta.namespaces["openstack"].tenant
    loaded = [p.name for p in openstack.loads["untrusted-projects"]]
    assert "zuul/zuul-jobs" in loaded


def test_every_acl_of_the_repository_parses_with_git_config(tmp_path):
    files = render(namespaces.load(namespaces.NAMESPACES_DIR))
    acls = {path: text for path, text in files.items() if path.endswith(".config")}
    projects = yaml.safe_load(files["gerrit/projects.yaml"])
    assert {"gerrit/" + p["acl-config"] for p in projects} == set(acls)
    for path, text in acls.items():
        target = tmp_path / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        result = subprocess.run(
            ["git", "config", "-f", str(target), "--list"], capture_output=True, text=True
        )
        assert result.returncode == 0, f"{path}: {result.stderr}"
        assert "access.refs/*.owner=group infra-root" in result.stdout


def test_git_config_rejects_a_broken_acl(tmp_path):
    # The check above can fail: git refuses what Gerrit's parser would refuse.
    path = tmp_path / "broken.config"
    path.write_text('[access "refs/heads/*]\n\towner = group x\n')
    result = subprocess.run(["git", "config", "-f", str(path), "--list"], capture_output=True)
    assert result.returncode != 0


def test_help_documents_exit_codes(capsys):
    with pytest.raises(SystemExit) as exit_:
        namespaces.main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "Exit codes" in out and "diff --exit-code" in out


def test_metadata_error_lists_problems_sorted():
    with pytest.raises(MetadataError) as error:
        validate_files({"_infra.yaml": "{}\n"})
    assert str(error.value).splitlines() == sorted(str(error.value).splitlines())


# --- Every entry of namespaces/ is a metadata file or a documented ignore -----------


def _rename(meta: Path, name: str) -> None:
    (meta / "beta.yaml").rename(meta / name)


def _into_subdirectory(meta: Path, name: str) -> None:
    (meta / "old").mkdir()
    (meta / "beta.yaml").rename(meta / name)


def _dangling_symlink(meta: Path, name: str) -> None:
    (meta / "beta.yaml").unlink()
    (meta / name).symlink_to("gone/beta.yaml")


def _symlink(meta: Path, name: str) -> None:
    (meta / "beta.yaml").rename(meta.parent / "elsewhere.yaml")
    (meta / name).symlink_to(meta.parent / "elsewhere.yaml")


# Each drops beta from the build if the entry is ignored: its tenant, its
# projects, groups and ACLs would vanish without a word.
VANISHING = {
    "renamed to .YAML": (_rename, "beta.YAML", "'beta.YAML' is not a metadata file name"),
    "trailing space": (_rename, "beta.yaml ", "'beta.yaml ' is not a metadata file name"),
    "other suffix": (_rename, "beta.yaml.orig", "is not a metadata file name"),
    "moved into a subdirectory": (_into_subdirectory, "old/beta.yaml", "is a directory"),
    "dangling symlink": (_dangling_symlink, "beta.yaml", "is a dangling symlink"),
    "symlink": (_symlink, "beta.yaml", "is a symlink"),
}


@pytest.mark.parametrize(("change", "name", "message"), VANISHING.values(), ids=list(VANISHING))
def test_a_namespace_file_that_is_not_read_is_an_error_naming_it(
    good_build, capsys, change, name, message
):
    meta, out = good_build
    before = snapshot(out)
    change(meta, name)
    code, output = build(meta, out, capsys)
    assert code == Exit.FAILED, output
    entry = name.split("/")[0]
    assert f"{meta}/{entry}: " in output
    assert message in output
    assert snapshot(out) == before
    code, output = run(capsys, "validate", "--namespaces", str(meta))
    assert code == Exit.FAILED
    assert message in output


def test_readme_and_hidden_files_are_ignored(good_build, capsys):
    meta, out = good_build
    (meta / "README.md").write_text("# Namespaces\n")
    (meta / ".beta.yaml.swp").write_bytes(b"\xff\x00 not text")
    (meta / ".hidden").mkdir()
    code, output = build(meta, out, capsys)
    assert code == 0, output
    assert "is up to date" in output


def test_a_namespace_in_a_subdirectory_of_a_revision_is_an_error(tmp_path, capsys):
    repo = tmp_path / "repo"
    meta = write_metadata(repo / "namespaces", BASE)
    git(repo, "init", "-q", "-b", "master")
    (meta / "old").mkdir()
    (meta / "beta.yaml").rename(meta / "old/beta.yaml")
    (meta / "README.md").write_text("# Namespaces\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "beta moved")
    (meta / "old/beta.yaml").rename(meta / "beta.yaml")  # the working tree is fine
    (meta / "old").rmdir()
    code, output = run(capsys, "diff", "--namespaces", str(meta), "--against", "HEAD")
    assert code == Exit.FAILED, output
    assert "HEAD:namespaces/old: is a directory" in output


# --- Names are matched whole: a trailing newline is not a valid name ---------------


def _rename_key(path: list, new: str):
    def change(data):
        node = data
        for key in path[:-1]:
            node = node[key]
        node[new] = node.pop(path[-1])

    return change


# `$` matches before a trailing newline: each of these passed every check
# and the name went, newline included, into ACL file names and group lines.
NEWLINE_NAMES = {
    "namespace name": (
        _set(["beta.yaml", "name"], "beta\n"), "beta.yaml", "name", "namespace name",
    ),
    "project name": (
        _both(
            _rename_key(["beta.yaml", "projects", "beta/two"], "beta/two\n"),
            _set(["beta.yaml", "tenant", "untrusted-projects"], ["beta/docs"]),
        ),
        "beta.yaml", "projects.beta/two\n", "project name",
    ),
    "group name": (
        _rename_key(["beta.yaml", "groups", "beta-docs"], "beta-docs\n"),
        "beta.yaml", "groups.beta-docs\n", "group name",
    ),
    "approver group": (
        _set(["beta.yaml", "projects", "beta/docs", "approvers"], ["beta-docs\n"]),
        "beta.yaml", "projects.beta/docs.approvers[0]", "group name",
    ),
    "member": (
        _set(["beta.yaml", "groups", "beta-docs", "members"], ["bob\n"]),
        "beta.yaml", "groups.beta-docs.members[0]", "account name",
    ),
    "default branch": (
        _set(["beta.yaml", "projects", "beta/two", "default-branch"], "main\n"),
        "beta.yaml", "projects.beta/two.default-branch", "branch name",
    ),
    "tenant name": (
        _set(["beta.yaml", "tenant", "name"], "beta\n"), "beta.yaml", "tenant.name", "tenant name",
    ),
    "tenant project": (
        _set(["beta.yaml", "tenant", "untrusted-projects", 0], "beta/two\n"),
        "beta.yaml", "tenant.untrusted-projects[0]", "project name",
    ),
    "Zuul connection": (
        _set(["_infra.yaml", "zuul-connection"], "gerrit\n"),
        "_infra.yaml", "zuul-connection", "Zuul connection name",
    ),
    "admin group": (
        _set(["_infra.yaml", "admin-group", "name"], "infra-root\n"),
        "_infra.yaml", "admin-group", "group name",
    ),
}  # fmt: skip


@pytest.mark.parametrize(("change", "file", "field", "what"), NEWLINE_NAMES.values(),
                         ids=list(NEWLINE_NAMES))  # fmt: skip
def test_a_name_ending_in_a_newline_is_rejected(good_build, capsys, change, file, field, what):
    meta, out = good_build
    before = snapshot(out)
    write_metadata(meta, mutated(change))
    code, output = build(meta, out, capsys)
    assert code == Exit.FAILED, output
    assert f"{meta}/{file}: {field}: " in output
    assert f"\\n' is not a valid {what}" in output  # the newline shown, as \n
    assert snapshot(out) == before


def test_no_name_pattern_accepts_a_trailing_newline_even_with_match():
    valid = {
        NAMESPACE_NAME: "beta", PROJECT_NAME: "beta/two", GROUP_NAME: "beta-core",
        MEMBER_NAME: "bob", BRANCH_NAME: "main", TENANT_NAME: "beta", CONNECTION_NAME: "gerrit",
    }  # fmt: skip
    for pattern, name in valid.items():
        assert pattern.match(name) and pattern.fullmatch(name), pattern.pattern
        assert not pattern.match(name + "\n"), pattern.pattern


# --- validate checks everything build needs: file names that fit --------------------


def _approved_by(*lengths: int):
    """beta/docs approved by new beta groups of these name lengths."""
    groups = [f"g{i}".ljust(n, "x") for i, n in enumerate(lengths)]

    def change(data):
        beta = data["beta.yaml"]
        for group in groups:
            beta["groups"][group] = {"members": ["bob"]}
        beta["projects"]["beta/docs"]["approvers"] = groups

    return change


def _namespace_approvers(length: int):
    def change(data):
        beta = data["beta.yaml"]
        group = "core".ljust(length, "x")
        beta["groups"][group] = beta["groups"].pop("beta-core")
        beta["approvers"] = group

    return change


@pytest.mark.parametrize(
    ("change", "field", "size"),
    [
        (_approved_by(128, 128), "projects.beta/docs.approvers", 128 + 1 + 128 + len(".config")),
        (_namespace_approvers(249), "approvers", 249 + len(".config")),
    ],
    ids=["project approvers", "namespace approvers"],
)
def test_validate_refuses_what_build_could_not_write(good_build, capsys, change, field, size):
    meta, out = good_build
    before = snapshot(out)
    write_metadata(meta, mutated(change))
    code, output = run(capsys, "validate", "--namespaces", str(meta))
    assert code == Exit.FAILED, output
    assert f"{meta}/beta.yaml: {field}: the ACL file 'gerrit/acls/beta/" in output
    assert f"has a {size}-byte name; file systems allow 255" in output
    code, output = build(meta, out, capsys)
    assert code == Exit.FAILED, output
    assert snapshot(out) == before


def test_the_longest_acl_file_name_validate_accepts_is_built(good_build, capsys):
    meta, out = good_build
    write_metadata(meta, mutated(_approved_by(124, 123)))  # 124 + 1 + 123 + 7 = 255 bytes
    assert run(capsys, "validate", "--namespaces", str(meta))[0] == 0
    code, output = build(meta, out, capsys)
    assert code == 0, output
    names = [p.name for p in (out / "gerrit/acls/beta").iterdir()]
    assert max(len(n.encode()) for n in names) == 255


# --- The output swap: a reader sees the old build or the new one, whatever happens -


def beside(out: Path) -> list[str]:
    """What is in the output's parent directory, but the metadata (ns, namespaces)."""
    return sorted(p.name for p in out.parent.iterdir() if p.name not in ("ns", "namespaces"))


def settled(out: Path) -> list[str]:
    """What a finished build leaves: `out`, and the generation it links to."""
    return sorted(["out", os.readlink(out)]) if out.is_symlink() else ["out"]


def expected(data: dict) -> dict[str, bytes]:
    return {
        **{k: v.encode() for k, v in rendered(data).items()},
        namespaces.MARKER: namespaces.MARKER_TEXT.encode(),
    }


def write_legacy(out: Path, data: dict) -> None:
    """`out` as a build before generations wrote it: a real directory."""
    for path, text in {**rendered(data), namespaces.MARKER: namespaces.MARKER_TEXT}.items():
        (out / path).parent.mkdir(parents=True, exist_ok=True)
        (out / path).write_text(text)


KILLED = 137
# Every call that changes the file system, counted; the child dies before
# the one numbered `step`.
CHANGES = ("mkdir", "symlink", "replace", "rename", "unlink", "rmdir")


def killed_build(meta: Path, out: Path, step: int) -> tuple[int, int]:
    """`namespaces build` in a child process that dies (os._exit: no except, no finally)
    before its step-th file-system change; step 0: never. (exit code, changes made)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os.close(read)
            made = 0

            def counted(real):
                def change(*args, **kwargs):
                    nonlocal made
                    made += 1
                    if made == step:
                        os._exit(KILLED)
                    return real(*args, **kwargs)

                return change

            for name in CHANGES:
                setattr(os, name, counted(getattr(os, name)))
            namespaces.open = counted(open)  # the files written, one by one
            if hasattr(namespaces, "_exchange"):
                namespaces._exchange = counted(namespaces._exchange)
            code = namespaces.main(["build", "--namespaces", str(meta), "--out", str(out)])
            os.write(write, str(made).encode())
            os._exit(code)
        finally:
            os._exit(99)
    os.close(write)
    _, status = os.waitpid(pid, 0)
    with os.fdopen(read) as stream:
        made = stream.read()
    return os.waitstatus_to_exitcode(status), int(made or 0)


NEW = mutated(_both(
    _delete(["beta.yaml", "projects", "beta/docs"]),
    _set(["beta.yaml", "tenant", "untrusted-projects"], ["beta/two"]),
    _set(["alpha.yaml", "groups", "alpha-ops"], {"members": ["ann"]}),
    _set(["alpha.yaml", "projects", "alpha/ops"], {"description": "o", "approvers": ["alpha-ops"]}),
))  # fmt: skip


def _previous_generation(meta: Path, out: Path) -> None:
    assert namespaces.main(["build", "--namespaces", str(meta), "--out", str(out)]) == 0


def _previous_legacy_directory(meta: Path, out: Path) -> None:
    write_legacy(out, BASE)


def _no_previous_build(meta: Path, out: Path) -> None:
    pass


@pytest.mark.parametrize(
    "previous", [_previous_generation, _previous_legacy_directory, _no_previous_build]
)
def test_a_build_killed_at_any_step_leaves_the_old_or_the_new_build(tmp_path, capsys, previous):
    def setup(name: str) -> tuple[Path, Path]:
        meta = write_metadata(tmp_path / name / "ns", BASE)
        out = tmp_path / name / "out"
        previous(meta, out)
        write_metadata(meta, NEW)
        return meta, out

    old = expected(BASE) if previous is not _no_previous_build else None
    new = expected(NEW)
    code, steps = killed_build(*setup("whole"), step=0)
    assert code == 0 and steps > 5
    for step in range(1, steps + 1):
        meta, out = setup(f"step{step}")
        code, _ = killed_build(meta, out, step)
        assert code == KILLED
        # What a reader finds: the old build or the new one, complete.
        seen = snapshot(out) if out.exists() else None
        assert seen in (old, new), f"killed before change {step}: {sorted(seen or ())}"
        # The next build completes and leaves nothing else behind.
        code, output = build(meta, out, capsys)
        assert code == 0, f"step {step}: {output}"
        assert snapshot(out) == new
        assert beside(out) == settled(out), f"step {step}"
    assert out.is_symlink()


def test_leftovers_of_builds_before_generations_are_removed(good_build, capsys):
    meta, out = good_build
    for leftover in (".out.new-k2x_9q", ".out.old-4242"):  # mkdtemp's and the pid's names
        (out.parent / leftover / "zuul").mkdir(parents=True)
        (out.parent / leftover / "zuul/main.yaml").write_text("stale\n")
    (out.parent / ".out.keep").write_text("not ours\n")
    (out.parent / ".other.gen-abc").mkdir()
    write_metadata(meta, NEW)
    code, output = build(meta, out, capsys)
    assert code == 0, output
    assert beside(out) == sorted([".other.gen-abc", ".out.keep", "out", os.readlink(out)])


def test_a_legacy_output_directory_is_migrated_to_a_generation(tmp_path, capsys):
    meta = write_metadata(tmp_path / "ns", NEW)
    out = tmp_path / "out"
    write_legacy(out, BASE)
    code, output = build(meta, out, capsys)
    assert code == 0, output
    assert out.is_symlink() and snapshot(out) == expected(NEW)
    assert beside(out) == sorted(["out", os.readlink(out)])


def test_build_refuses_an_out_that_is_a_symlink_it_did_not_make(tmp_path, capsys):
    meta = write_metadata(tmp_path / "ns", BASE)
    elsewhere = tmp_path / "elsewhere"
    write_legacy(elsewhere, BASE)
    before = snapshot(elsewhere)
    out = tmp_path / "out"
    out.symlink_to(elsewhere)
    write_metadata(meta, NEW)
    code, output = build(meta, out, capsys)
    assert code == Exit.USAGE
    assert f"is a symlink to {elsewhere}, which `namespaces build` did not make" in output
    assert os.readlink(out) == str(elsewhere) and snapshot(elsewhere) == before
    # diff only reads: it follows the link.
    code, output = run(capsys, "diff", "--namespaces", str(meta), "--out", str(out), "--stat")
    assert code == 0 and "changed  gerrit/projects.yaml" in output


def test_a_failed_write_leaves_the_old_build_and_nothing_else(good_build, capsys, monkeypatch):
    meta, out = good_build
    before = snapshot(out)
    entries = beside(out)
    write_metadata(meta, NEW)

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "symlink", full)
    code, output = build(meta, out, capsys)
    assert code == Exit.USAGE and "No space left" in output
    assert snapshot(out) == before and beside(out) == entries


def test_migration_without_renameat2_renames_aside_then_links(tmp_path, capsys, monkeypatch):
    meta = write_metadata(tmp_path / "ns", NEW)
    out = tmp_path / "out"
    write_legacy(out, BASE)

    def missing(a, b):
        raise OSError(errno.ENOSYS, "renameat2 is not available")

    monkeypatch.setattr(namespaces, "_exchange", missing)
    code, output = build(meta, out, capsys)
    assert code == 0, output
    assert out.is_symlink() and snapshot(out) == expected(NEW)
    assert beside(out) == settled(out)


# --- Work that grows with the metadata and the change, not their square -----------


def many_projects(count: int, version: str = "") -> dict:
    """BASE with `count` more projects in alpha, approved by alpha-core."""
    data = copy.deepcopy(BASE)
    projects = data["alpha.yaml"]["projects"]
    for n in range(count):
        projects[f"alpha/repo-{n:05d}"] = {"description": f"repository {n}{version}"}
    return data


def test_diff_of_scattered_changes_scans_lines_a_bounded_number_of_times(
    tmp_path, capsys, monkeypatch
):
    # difflib's SequenceMatcher rescans the stretch left between matches for
    # each scattered change: quadratic, 20 s for 5,000 projects, and no end
    # in sight for 280,000. Count the lines its longest-match search scans.
    meta = write_metadata(tmp_path / "ns", many_projects(600))
    out = tmp_path / "out"
    assert namespaces.main(["build", "--namespaces", str(meta), "--out", str(out)]) == 0
    write_metadata(meta, many_projects(600, version=" (v2)"))  # every description changes
    lines = (out / "gerrit/projects.yaml").read_text().count("\n")
    scanned = []
    original = difflib.SequenceMatcher.find_longest_match

    def counted(self, alo=0, ahi=None, blo=0, bhi=None):
        ahi = len(self.a) if ahi is None else ahi
        scanned.append(ahi - alo)
        return original(self, alo, ahi, blo, bhi)

    monkeypatch.setattr(difflib.SequenceMatcher, "find_longest_match", counted)
    code, output = run(capsys, "diff", "--namespaces", str(meta), "--out", str(out))
    assert code == 0
    assert output.count("\n+  description: repository ") == 600
    assert sum(scanned) <= 2 * lines, (sum(scanned), lines)


def test_yaml_is_dumped_in_batches_and_the_pieces_join_into_one_dump(monkeypatch):
    # PyYAML builds a node per scalar of what it dumps: one dump of every
    # project held 1.7 GB at 280,000. Dumps of _BATCH items join into the
    # same bytes as one dump of all.
    data = many_projects(250)
    sizes = []
    original = yaml.dump

    def dump(value, *args, **kwargs):
        sizes.append(len(value) if isinstance(value, list) else 1)
        return original(value, *args, **kwargs)

    monkeypatch.setattr(namespace_outputs, "_BATCH", 10**9, raising=False)
    whole = rendered(data)
    monkeypatch.setattr(namespace_outputs, "_BATCH", 7, raising=False)
    monkeypatch.setattr(yaml, "dump", dump)
    assert rendered(data) == whole
    assert len(yaml.safe_load(whole["gerrit/projects.yaml"])) == 256
    assert max(sizes) <= 7


def test_build_writes_each_file_as_it_is_made(tmp_path):
    # The outputs are streamed: the first file is on disk before the second
    # is made, so build never holds them all.
    out = tmp_path / "out"
    seen = []

    def pieces(name: str):
        written = [p.name for p in out.parent.glob(".out.gen-*/*") if p.read_text()]
        seen.append((name, sorted(written)))
        yield f"{name} 1\n"
        yield f"{name} 2\n"

    files = ((name, pieces(name)) for name in ("a", "b", "c"))
    assert namespaces.write_output_dir(out, files)
    assert seen == [("a", []), ("b", ["a"]), ("c", ["a", "b"])]
    assert (out / "c").read_text() == "c 1\nc 2\n"
