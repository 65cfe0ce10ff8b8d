"""Every task that writes a file some program can check checks it before it replaces the old one.

A file written without its validation step (sudoers without `visudo -cf`)
goes live broken: sudo refuses every rule, sshd does not restart, Apache
stops at its next reload. The table says which destinations have a
checker; each task of every role that writes such a file (template, copy,
lineinfile, blockinfile) must name that checker in `validate:`. A
destination built from a variable is resolved with the role's defaults
and vars first.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from sctools import REPO_ROOT

WRITERS = {"template", "copy", "lineinfile", "blockinfile"}
# (destination, checker that must appear in validate:, why)
CHECKERS = [
    (r"/etc/sudoers(\.d/.*)?", r"\bvisudo -cf ", "sudo ignores every rule of a broken file"),
    (r"/etc/ssh/sshd_config(\.d/.*)?", r"\bsshd -t ", "sshd does not start on a broken config"),
    (r".*nftables\.conf", r"\bnft -c -f ", "a broken ruleset leaves the host unprotected"),
    (r"/etc/apache2/.*", r"apache-configtest ", "Apache stops at its next reload"),
    (r"/etc/docker/daemon\.json", r"dockerd --validate ", "dockerd does not start"),
    (r"/etc/logrotate\.d/.*", r"logrotate -d ", "logrotate stops rotating everything"),
    (r"/etc/apt/apt\.conf\.d/.*", r"apt-config ", "apt stops working"),
    (r"/etc/chrony/.*\.conf", r"chronyd -p ", "time sync stops"),
    (r"/etc/exim4/.*\.conf\.conf", r"update-exim4\.conf .*--check", "exim stops delivering"),
    (r"/etc/mysql/.*\.cnf", r"mariadbd --defaults-file=", "MariaDB does not start"),
    (r".*/zoo\.cfg", r"zookeeper-config-check ", "a member does not rejoin the ensemble"),
    (r".*/zuul\.conf", r"zuul-conf-check ", "every Zuul service fails to start"),
    (
        r".*/(main|tenant)[^/]*\.yaml",
        r"tenant-conf-check|zuul-tenant",
        "the scheduler drops tenants",
    ),
    (r".*/docker-compose\.ya?ml", r"docker compose .* config", "the service is not brought up"),
    (r".*/id_[a-z0-9]+|.*\.key", r"ssh-keygen -y |openssl ", "a broken key locks the service out"),
]
# Scripts: the checker of the language their first line names.
SCRIPTS = r".*\.sh|/usr/local/s?bin/.*|.*/hook\.sh"
SCRIPT_CHECKERS = {"bash": r"\bbash -n ", "sh": r"\b(ba)?sh -n ", "python3": r"\bast\.parse\("}
# Written files with no checker, and why that is acceptable.
UNCHECKED = {
    # Java sources are compiled by the next task, which fails on errors.
    "/usr/local/lib/zookeeper/ZooCfgCheck.java": "compiled by the next task",
}


def role_vars(role: Path) -> dict:
    values: dict = {}
    for name in ("defaults/main.yml", "vars/main.yml"):
        path = role / name
        if path.exists():
            values.update(yaml.safe_load(path.read_text()) or {})
    return values


def resolve(text: str, values: dict, depth: int = 5) -> str:
    """Replace {{ var }} with the role's value of var (strings only), a few levels deep."""
    for _ in range(depth):
        new = re.sub(
            r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}",
            lambda m: (
                str(values[m.group(1)]) if isinstance(values.get(m.group(1)), str) else m.group(0)
            ),
            text,
        )
        if new == text:
            break
        text = new
    return text


def source_text(role: Path, module: str, args: dict, values: dict) -> str:
    """The file a template or copy task installs, when it is a file of the role."""
    src = resolve(str(args.get("src", "")), values)
    folder = {"template": "templates", "copy": "files"}.get(module)
    path = role / str(folder) / src
    return path.read_text() if folder and src and path.is_file() else ""


def writing_tasks():
    for tasks_file in sorted(REPO_ROOT.glob("roles/*/tasks/*.yml")):
        role = tasks_file.parents[1]
        values = role_vars(role)
        for task in yaml.safe_load(tasks_file.read_text()) or []:
            for key, args in task.items():
                module = key.rsplit(".", 1)[-1]
                if module in WRITERS and isinstance(args, dict):
                    dest = args.get("dest") or args.get("path")
                    if dest:
                        label = f"{tasks_file.relative_to(REPO_ROOT)}: {task.get('name')}"
                        validate = resolve(str(args.get("validate", "")), values)
                        source = source_text(role, module, args, values)
                        yield label, resolve(str(dest), values).strip(), validate, source


TASKS = list(writing_tasks())


def test_the_scan_finds_the_roles_writers():
    # Guards the scan itself: if it found nothing it would prove nothing.
    dests = {dest for _, dest, _, _ in TASKS}
    assert {"/etc/sudoers.d/infra-root", "/etc/ssh/sshd_config", "/etc/nftables.conf"} <= dests


@pytest.mark.parametrize(("label", "dest", "validate", "source"), TASKS, ids=[t[0] for t in TASKS])
def test_file_with_a_checker_is_checked_before_it_is_installed(label, dest, validate, source):
    if dest in UNCHECKED:
        return
    if re.fullmatch(SCRIPTS, dest):
        # A file sourced by a shell (dehydrated's conf.d) has no #! line.
        shebang = re.match(r"#!\S*/(?:env )?(\S+)", source)
        language = shebang.group(1) if shebang else "bash" if dest.endswith(".sh") else None
        assert language, (
            f"{label}: installs {dest}, a script whose source is not found or has no #!"
        )
        checker = SCRIPT_CHECKERS[language]
        assert re.search(checker, validate), (
            f"{label}: installs the {language} script {dest} without {checker!r} in validate:"
        )
        return
    for pattern, checker, why in CHECKERS:
        if re.fullmatch(pattern, dest):
            assert re.search(checker, validate), (
                f"{label}: writes {dest} without its check ({checker!r} in validate:): {why}"
            )
            assert "%s" in validate, f"{label}: validate must check the new file (%s)"
