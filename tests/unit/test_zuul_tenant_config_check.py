"""The checker the zuul_tenant_config role installs (roles/zuul_tenant_config/files/).

It must accept every main.yaml that `namespaces build` generates and refuse
what would break the scheduler. Its lists of Zuul keys are compared with
Zuul's own schema in tests/zuul/test_namespaces_zuul.py.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from sctools import REPO_ROOT, namespaces
from sctools.namespace_outputs import render

CHECK = REPO_ROOT / "roles" / "zuul_tenant_config" / "files" / "zuul-tenant-config-check"


def check(path, *options) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(CHECK), *options, str(path)], capture_output=True, text=True
    )


def test_checker_accepts_the_repository_main_yaml(tmp_path):
    main_yaml = tmp_path / "main.yaml"
    main_yaml.write_text(render(namespaces.load(namespaces.NAMESPACES_DIR))["zuul/main.yaml"])
    result = check(main_yaml, "--connections", "gerrit")
    assert result.returncode == 0, result.stderr
    assert "4 tenant(s): valid" in result.stdout


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("- tenant:\n    name: a\n  - broken\n", "YAML syntax error"),
        ("", "non-empty list"),
        ("- admin-rule: {name: x}\n", "no tenant"),
        ("- tenant: {max-nodes-per-job: 3}\n", "'name' is missing"),
        ("- tenant: {name: a, colour: red}\n", "unknown tenant attribute 'colour'"),
        ("- tenant: {name: a}\n- tenant: {name: a}\n", "tenant 'a' duplicates item 1"),
        ("- tenant: {name: a, source: {gitlab: {}}}\n", "unknown connection 'gitlab'"),
        ("- tenant: {name: a, source: {gerrit: {trusted-projects: []}}}\n",
         "unknown key 'trusted-projects'"),
        ("- tenant: {name: a, source: {gerrit: {config-projects: [{x/y: {configure-projects: "
         "[z]}}]}}}\n", "unknown project setting 'configure-projects'"),
        ("- tenant: {name: a, source: {gerrit: {untrusted-projects: [{x/y: {}, z/w: {}}]}}}\n",
         "exactly one key"),
        ("- tenant: {name: a}\n  extra: 1\n", "must be a mapping with exactly one key"),
        ("- tenant: {name: a}\n- pipeline: {name: check}\n", "unknown object 'pipeline'"),
    ],
)  # fmt: skip
def test_checker_refuses_what_would_break_the_scheduler(tmp_path, content, message):
    path = tmp_path / "main.yaml"
    path.write_text(content)
    result = check(path, "--connections", "gerrit")
    assert result.returncode == 1, result.stdout
    assert message in result.stderr
    assert str(path) in result.stderr


def test_project_settings_and_project_groups_are_accepted(tmp_path):
    path = tmp_path / "main.yaml"
    path.write_text(
        "- tenant:\n    name: a\n    source:\n      gerrit:\n"
        "        config-projects: [{x/y: {shadow: [z], allow-base-jobs: true}}]\n"
        "        untrusted-projects:\n"
        "          - include: [job]\n            projects: [p/q, r/s]\n"
    )
    result = check(path, "--connections", "gerrit")
    assert result.returncode == 0, result.stderr


def test_without_connections_any_name_is_accepted(tmp_path):
    path = tmp_path / "main.yaml"
    path.write_text("- tenant: {name: a, source: {anything: {}}}\n")
    assert check(path).returncode == 0


def test_unreadable_file_is_a_usage_error(tmp_path):
    result = check(tmp_path / "missing.yaml")
    assert result.returncode == 2
    assert "cannot read" in result.stderr
