"""affected and zuul-jobs: file matchers computed from the code, zuul.d kept equal to them.

Most tests build a small repository (a few roles, playbooks, groups and
hosts) and check, file by file, which playbooks' jobs a change to it runs.
The last tests check this repository: its generated zuul.d files must be
exactly what the code gives, so matchers cannot drift without a failure.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest
import yaml

from sctools import REPO_ROOT, affected, run_all, zuul_jobs
from sctools.analysis import tasks as analysis_tasks
from sctools.analysis.loader import DepsError
from sctools.analysis.playbooks import Analyzer
from sctools.analysis.result import Deps
from sctools.analysis.summary import converged_roles, molecule_plugin_paths, unconverged_roles
from sctools.analysis.variables import hostvar_name
from sctools.cli import Exit
from sctools.matchers import compute, matches
from sctools.schedule import Playbook, Schedule, load_schedule

MINI = {
    "ansible.cfg": """
        [defaults]
        inventory = inventory/prod/hosts.yaml,inventory/groups.yaml
        roles_path = roles
    """,
    "requirements.txt": "ansible==12.3.0\n",
    "inventory/prod/hosts.yaml": """
        all:
          hosts:
            web01.example.org: {}
            web02.example.org: {}
            db01.example.org: {}
            bridge01.example.org: {}
          children:
            disabled:
              hosts:
                web02.example.org: {}
    """,
    "inventory/local/hosts.yaml": "all:\n  hosts:\n    web01.test: {}\n",
    "inventory/groups.yaml": r"""
        plugin: ansible.builtin.constructed
        strict: true
        groups:
          web: inventory_hostname is match('web\d+\.')
          db: inventory_hostname is match('db\d+\.')
          bridge: inventory_hostname is match('bridge\d+\.')
    """,
    "group_vars/all.yaml": "ntp: pool.example.org\n",
    "group_vars/web.yaml": "web_port: 443\n",
    "group_vars/db.yaml": "db_port: 5432\ndb_name: main\n",
    "group_vars/bridge.yaml": "bridge_key: /root/.ssh/id\n",
    "host_vars/web01.example.org.yaml": "web_weight: 2\n",
    "host_vars/web02.example.org.yaml": "web_weight: 1\n",
    "host_vars/db01.example.org.yaml": "db_primary: true\n",
    "roles/common/tasks/main.yml": """
        - name: Common packages
          ansible.builtin.apt:
            name: chrony
    """,
    "roles/common/templates/chrony.conf.j2": "server {{ ntp }}\n",
    "roles/common/README.md": "# common\n",
    "roles/common/molecule/default/molecule.yml": "driver: {name: docker}\n",
    "roles/common/molecule/default/converge.yml": """
        - name: Converge
          hosts: all
          roles:
            - role: common
    """,
    "roles/webserver/meta/main.yml": "dependencies:\n  - role: common\n",
    "roles/webserver/tasks/main.yml": """
        - name: Helper
          ansible.builtin.include_role:
            name: helper
        - name: Site
          ansible.builtin.template:
            src: site.j2
            dest: /etc/site
    """,
    "roles/webserver/templates/site.j2": "db {{ hostvars[groups['db'][0]]['db_port'] }}\n",
    "roles/webserver/molecule/default/molecule.yml": "driver: {name: docker}\n",
    "roles/webserver/molecule/default/converge.yml": """
        - name: Converge
          hosts: all
          roles:
            - role: webserver
    """,
    "roles/helper/tasks/main.yml": "- name: Help\n  ansible.builtin.debug:\n    msg: hi\n",
    "roles/lonely/tasks/main.yml": "- name: Alone\n  ansible.builtin.debug:\n    msg: hi\n",
    "playbooks/web.yaml": """
        - name: Web
          hosts: "web:!disabled"
          roles:
            - role: webserver
    """,
    "playbooks/db.yaml": """
        - name: Database
          hosts: "db:!disabled"
          roles:
            - common
          tasks:
            - name: Check the schema from the controller
              ansible.builtin.command: python3 tools/dbcheck.py --strict
              delegate_to: localhost
              changed_when: false
    """,
    "playbooks/data.yaml": """
        - name: Data
          hosts: "bridge:!disabled"
          tasks:
            - name: Build from the data directory
              ansible.builtin.command:
                argv: [build, "{{ playbook_dir }}/../data"]
              changed_when: true
    """,
    "tools/dbcheck.py": "print('ok')\n",
    "data/x.yaml": "x: 1\n",
    "docs/index.md": "# docs\n",
    "schedule.yaml": """
        playbooks:
          db: {depends_on: [], timeout: 60, owner: cron}
          web: {depends_on: [db], timeout: 60, owner: zuul}
          data: {depends_on: [web], timeout: 60, owner: zuul}
    """,
}


def write_repo(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
    for kind in ("group_vars", "host_vars"):
        link = root / "inventory" / kind
        if not link.exists():
            link.symlink_to(f"../{kind}")
    return root


@pytest.fixture
def mini(tmp_path) -> Path:
    return write_repo(tmp_path / "repo", MINI)


def jobs_for(root: Path, path: str) -> set[str]:
    matchers = compute(root)
    return {name for name, regexes in matchers.playbooks.items() if matches(regexes, path)}


@pytest.mark.parametrize(
    ("path", "playbooks"),
    [
        ("playbooks/web.yaml", {"web"}),
        ("roles/webserver/templates/site.j2", {"web"}),
        ("roles/helper/tasks/main.yml", {"web"}),  # include_role in webserver
        ("roles/common/templates/chrony.conf.j2", {"web", "db"}),  # dependency of webserver
        ("roles/common/molecule/default/converge.yml", set()),  # tests change no outcome
        ("roles/common/README.md", set()),
        ("roles/lonely/tasks/main.yml", set()),
        ("group_vars/all.yaml", {"web", "db", "data"}),
        ("group_vars/web.yaml", {"web"}),
        ("group_vars/bridge.yaml", {"data"}),
        ("group_vars/db.yaml", {"db", "web"}),  # web reads db_port through hostvars
        ("host_vars/web01.example.org.yaml", {"web"}),
        ("host_vars/web02.example.org.yaml", set()),  # disabled: never touched
        ("host_vars/db01.example.org.yaml", {"db"}),
        ("group_vars/newgroup.yaml", set()),
        ("inventory/prod/hosts.yaml", {"web", "db", "data"}),
        ("inventory/groups.yaml", {"web", "db", "data"}),
        ("inventory/group_vars", {"web", "db", "data"}),  # the symlink itself
        ("inventory/local/hosts.yaml", set()),  # not production
        ("ansible.cfg", {"web", "db", "data"}),
        ("requirements.txt", {"web", "db", "data"}),
        ("tools/dbcheck.py", {"db"}),  # a command on the controller runs it
        ("data/x.yaml", {"data"}),  # {{ playbook_dir }}/../data
        ("data/new.yaml", {"data"}),
        ("docs/index.md", set()),
        ("schedule.yaml", set()),
    ],
)
def test_a_changed_file_runs_exactly_the_jobs_of_the_playbooks_it_can_change(mini, path, playbooks):
    assert jobs_for(mini, path) == playbooks


def test_a_group_vars_file_that_does_not_exist_yet_is_matched(mini):
    # New files need no regeneration: matchers name groups, not files.
    assert jobs_for(mini, "group_vars/web/extra.yaml") == {"web"}
    assert jobs_for(mini, "host_vars/db01.example.org.yml") == {"db"}


def test_a_templated_role_name_makes_every_role_count(mini):
    (mini / "playbooks/web.yaml").write_text(
        "- name: Web\n  hosts: web\n  tasks:\n"
        "    - name: Any role\n      ansible.builtin.include_role:\n        name: '{{ which }}'\n"
    )
    matchers = compute(mini)
    assert matches(matchers.playbooks["web"], "roles/lonely/tasks/main.yml")
    assert any("templated role name" in n for n in matchers.notes["web"])


def test_hostvars_read_in_an_unknown_way_makes_every_variable_count(mini):
    (mini / "roles/helper/tasks/main.yml").write_text(
        "- name: Dump\n  ansible.builtin.debug:\n    msg: '{{ hostvars | dict2items }}'\n"
    )
    assert jobs_for(mini, "host_vars/db01.example.org.yaml") == {"db", "web"}
    assert jobs_for(mini, "group_vars/bridge.yaml") == {"data", "web"}


def test_delegating_to_another_host_makes_every_variable_count(mini):
    (mini / "roles/helper/tasks/main.yml").write_text(
        "- name: Ask the db\n  ansible.builtin.command: true\n"
        "  delegate_to: db01.example.org\n  changed_when: false\n"
    )
    assert "web" in jobs_for(mini, "host_vars/db01.example.org.yaml")


def test_an_include_that_leaves_the_role_is_followed(mini):
    write_repo(mini, {"shared/tasks.yml": "- name: Shared\n  ansible.builtin.debug:\n    msg: x\n"})
    (mini / "roles/helper/tasks/main.yml").write_text(
        "- name: Shared tasks\n  ansible.builtin.include_tasks: ../../../shared/tasks.yml\n"
    )
    assert jobs_for(mini, "shared/tasks.yml") == {"web"}


def test_a_role_dependency_added_later_is_picked_up(mini):
    (mini / "roles/helper/meta").mkdir()
    (mini / "roles/helper/meta/main.yml").write_text("dependencies:\n  - lonely\n")
    assert jobs_for(mini, "roles/lonely/tasks/main.yml") == {"web"}


def test_molecule_scenarios_match_their_role_its_dependencies_and_the_harness(mini):
    molecule = compute(mini).molecule
    assert set(molecule) == {"common", "webserver"}
    web = molecule["webserver"]
    assert matches(web, "roles/webserver/molecule/default/converge.yml")
    assert matches(web, "roles/helper/tasks/main.yml")
    assert matches(web, "roles/common/templates/chrony.conf.j2")
    assert not matches(web, "roles/common/molecule/default/converge.yml")
    for harness in (".config/molecule/config.yml", "requirements.txt", "tools/images/x.sh"):
        assert matches(web, harness) and matches(molecule["common"], harness)
    assert not matches(web, "group_vars/web.yaml")


def test_molecule_scenarios_match_the_shared_stand_ins_they_include():
    """Scenarios include tests/standins/ through molecule's project directory."""
    molecule = compute(REPO_ROOT).molecule
    assert matches(molecule["mirror"], "tests/standins/dockerhub.yml")
    assert matches(molecule["acme_certificates"], "tests/standins/pebble.yml")
    assert not matches(molecule["acme_certificates"], "tests/standins/pypi.yml")


def test_docker_host_scenarios_match_the_shared_prepare_and_the_images_it_builds():
    """Scenarios importing tests/molecule/docker_host.yml run with our images."""
    molecule = compute(REPO_ROOT).molecule
    for role in ("compose_service", "zookeeper", "zuul_service"):
        assert matches(molecule[role], "tests/molecule/docker_host.yml"), role
        assert matches(molecule[role], "roles/docker/tasks/install.yml"), role
    assert matches(molecule["zuul_service"], "images/zuul/Dockerfile")
    assert matches(molecule["zuul_service"], "requirements-zuul.txt")
    assert not matches(molecule["sshd"], "images/zuul/Dockerfile")
    assert matches(molecule["zookeeper"], "tools/sctools/buildset_registry.py")
    assert not matches(molecule["docker"], "tools/sctools/buildset_registry.py")


def test_roles_tested_by_another_roles_scenario_match_that_scenario(mini):
    # helper has no scenario: webserver's converges it (include_role).
    result = affected.affected(compute(mini), ["roles/helper/tasks/main.yml"], [])
    assert set(result["molecule"]) == {"webserver/default"}


def test_the_zuul_stack_scenario_runs_for_every_zuul_role():
    """zuul_config, zuul_executor and zuul_web are tested by zuul_service's scenario."""
    matchers = compute(REPO_ROOT)
    for role in ("zuul_config", "zuul_executor", "zuul_web"):
        assert role not in matchers.molecule, f"{role} has a scenario of its own again"
    for changed in (
        "roles/zuul_config/templates/zuul.conf.j2",
        "roles/zuul_executor/tasks/main.yml",
        "roles/zuul_web/tasks/main.yml",
        "roles/zuul_service/tasks/service.yml",
        "roles/compose_service/tasks/service.yml",
        "roles/zuul_tenant_config/tasks/main.yml",
        "tests/standins/pebble.yml",
    ):
        result = affected.affected(matchers, [changed], [])
        assert "zuul_service/default" in result["molecule"], changed


@pytest.mark.parametrize(
    ("path", "runs", "skips"),
    [
        # The image variables take their family's tag from its inputs
        # (lookup image_tag): a change to them deploys a new tag.
        ("images/zuul/Dockerfile", {"service-zuul", "service-zookeeper"}, {"service-etherpad"}),
        ("requirements-zuul.txt", {"service-zuul", "service-zookeeper"}, {"service-etherpad"}),
        ("images/etherpad/Dockerfile", {"service-etherpad"}, {"service-zuul", "service-zookeeper"}),
        (
            "tools/images/build-base-image.sh",
            {"service-zuul", "service-zookeeper", "service-etherpad"},
            set(),
        ),
    ],
)
def test_an_image_change_runs_the_jobs_that_deploy_its_family(path, runs, skips):
    playbooks = jobs_for(REPO_ROOT, path)
    assert runs <= playbooks, path
    assert not skips & playbooks, path


def test_an_image_tag_lookup_of_an_unknown_family_is_named_with_its_file(mini):
    (mini / "group_vars" / "web.yaml").write_text(
        "web_image: \"x/web:{{ lookup('image_tag', 'nginx') }}\"\n"
    )
    message = r"group_vars/web\.yaml: lookup\('image_tag', 'nginx'\).*zuul"
    with pytest.raises(DepsError, match=message):
        compute(mini)


@pytest.mark.parametrize(
    ("value", "families"),
    [
        ("\"{{ lookup('image_tag', 'zuul') }}\"", {"zuul"}),
        ('\'{{ lookup("image_tag", "etherpad") }}\'', {"etherpad"}),
        ('"{{ lookup(\\"image_tag\\", \\"etherpad\\") }}"', {"etherpad"}),  # escaped
        ("\"{{ lookup('ansible.legacy.image_tag', 'etherpad') }}\"", {"etherpad"}),
        ("\"{{ query('image_tag', 'zuul', 'etherpad') | join }}\"", {"zuul", "etherpad"}),
        ("\"{{ lookup('image_tag', 'zuul', wantlist=True) | first }}\"", {"zuul"}),
        ("\"{{ lookup('image_tag', web_family) }}\"", {"zuul", "etherpad"}),  # not literal
        ("1  # from lookup('image_tag', FAMILY)", {"zuul", "etherpad"}),
        ("\"{{ lookup('file', 'x') }}\"", set()),
    ],
)
def test_an_image_tag_lookup_counts_the_inputs_of_the_families_it_names(mini, value, families):
    (mini / "group_vars" / "web.yaml").write_text(f"web_image: {value}\n")
    web = compute(mini).playbooks["web"]
    for family in ("zuul", "etherpad"):
        assert matches(web, f"images/{family}/Dockerfile") == (family in families), family
    assert matches(web, "requirements-zuul.txt") == ("zuul" in families)


def test_the_apache_role_runs_the_scenarios_of_the_roles_that_use_it():
    """apache has no scenario: mirror's and the Zuul stack's (zuul_web) converge it."""
    matchers = compute(REPO_ROOT)
    assert "apache" not in matchers.molecule
    for changed in ("roles/apache/templates/hardening.conf.j2", "roles/apache/handlers/main.yml"):
        result = affected.affected(matchers, [changed], [])
        assert {"mirror/default", "zuul_service/default"} <= set(result["molecule"]), changed


def test_converged_roles_are_those_converge_applies_not_prepare(mini):
    (mini / "roles/webserver/molecule/default/prepare.yml").write_text(
        "- name: Prepare\n  hosts: all\n  roles:\n    - role: lonely\n"
    )
    analyzer = Analyzer(mini)
    assert converged_roles(analyzer, "webserver") == {
        "roles/webserver", "roles/common", "roles/helper",
    }  # fmt: skip
    # lonely is prepared, never converged: nothing tests it.
    assert unconverged_roles(mini) == ["roles/lonely"]


def test_only_scenarios_that_run_dockerd_match_the_nested_docker_platform():
    molecule = compute(REPO_ROOT).molecule
    for role in ("docker", "compose_service", "zookeeper"):
        assert matches(molecule[role], ".config/molecule/nested-docker.yml"), role
    for role in ("sshd", "internal_ca", "mirror"):
        assert not matches(molecule[role], ".config/molecule/nested-docker.yml"), role
        assert matches(molecule[role], ".config/molecule/config.yml"), role


def test_every_regex_is_re2_syntax_anchored_at_the_start(mini):
    # Zuul compiles matchers with re2: no lookaround, no backreferences.
    matchers = compute(REPO_ROOT)
    for regexes in [*matchers.playbooks.values(), *matchers.molecule.values()]:
        for regex in regexes:
            assert regex.startswith("^"), regex
            assert not re.search(r"\(\?[=!<]|\\[1-9]", regex), regex
            re.compile(regex)


def test_soft_dependencies_look_through_playbooks_cron_still_runs():
    s = Schedule({
        n: Playbook(n, "", tuple(d), 1, o)
        for n, (d, o) in {
            "base": ([], "zuul"), "certs": (["base"], "cron"), "svc": (["certs"], "zuul"),
            "web": (["svc", "base"], "zuul"),
        }.items()
    })  # fmt: skip
    assert zuul_jobs.zuul_dependencies(s, "svc") == ["base"]
    assert zuul_jobs.zuul_dependencies(s, "web") == ["base", "svc"]
    assert zuul_jobs.zuul_dependencies(s, "base") == []


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("{{ hostvars[groups['db'][0]]['db_port'] }}", "db_port"),
        ("{{ hostvars[item].public_v4 }}", "public_v4"),
        ("{{ groups.x | map('extract', hostvars, 'public_v6') }}", "public_v6"),
        ("{{ extract(hostvars, 'ansible_host') }}", "ansible_host"),
        ("{{ hostvars | dict2items }}", None),
        ("{{ hostvars[item][key] }}", None),
    ],
)
def test_hostvar_names_are_understood_or_reported(text, name):
    assert hostvar_name(text, text.index("hostvars")) == name


# -- the table of actions -------------------------------------------------------

# One task per handler of ACTION_HANDLERS: its arguments, and what scanning
# it from playbooks/web.yaml must find.
HANDLER_EXAMPLES = {
    analysis_tasks._role: ({"name": "helper"}, lambda d: "roles/helper" in d.roles),
    analysis_tasks._include_tasks: ("../data/tasks.yml", lambda d: "data/tasks.yml" in d.files),
    analysis_tasks._include_vars: ({"file": "../data/x.yaml"}, lambda d: "data/x.yaml" in d.files),
    analysis_tasks._src: (
        {"src": "../data/x.yaml", "dest": "/x"},
        lambda d: "data/x.yaml" in d.files,
    ),
    analysis_tasks._cross_host: ({"key": "x"}, lambda d: d.all_vars),
    analysis_tasks._command: ("python3 tools/dbcheck.py", lambda d: "tools/dbcheck.py" in d.files),
}


def scan(root: Path, tasks: list) -> Deps:
    deps = Deps()
    Analyzer(root).scan_tasks(deps, tasks, "playbooks/web.yaml", root / "playbooks", None)
    return deps


def test_every_handler_of_the_action_table_has_an_example():
    assert set(HANDLER_EXAMPLES) == set(analysis_tasks.ACTION_HANDLERS.values())


@pytest.mark.parametrize("action", sorted(analysis_tasks.ACTION_HANDLERS))
@pytest.mark.parametrize("prefix", ["", "ansible.builtin.", "ansible.legacy."])
def test_every_action_of_the_table_reaches_its_handler(mini, action, prefix):
    (mini / "data/tasks.yml").write_text("- name: More\n  ansible.builtin.debug:\n    msg: x\n")
    args, found = HANDLER_EXAMPLES[analysis_tasks.ACTION_HANDLERS[action]]
    assert found(scan(mini, [{"name": "A task", f"{prefix}{action}": args}]))
    # Inside a block too.
    assert found(scan(mini, [{"name": "B", "block": [{"name": "A", f"{prefix}{action}": args}]}]))


def test_an_action_without_a_handler_adds_nothing(mini):
    tasks = [
        {"name": "Debug", "ansible.builtin.debug": {"msg": "data/x.yaml"}},
        {"name": "Make", "community.general.make": {"chdir": "tools", "src": "../data/x.yaml"}},
        {"name": "Apt", "apt": {"name": "tools/dbcheck.py"}, "delegate_to": "localhost"},
    ]
    assert scan(mini, tasks) == Deps()


# -- the command --------------------------------------------------------------


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = affected.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def run_zuul_jobs(capsys, *argv: str) -> tuple[int, str, str]:
    code = zuul_jobs.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_affected_prints_jobs_and_scenarios_of_changed_files(mini, capsys):
    code, out, _ = run(
        capsys, "--repo", str(mini), "--json", "roles/common/templates/chrony.conf.j2"
    )
    assert code == 0
    result = json.loads(out)
    assert set(result["infra_prod"]) == {"infra-prod-web"}  # db is cron's
    assert set(result["molecule"]) == {"common/default", "webserver/default"}
    code, out, _ = run(capsys, "--repo", str(mini), "--owner", "all", "group_vars/all.yaml")
    assert code == 0
    assert "infra-prod-db" in out and "infra-prod-web" in out and "infra-prod-data" in out


def test_affected_reads_a_git_range_and_stdin(mini, capsys, monkeypatch):
    git = ["git", "-C", str(mini), "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run([*git, "init", "--quiet"], check=True)
    subprocess.run([*git, "add", "--all"], check=True)
    subprocess.run([*git, "commit", "--quiet", "-m", "one"], check=True)
    (mini / "data/x.yaml").write_text("x: 2\n")
    subprocess.run([*git, "commit", "--quiet", "-am", "two"], check=True)
    code, out, _ = run(capsys, "--repo", str(mini), "--git", "HEAD~1..HEAD", "--json")
    assert code == 0
    assert json.loads(out)["infra_prod"] == {"infra-prod-data": {"data/x.yaml": "^data/"}}
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO("docs/index.md\n/COMMIT_MSG\n"))
    code, out, _ = run(capsys, "--repo", str(mini), "--stdin")
    assert code == 0
    assert "infra-prod jobs (deploy pipeline): none" in out
    code, _, err = run(capsys, "--repo", str(mini), "--git", "no-such-rev..HEAD")
    assert code == 2 and "git diff no-such-rev..HEAD" in err


def test_affected_reports_bad_input_without_a_traceback(mini, capsys):
    with pytest.raises(SystemExit) as usage:
        affected.main(["--repo", str(mini)])
    assert usage.value.code == 2
    (mini / "roles/helper/tasks/main.yml").write_text("- name: [broken\n")
    code, _, err = run(capsys, "--repo", str(mini), "docs/index.md")
    assert code == 2
    assert f"{mini / 'roles/helper/tasks/main.yml'}:2: YAML syntax error" in err
    assert "Traceback" not in err


CHRONY = "roles/common/templates/chrony.conf.j2"


@pytest.mark.parametrize(
    "spelling",
    [
        "./" + CHRONY,
        "roles//common/templates/chrony.conf.j2",
        "roles/common/./templates/chrony.conf.j2",
        "roles/lonely/../common/templates/chrony.conf.j2",
        "{repo}/" + CHRONY,
        "{repo}/roles/../" + CHRONY,
        "{link}/" + CHRONY,  # the checkout through a symlink
    ],
)
def test_affected_normalises_each_path_relative_to_the_repository(mini, capsys, spelling):
    (mini.parent / "link").symlink_to(mini)
    path = spelling.format(repo=mini, link=mini.parent / "link")
    code, out, err = run(capsys, "--repo", str(mini), "--json", path)
    assert code == 0, err
    result = json.loads(out)
    assert result["files"] == [CHRONY]
    assert set(result["infra_prod"]) == {"infra-prod-web"}


def test_affected_normalises_paths_from_stdin_and_keeps_a_symlink_as_itself(
    mini, capsys, monkeypatch
):
    names = f"{mini}/inventory/group_vars\ninventory//group_vars\n./{CHRONY}\n"
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO(names))
    code, out, _ = run(capsys, "--repo", str(mini), "--json", "--stdin")
    assert code == 0
    assert json.loads(out)["files"] == ["inventory/group_vars", CHRONY]


@pytest.mark.parametrize(
    ("spelling", "why"),
    [
        ("/etc/passwd", "outside the repository"),
        ("{repo}/../elsewhere/x.yaml", "outside the repository"),
        ("{repo}-other/x.yaml", "outside the repository"),  # a sibling sharing the prefix
        ("../" + CHRONY, "outside the repository"),
        ("roles/../../x.yaml", "outside the repository"),
        ("..", "outside the repository"),
        (".", "the repository itself"),
        ("{repo}", "the repository itself"),
    ],
)
def test_affected_refuses_a_path_outside_the_repository(mini, capsys, spelling, why):
    path = spelling.format(repo=mini)
    code, out, err = run(capsys, "--repo", str(mini), CHRONY, path)
    assert code == 2
    assert out == ""
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"affected: error: {path}: {why}")


@pytest.mark.parametrize(
    ("rel", "text", "message"),
    [
        (
            "schedule.yaml",
            "playbooks:\n  db: {depends_on: [], timeout: 60, owner: cron}\n"
            "  web: {depends_on: [db], timeout: 60, owner: zuul, timeout: 5}\n",
            "schedule.yaml:3: duplicate key 'timeout'",
        ),
        (
            "roles/helper/tasks/main.yml",
            "- name: Help\n  ansible.builtin.debug:\n    msg: hi\n  name: Again\n",
            "roles/helper/tasks/main.yml:4: duplicate key 'name' (first on line 1)",
        ),
        (
            "group_vars/web.yaml",
            "web_port: 443\n8080: alt\n",
            "group_vars/web.yaml:2: key 8080 reads as an integer",
        ),
    ],
)
def test_affected_refuses_a_bad_key_and_writes_nothing(mini, capsys, rel, text, message):
    (mini / "zuul.d").mkdir()
    assert run_zuul_jobs(capsys, "--repo", str(mini), "write")[0] == 0
    before = {p: p.read_text() for p in (mini / "zuul.d").iterdir()}
    (mini / rel).write_text(text)
    for prog, runner, argv in (
        ("affected", run, "docs/index.md"),
        ("zuul-jobs", run_zuul_jobs, "write"),
        ("zuul-jobs", run_zuul_jobs, "check"),
    ):
        code, out, err = runner(capsys, "--repo", str(mini), argv)
        assert code == 2, argv
        assert out == ""
        assert len(err.splitlines()) == 1, err
        assert err.startswith(f"{prog}: error: {mini / message}")
    assert {p: p.read_text() for p in (mini / "zuul.d").iterdir()} == before


def test_analyzer_names_a_role_entry_without_a_name(mini):
    (mini / "playbooks/web.yaml").write_text(
        "- name: Web\n  hosts: web\n  roles:\n    - {tags: x}\n"
    )
    with pytest.raises(DepsError, match=r"playbooks/web.yaml: a role without a name"):
        Analyzer(mini).playbook_deps("playbooks/web.yaml")


def test_zuul_jobs_check_fails_when_the_generated_files_drift(mini, capsys):
    (mini / "zuul.d").mkdir()
    assert run_zuul_jobs(capsys, "--repo", str(mini), "write")[0] == 0
    assert run_zuul_jobs(capsys, "--repo", str(mini), "check")[0] == 0
    generated = yaml.safe_load((mini / zuul_jobs.INFRA_PROD_FILE).read_text())
    assert [i["job"]["name"] for i in generated if "job" in i] == [
        "infra-prod-web",
        "infra-prod-data",
    ]
    data = next(i["job"] for i in generated if "job" in i and i["job"]["name"] == "infra-prod-data")
    assert data["dependencies"] == [
        zuul_jobs.BOOTSTRAP_JOB,
        {"name": "infra-prod-web", "soft": True},
    ]
    # A new role dependency changes web's matchers: the check must notice.
    (mini / "roles/helper/meta").mkdir()
    (mini / "roles/helper/meta/main.yml").write_text("dependencies:\n  - lonely\n")
    code, _, err = run_zuul_jobs(capsys, "--repo", str(mini), "check")
    assert code == Exit.DIFFERENT
    assert "run `zuul-jobs write`" in err


def test_zuul_jobs_check_names_the_stale_file_and_changes_nothing(mini, capsys):
    (mini / "zuul.d").mkdir()
    assert run_zuul_jobs(capsys, "--repo", str(mini), "write")[0] == 0
    molecule = mini / zuul_jobs.MOLECULE_FILE
    molecule.write_text(molecule.read_text() + "# edited by hand\n")
    stale = molecule.read_text()
    code, out, err = run_zuul_jobs(capsys, "--repo", str(mini), "check")
    assert code == Exit.DIFFERENT
    assert out == ""
    assert err.startswith(f"zuul-jobs: error: {zuul_jobs.MOLECULE_FILE}: out of date")
    assert zuul_jobs.INFRA_PROD_FILE not in err  # only the stale one is named
    assert molecule.read_text() == stale  # check never writes
    code, out, _ = run_zuul_jobs(capsys, "--repo", str(mini), "write")
    assert code == 0 and out == f"zuul-jobs: wrote {zuul_jobs.MOLECULE_FILE}\n"
    assert run_zuul_jobs(capsys, "--repo", str(mini), "check")[0] == 0


def test_affected_no_longer_writes_zuul_d(mini, capsys):
    # One home: zuul-jobs generates zuul.d; affected only answers what runs.
    for option in ("--write-zuul", "--check-zuul"):
        with pytest.raises(SystemExit) as usage:
            affected.main(["--repo", str(mini), option])
        assert usage.value.code == 2


# -- this repository ------------------------------------------------------------


def test_generated_zuul_d_files_are_what_the_code_gives():
    schedule = load_schedule(playbook_dir=REPO_ROOT / "playbooks")
    matchers = compute(REPO_ROOT, schedule)
    for rel, text in zuul_jobs.render(schedule, matchers.playbooks, matchers.molecule).items():
        path = REPO_ROOT / rel
        assert path.is_file() and path.read_text() == text, (
            f"{rel} is out of date with the playbooks, roles, inventory or schedule.yaml: "
            "run `.venv/bin/zuul-jobs write` and commit the result"
        )


def test_every_role_is_converged_by_some_scenario():
    # Its own or another's (a stack scenario): read from the scenarios'
    # converge playbooks, as `affected` reads them.
    assert unconverged_roles(REPO_ROOT) == []


def test_every_playbook_depends_on_what_the_analysis_cannot_see_through():
    # No playbook of this repository needs a conservative fallback today: a
    # note here means the matchers grew to "every file" or "every variable".
    matchers = compute(REPO_ROOT)
    assert matchers.notes == {name: [] for name in matchers.playbooks}


def infra_prod_vars() -> dict:
    items = yaml.safe_load((REPO_ROOT / "zuul.d/infra-prod.yaml").read_text())
    job = next(
        i["job"] for i in items if i.get("job", {}).get("name") == "infra-prod-bridge-access"
    )
    return job["vars"]


def test_production_job_paths_are_the_bridge_roles_and_run_alls():
    # The jobs run run-all as bridge's cron entry does: same paths, lock, stop file.
    job_vars = infra_prod_vars()
    defaults = yaml.safe_load((REPO_ROOT / "roles/bridge/defaults/main.yml").read_text())
    checkout = defaults["bridge_checkout_path"]
    assert job_vars["infra_prod_checkout"] == checkout
    assert job_vars["infra_prod_venv"] == defaults["bridge_venv_path"]
    assert job_vars["infra_prod_ssh_key"] == defaults["bridge_ssh_key_path"]
    assert job_vars["infra_prod_log_dir"] == defaults["bridge_log_dir"]
    assert job_vars["infra_prod_inventories"] == [
        i.replace("{{ bridge_checkout_path }}", checkout).replace(
            "{{ bridge_private_dir }}", defaults["bridge_private_dir"]
        )
        for i in defaults["bridge_inventories"]
    ]
    args = run_all.parse_args([])
    assert job_vars["infra_prod_lock_file"] == str(args.lock_file)
    assert job_vars["infra_prod_stop_file"] == str(args.stop_file)
    assert job_vars["infra_prod_lock_wait"] == zuul_jobs.LOCK_WAIT_SECONDS


def test_production_jobs_reach_the_bridge_of_the_production_inventory():
    analyzer = Analyzer(REPO_ROOT)
    host = infra_prod_vars()["infra_prod_bridge_host"]
    assert "bridge" in analyzer.inventory.hosts.get(host, set()), host


def test_a_repository_copy_without_changes_is_up_to_date(tmp_path, capsys):
    # The check works on any checkout, not only on the one it lives in.
    copy = tmp_path / "copy"
    shutil.copytree(
        REPO_ROOT,
        copy,
        symlinks=True,
        ignore=shutil.ignore_patterns(".git", ".venv", ".tox", ".fleet", ".ansible", "__pycache__"),
    )
    assert run_zuul_jobs(capsys, "--repo", str(copy), "check")[0] == 0
    schedule = load_schedule(copy / "schedule.yaml")
    first = schedule.order()[0]
    text = (copy / "schedule.yaml").read_text()
    owners = {n: p.owner for n, p in schedule.playbooks.items()}
    flipped = "zuul" if owners[first] == "cron" else "cron"
    (copy / "schedule.yaml").write_text(
        re.sub(
            rf"(\n  {re.escape(first)}:\n(?:    .*\n)*?    owner: )\w+", rf"\g<1>{flipped}", text
        )
    )
    assert load_schedule(copy / "schedule.yaml").playbooks[first].owner == flipped
    code, _, err = run_zuul_jobs(capsys, "--repo", str(copy), "check")
    assert code == Exit.DIFFERENT and "infra-prod-jobs.yaml" in err


def test_a_file_in_a_plugin_directory_of_ansible_cfg_runs_every_job(capsys):
    """ansible.cfg's strategy_plugins is a directory: a change below it counts."""
    assert affected.main(["--owner", "all", "--json", "plugins/strategy/mitogen_linear.py"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result["infra_prod"]) == {f"infra-prod-{name}" for name in load_schedule().playbooks}


def test_molecule_jobs_match_the_plugin_paths_molecules_configuration_names(tmp_path):
    """Molecule writes its own ansible.cfg: its plugin paths count, the
    repository's ansible.cfg does not."""
    config = tmp_path / ".config/molecule/config.yml"
    config.parent.mkdir(parents=True)
    prefix = "${MOLECULE_PROJECT_DIRECTORY}/../../"
    defaults = {
        "strategy_plugins": f"{prefix}plugins/strategy",
        "test_plugins": f"{prefix}plugins/test:/usr/share/ansible/plugins/test",
        "forks": 5,
    }
    config.write_text(yaml.safe_dump({"provisioner": {"config_options": {"defaults": defaults}}}))
    assert molecule_plugin_paths(tmp_path) == ["plugins/strategy/", "plugins/test/"]
    # This repository's scenarios run with the name tests (plugins/test).
    assert "plugins/test/" in molecule_plugin_paths(REPO_ROOT)
