"""Namespace metadata (namespaces/*.yaml): parsed and validated at the edge.

`validate_files` takes the file texts (name -> text) and returns plain,
checked data (`Metadata`) or raises `MetadataError` listing every problem,
each naming the file and the field. No file system access here: the
command line (sctools.namespaces) reads the files, so a git revision can be
validated as easily as the working tree. The format is documented in
docs/namespaces.md.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sctools import strict_yaml

INFRA_FILE = "_infra.yaml"
# What namespaces/ may hold besides the metadata files, unread. Anything else
# there is an error: a namespace file renamed (.YAML, a trailing space),
# moved into a subdirectory or replaced by a symlink would otherwise drop
# its tenant, projects, groups and ACLs from the build without a word.
IGNORED_FILES = ("README.md",)
_LAYOUT = (
    f"namespaces/ holds only regular files named <name>.yaml and {INFRA_FILE} "
    f"({', '.join(IGNORED_FILES)} and hidden files are ignored)"
)

# Names are matched whole (_Fields.string uses fullmatch) and anchored with
# \A...\Z, never ^...$: `$` also matches before a trailing newline, so
# "alpha-core\n" would pass and end up in ACL file names and group lines.
NAMESPACE_NAME = re.compile(r"\A[a-z0-9]([a-z0-9-]*[a-z0-9])?\Z")
# A Gerrit project: <namespace>/<path>, segments of letters, digits, . _ -
# that start with a letter or digit and do not end with a dot; no ".git" end.
_SEGMENT = r"[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9_-])?"
PROJECT_NAME = re.compile(rf"\A(?!.*\.git\Z){_SEGMENT}(/{_SEGMENT})+\Z")
GROUP_NAME = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9._-]*\Z")
MEMBER_NAME = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9._@+-]*\Z")
BRANCH_NAME = re.compile(r"\A[A-Za-z0-9]([A-Za-z0-9._/-]*[A-Za-z0-9_-])?\Z")
TENANT_NAME = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9._-]*\Z")
CONNECTION_NAME = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9._-]*\Z")

# Zuul 14's tenant attributes a namespace may set (zuul/configloader.py,
# TenantParser.getSchema), with the type each takes. `name` and `source`
# are generated; the ones below the table refer to objects defined at the
# top level of main.yaml, which no namespace owns.
TENANT_OPTIONS = {
    "max-changes-per-pipeline": "int",
    "max-dependencies": "int",
    "max-nodes-per-job": "int",
    "max-job-timeout": "int",
    "max-oidc-ttl": "int",
    "allowed-oidc-issuers": "strlist",
    "exclude-unprotected-branches": "bool",
    "exclude-locked-branches": "bool",
    "allowed-triggers": "strlist",
    "allowed-reporters": "strlist",
    "allowed-labels": "strlist",
    "disallowed-labels": "strlist",
    "allow-circular-dependencies": "bool",
    "default-parent": "str",
    "default-ansible-version": "str",
    "anonymous-read-access": "bool",
    "authentication-realm": "str",
    "web-root": "str",
}
TENANT_OPTIONS_GLOBAL = ("access-rules", "admin-rules", "role-mappings", "semaphores")

# Per-project settings in a tenant (TenantParser.inner_*_project_dict).
ZUUL_CLASSES = (
    "pipeline",
    "job",
    "semaphore",
    "project",
    "project-template",
    "nodeset",
    "secret",
    "queue",
    "image",
    "flavor",
    "label",
    "section",
    "provider",
)
_PROJECT_OPTIONS = {
    "include": "classlist",
    "exclude": "classlist",
    "shadow": "strlist",
    "include-provider-config": "bool",
    "exclude-unprotected-branches": "bool",
    "exclude-locked-branches": "bool",
    "extra-config-paths": "strlist",
    "load-branch": "str",
    "include-branches": "strlist",
    "exclude-branches": "strlist",
    "always-dynamic-branches": "strlist",
    "allow-circular-dependencies": "bool",
    "implied-branch-matchers": "bool",
}
PROJECT_OPTIONS = {
    "config-projects": {**_PROJECT_OPTIONS, "allow-base-jobs": "bool"},
    "untrusted-projects": {
        **_PROJECT_OPTIONS,
        "configure-projects": "strlist",
        "allow-reporter-jobs": "bool",
    },
}
TRUST_KINDS = ("config-projects", "untrusted-projects")


class MetadataError(Exception):
    """The metadata is invalid; `problems` names each file and field."""

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(problems, key=lambda p: (p.file, p.field, p.message))
        super().__init__("\n".join(str(p) for p in self.problems))


@dataclass(frozen=True)
class Problem:
    file: str
    field: str
    message: str
    line: int | None = None  # known for YAML errors only

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )


@dataclass(frozen=True)
class Group:
    name: str
    namespace: str  # "" for the infra roots' admin group
    description: str
    members: tuple[str, ...]


@dataclass(frozen=True)
class Project:
    name: str
    namespace: str
    description: str
    default_branch: str
    retired: bool
    approvers: tuple[str, ...]  # group names; the namespace's approvers unless set


@dataclass(frozen=True)
class TenantProject:
    name: str
    options: tuple[tuple[str, Any], ...]  # sorted (key, value) pairs for main.yaml


@dataclass(frozen=True)
class Tenant:
    name: str
    options: tuple[tuple[str, Any], ...]
    # Per trust kind (config-projects, untrusted-projects): own and loaded.
    own: dict[str, tuple[TenantProject, ...]]
    loads: dict[str, tuple[TenantProject, ...]]

    def projects(self, kind: str) -> tuple[TenantProject, ...]:
        """main.yaml order: projects loaded from other namespaces first, then own."""
        return self.loads[kind] + self.own[kind]


@dataclass(frozen=True)
class Namespace:
    name: str
    file: str
    description: str
    approvers: str
    groups: dict[str, Group]
    projects: dict[str, Project]
    tenant: Tenant | None


@dataclass(frozen=True)
class Infra:
    file: str
    admin_group: Group
    zuul_connection: str
    metadata_project: str
    # The tenant whose one config project is the metadata project (docs/zuul-cd.md).
    deploy_tenant: str


@dataclass(frozen=True)
class Metadata:
    infra: Infra
    namespaces: dict[str, Namespace]  # sorted by name
    projects: dict[str, Project] = field(default_factory=dict)  # every project, sorted
    groups: dict[str, Group] = field(default_factory=dict)  # every group, sorted
    # A test site's own deploy tenant (parse_deploy_tenant), written into
    # main.yaml in place of the generated one.
    deploy_tenant_override: dict[str, Any] | None = None


# --- YAML -----------------------------------------------------------------


def _load_yaml(file: str, text: str, problems: list[Problem]) -> Any:
    try:
        return strict_yaml.load_text(text, file)
    except strict_yaml.StrictYAMLError as exc:
        problems.append(Problem(file, "", exc.reason, exc.line))
        return None


# --- Field checks -----------------------------------------------------------


class _Fields:
    """Type checks that record a problem (file, field) and return None on failure."""

    def __init__(self, file: str, problems: list[Problem]):
        self.file = file
        self.problems = problems

    def error(self, where: str, message: str) -> None:
        self.problems.append(Problem(self.file, where, message))

    def mapping(
        self, value: Any, where: str, required: set[str], optional: set[str]
    ) -> dict | None:
        if not isinstance(value, dict):
            self.error(where, f"must be a mapping, not {_kind(value)}")
            return None
        bad = False
        for key in value:
            if not isinstance(key, str):
                self.error(where, f"key {key!r} must be a string")
                bad = True
        unknown = sorted(k for k in value if isinstance(k, str) and k not in required | optional)
        for key in unknown:
            known = ", ".join(sorted(required | optional))
            self.error(_join(where, key), f"unknown key (known keys: {known})")
        missing = sorted(required - set(value))
        for key in missing:
            self.error(_join(where, key), "missing (required)")
        # Unknown keys are reported and left out, so the rest is still checked.
        kept = {k: v for k, v in value.items() if k in required | optional}
        return None if bad or missing else kept

    def string(
        self, value: Any, where: str, pattern: re.Pattern | None = None, what: str = ""
    ) -> str | None:
        if not isinstance(value, str) or not value.strip():
            self.error(where, f"must be a non-empty string, not {_kind(value)}")
            return None
        if pattern is not None and not pattern.fullmatch(value):
            self.error(where, f"{value!r} is not a valid {what}")  # repr: shows a newline
            return None
        return value

    def boolean(self, value: Any, where: str) -> bool | None:
        if not isinstance(value, bool):
            self.error(where, f"must be true or false, not {_kind(value)}")
            return None
        return value

    def integer(self, value: Any, where: str) -> int | None:
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            self.error(where, f"must be a positive integer, not {_kind(value)}")
            return None
        return value

    def str_list(
        self,
        value: Any,
        where: str,
        pattern: re.Pattern | None = None,
        what: str = "",
        choices: tuple[str, ...] = (),
    ) -> list[str] | None:
        if not isinstance(value, list):
            self.error(where, f"must be a list, not {_kind(value)}")
            return None
        result, ok = [], True
        seen = set()  # `in result` would rescan the list: quadratic in a long member list
        for i, item in enumerate(value):
            item = self.string(item, f"{where}[{i}]", pattern, what)
            if item is None:
                ok = False
            elif choices and item not in choices:
                self.error(f"{where}[{i}]", f"'{item}' is not one of {', '.join(choices)}")
                ok = False
            elif item in seen:
                self.error(f"{where}[{i}]", f"'{item}' is listed twice")
                ok = False
            else:
                result.append(item)
                seen.add(item)
        return result if ok else None

    def typed(self, kind: str, value: Any, where: str) -> Any:
        if kind == "int":
            return self.integer(value, where)
        if kind == "bool":
            return self.boolean(value, where)
        if kind == "str":
            return self.string(value, where)
        if kind == "classlist":
            return self.str_list(value, where, choices=ZUUL_CLASSES)
        return self.str_list(value, where)


def _kind(value: Any) -> str:
    if value is None:
        return "empty"
    return {
        dict: "a mapping",
        list: "a list",
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
    }.get(type(value), type(value).__name__)


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


# --- Files --------------------------------------------------------------------


def _parse_group(
    fields: _Fields, namespace: str, name: Any, value: Any, where: str
) -> Group | None:
    if fields.string(name, where, GROUP_NAME, "group name") is None:
        return None
    entry = fields.mapping(value, where, {"members"}, {"description"})
    if entry is None:
        return None
    description = entry.get("description", "")
    if description and fields.string(description, f"{where}.description") is None:
        return None
    raw_members = [] if entry["members"] is None else entry["members"]  # `members:` alone
    members = fields.str_list(raw_members, f"{where}.members", MEMBER_NAME, "account name")
    if members is None:
        return None
    return Group(name, namespace, description, tuple(sorted(members)))


def parse_infra(file: str, text: str, problems: list[Problem]) -> Infra | None:
    """The infra roots' file: admin group, Zuul connection, metadata project, deploy tenant."""
    fields = _Fields(file, problems)
    data = _load_yaml(file, text, problems)
    required = {"admin-group", "zuul-connection", "metadata-project", "deploy-tenant"}
    top = fields.mapping(data, "", required, set())
    if top is None:
        return None
    admin = fields.mapping(top["admin-group"], "admin-group", {"name", "members"}, {"description"})
    group = None
    if admin is not None:
        group = _parse_group(
            fields,
            "",
            admin["name"],
            {k: v for k, v in admin.items() if k != "name"},
            "admin-group",
        )
        if group is not None and not group.members:
            fields.error("admin-group.members", "the admin group has no members")
            group = None
    connection = fields.string(
        top["zuul-connection"], "zuul-connection", CONNECTION_NAME, "Zuul connection name"
    )
    metadata = fields.string(
        top["metadata-project"], "metadata-project", PROJECT_NAME, "project name"
    )
    deploy_tenant = fields.string(top["deploy-tenant"], "deploy-tenant", TENANT_NAME, "tenant name")
    if group is None or connection is None or metadata is None or deploy_tenant is None:
        return None
    return Infra(file, group, connection, metadata, deploy_tenant)


def parse_deploy_tenant(file: str, text: str, infra: Infra) -> dict[str, Any]:
    """A tenant file holding the deploy tenant alone, for a site without the
    production connection (the local fleet: tests/standins/zuul-cd-tenant.yaml).

    Only its shape is checked here: one tenant, named as _infra.yaml's
    deploy-tenant, loading through its zuul-connection. Zuul's own schema
    checks the rest where main.yaml is installed (zuul_tenant_config).
    """
    problems: list[Problem] = []
    fields = _Fields(file, problems)
    data = _load_yaml(file, text, problems)
    body = None
    if problems:
        pass
    elif not isinstance(data, list) or len(data) != 1:
        fields.error("", f"must be a list of one tenant, not {_kind(data)}")
    elif (entry := fields.mapping(data[0], "[0]", {"tenant"}, set())) is not None:
        body = entry["tenant"]
        if not isinstance(body, dict):
            fields.error("[0].tenant", f"must be a mapping, not {_kind(body)}")
            body = None
        else:
            for key in sorted({"name", "source"} - set(body)):
                fields.error(f"[0].tenant.{key}", "missing (required)")
            body = body if {"name", "source"} <= set(body) else None
    if body is not None:
        if body["name"] != infra.deploy_tenant:
            message = f"must be '{infra.deploy_tenant}', the deploy tenant of {infra.file}"
            fields.error("[0].tenant.name", message)
        source = body["source"]
        if not isinstance(source, dict) or list(source) != [infra.zuul_connection]:
            message = (
                f"must load through the connection '{infra.zuul_connection}' alone ({infra.file})"
            )
            fields.error("[0].tenant.source", message)
    if problems:
        raise MetadataError(problems)
    return {"tenant": body}


def _parse_tenant_project(
    fields: _Fields, kind: str, value: Any, where: str
) -> TenantProject | None:
    if isinstance(value, str):
        name = fields.string(value, where, PROJECT_NAME, "project name")
        return None if name is None else TenantProject(name, ())
    known = PROJECT_OPTIONS[kind]
    entry = fields.mapping(value, where, {"name"}, set(known))
    if entry is None:
        return None
    name = fields.string(entry["name"], f"{where}.name", PROJECT_NAME, "project name")
    options, ok = [], name is not None
    for key in sorted(k for k in entry if k != "name"):
        checked = fields.typed(known[key], entry[key], f"{where}.{key}")
        ok = ok and checked is not None
        options.append((key, checked))
    return TenantProject(name, tuple(options)) if ok and name is not None else None


def _parse_project_list(fields: _Fields, kind: str, value: Any, where: str) -> tuple | None:
    if not isinstance(value, list):
        fields.error(where, f"must be a list, not {_kind(value)}")
        return None
    projects = [
        _parse_tenant_project(fields, kind, v, f"{where}[{i}]") for i, v in enumerate(value)
    ]
    return None if None in projects else tuple(projects)


def _parse_tenant(fields: _Fields, namespace: str, value: Any) -> Tenant | None:
    entry = fields.mapping(value, "tenant", set(), {"name", "options", "loads", *TRUST_KINDS})
    if entry is None:
        return None
    name = fields.string(entry.get("name", namespace), "tenant.name", TENANT_NAME, "tenant name")
    ok = name is not None
    options = []
    raw_options = entry.get("options", {})
    if not isinstance(raw_options, dict):
        fields.error("tenant.options", f"must be a mapping, not {_kind(raw_options)}")
        ok, raw_options = False, {}
    for key in sorted(raw_options):
        where = f"tenant.options.{key}"
        if key in TENANT_OPTIONS_GLOBAL:
            fields.error(
                where,
                "refers to objects defined outside any namespace "
                "(top level of main.yaml); ask the infra roots",
            )
            ok = False
        elif key not in TENANT_OPTIONS:
            fields.error(where, f"unknown Zuul tenant option (known: {', '.join(TENANT_OPTIONS)})")
            ok = False
        else:
            checked = fields.typed(TENANT_OPTIONS[key], raw_options[key], where)
            ok = ok and checked is not None
            options.append((key, checked))
    own, loads = {}, {}
    for kind in TRUST_KINDS:
        own[kind] = _parse_project_list(fields, kind, entry.get(kind, []), f"tenant.{kind}")
    raw_loads = entry.get("loads", {})
    loads_entry = fields.mapping(raw_loads, "tenant.loads", set(), set(TRUST_KINDS))
    for kind in TRUST_KINDS:
        loads[kind] = (
            _parse_project_list(fields, kind, loads_entry.get(kind, []), f"tenant.loads.{kind}")
            if loads_entry is not None
            else None
        )
    own_lists = {kind: found for kind, found in own.items() if found is not None}
    loads_lists = {kind: found for kind, found in loads.items() if found is not None}
    if not ok or name is None or len(own_lists) < len(own) or len(loads_lists) < len(loads):
        return None
    return Tenant(name, tuple(options), own_lists, loads_lists)


def _parse_project(
    fields: _Fields, namespace: str, approvers: str | None, name: Any, value: Any
) -> Project | None:
    where = f"projects.{name}"
    if fields.string(name, where, PROJECT_NAME, "project name") is None:
        return None
    entry = fields.mapping(
        {} if value is None else value,
        where,
        {"description"},
        {"default-branch", "retired", "approvers"},
    )
    if entry is None:
        return None
    description = fields.string(entry["description"], f"{where}.description")
    branch = fields.string(
        entry.get("default-branch", "master"), f"{where}.default-branch", BRANCH_NAME, "branch name"
    )
    if branch is not None and (".." in branch or branch.endswith(".lock")):
        fields.error(f"{where}.default-branch", f"'{branch}' is not a valid branch name")
        branch = None
    retired = fields.boolean(entry.get("retired", False), f"{where}.retired")
    if "approvers" in entry:
        groups = fields.str_list(entry["approvers"], f"{where}.approvers", GROUP_NAME, "group name")
        if groups == []:
            fields.error(f"{where}.approvers", "must name at least one group")
            groups = None
    else:  # the namespace's approvers (already reported when invalid)
        groups = [approvers] if approvers else []
    if description is None or branch is None or retired is None or groups is None:
        return None
    return Project(name, namespace, description, branch, retired, tuple(groups))


def parse_namespace(file: str, text: str, problems: list[Problem]) -> Namespace | None:
    """One namespaces/<name>.yaml; checks that need other files come later."""
    fields = _Fields(file, problems)
    before = len(problems)
    data = _load_yaml(file, text, problems)
    if len(problems) > before:
        return None
    required = ("description", "approvers", "groups")
    top = fields.mapping(data, "", {"name"}, {*required, "projects", "tenant"})
    if top is None:
        return None
    for key in required:  # reported here, but the rest of the file is still checked
        if key not in top:
            fields.error(key, "missing (required)")
    stem = file.rsplit("/", 1)[-1].removesuffix(".yaml")
    name = fields.string(top["name"], "name", NAMESPACE_NAME, "namespace name")
    if name is not None and name != stem:
        fields.error("name", f"'{name}' must match the file name ({stem}.yaml)")
        name = None
    if name is None:
        return None
    description = fields.string(top["description"], "description") if "description" in top else ""
    approvers = (
        fields.string(top["approvers"], "approvers", GROUP_NAME, "group name")
        if "approvers" in top
        else None
    )

    groups: dict[str, Group] = {}
    raw_groups = top.get("groups", {})
    if "groups" not in top:
        pass
    elif not isinstance(raw_groups, dict) or not raw_groups:
        fields.error("groups", f"must be a non-empty mapping, not {_kind(raw_groups)}")
    else:
        for group_name, value in raw_groups.items():
            group = _parse_group(fields, name, group_name, value, f"groups.{group_name}")
            if group is not None:
                groups[group.name] = group
    for group in groups.values():
        if not group.members:
            what = "the approver group" if group.name == approvers else "the group"
            fields.error(f"groups.{group.name}.members", f"{what} '{group.name}' has no members")
    if approvers is not None and isinstance(raw_groups, dict) and approvers not in raw_groups:
        fields.error(
            "approvers",
            f"group '{approvers}' is not defined under groups: "
            "a namespace's approvers must be a group it owns",
        )

    projects: dict[str, Project] = {}
    raw_projects = top.get("projects") or {}
    if not isinstance(raw_projects, dict):
        fields.error("projects", f"must be a mapping, not {_kind(raw_projects)}")
    else:
        for project_name, value in raw_projects.items():
            project = _parse_project(fields, name, approvers, project_name, value)
            if project is None:
                continue
            if not project.name.startswith(f"{name}/"):
                fields.error(
                    f"projects.{project.name}", f"is outside this namespace's prefix '{name}/'"
                )
            projects[project.name] = project

    tenant = _parse_tenant(fields, name, top["tenant"]) if "tenant" in top else None
    # Returned even when a field was wrong, so that the checks across files
    # (a project claimed twice, a duplicate tenant) still report on it.
    return Namespace(name, file, description or "", approvers or "", groups, projects, tenant)


# --- Across files ---------------------------------------------------------------


def is_ignored(name: str) -> bool:
    """An entry of namespaces/ that is not metadata: README.md, hidden (.gitkeep, swap files)."""
    return name in IGNORED_FILES or name.startswith(".")


def validate_files(
    files: dict[str, str], prefix: str = "namespaces/", strays: dict[str, str] | None = None
) -> Metadata:
    """Validate every file (bare name -> text) and the rules that span files.

    `files` holds every regular file of the directory (the text of those
    named *.yaml; ignored names are skipped), `strays` its other entries,
    name -> what it is ("a directory", "a symlink"...): each is an error.
    `prefix` is put before the file names in messages. Raises MetadataError
    with every problem found; otherwise returns the aggregated Metadata.
    """
    problems: list[Problem] = []
    for name, what in sorted((strays or {}).items()):
        if not is_ignored(name):
            problems.append(Problem(prefix + name, "", f"is {what}; {_LAYOUT}"))
    files = {name: text for name, text in files.items() if not is_ignored(name)}
    infra = None
    infra_label = prefix + INFRA_FILE
    if INFRA_FILE not in files:
        problems.append(Problem(infra_label, "", "missing: the infra roots' settings"))
    else:
        infra = parse_infra(infra_label, files[INFRA_FILE], problems)
    namespaces: dict[str, Namespace] = {}
    for name in sorted(files):
        label = prefix + name
        if name == INFRA_FILE:
            continue
        if name.endswith(".yml"):
            problems.append(Problem(label, "", "metadata files end in .yaml; rename it"))
        elif not name.endswith(".yaml"):
            message = f"{name!r} is not a metadata file name (<name>.yaml); {_LAYOUT}"
            problems.append(Problem(label, "", message))
        elif name.startswith("_"):
            problems.append(Problem(label, "", f"unknown file ({INFRA_FILE} is the only _ file)"))
        else:
            before = len(problems)
            namespace = parse_namespace(label, files[name], problems)
            if namespace is not None:
                namespaces[namespace.name] = namespace
            elif len(problems) == before:  # pragma: no cover - parse always says why
                problems.append(Problem(label, "", "invalid"))
    if not files.keys() - {INFRA_FILE}:
        problems.append(Problem(prefix, "", "no namespace files"))
    _check_across(infra, namespaces, problems)
    if problems or infra is None:
        raise MetadataError(problems)
    projects = {n: p for ns in namespaces.values() for n, p in ns.projects.items()}
    groups = {n: g for ns in namespaces.values() for n, g in ns.groups.items()}
    groups[infra.admin_group.name] = infra.admin_group
    return Metadata(
        infra,
        dict(sorted(namespaces.items())),
        dict(sorted(projects.items())),
        dict(sorted(groups.items())),
    )


def _check_across(
    infra: Infra | None, namespaces: dict[str, Namespace], problems: list[Problem]
) -> None:
    def report(ns: Namespace, where: str, message: str) -> None:
        problems.append(Problem(ns.file, where, message))

    project_owner: dict[str, Namespace] = {}
    group_owner: dict[str, Namespace] = {}
    tenant_owner: dict[str, Namespace] = {}
    admin = infra.admin_group.name if infra else None
    for ns in namespaces.values():  # sorted by name: the later claim is reported
        for name in ns.projects:
            if name in project_owner:
                other = project_owner[name]
                report(ns, f"projects.{name}", f"already claimed by {_whose(other)}")
            else:
                project_owner[name] = ns
        for name in ns.groups:
            if name == admin:
                message = f"is the infra roots' admin group ({infra.file if infra else ''})"
                report(ns, f"groups.{name}", f"{message}; no namespace may define it")
            elif name in group_owner:
                report(ns, f"groups.{name}", f"already defined by {_whose(group_owner[name])}")
            else:
                group_owner[name] = ns
        if ns.tenant is not None:
            other = tenant_owner.setdefault(ns.tenant.name, ns)
            if infra is not None and ns.tenant.name == infra.deploy_tenant:
                message = f"tenant '{ns.tenant.name}' is the infra roots' deploy tenant"
                report(ns, "tenant.name", f"{message} ({infra.file}, deploy-tenant)")
            elif other is not ns:
                message = f"tenant '{ns.tenant.name}' is already defined"
                report(ns, "tenant.name", f"{message} by {_whose(other)}")
    for ns in namespaces.values():
        for project in ns.projects.values():
            for i, group in enumerate(project.approvers):
                if group in ns.groups:
                    continue
                owner = group_owner.get(group)
                if owner is not None:
                    whose = f"it belongs to namespace {owner.name}"
                elif group == admin:
                    whose = "the infra roots' admin group"
                else:
                    whose = "no namespace defines it"
                message = f"grants rights to group '{group}' that namespace {ns.name} does not own"
                report(ns, f"projects.{project.name}.approvers[{i}]", f"{message} ({whose})")
        if ns.tenant is not None:
            _check_tenant_projects(ns, project_owner, infra, report)
    if infra is not None and namespaces:
        owner = project_owner.get(infra.metadata_project)
        if owner is None:
            message = f"'{infra.metadata_project}' is not declared by any namespace"
            problems.append(Problem(infra.file, "metadata-project", message))
        elif owner.projects[infra.metadata_project].retired:
            message = f"'{infra.metadata_project}' is retired; it must stay writable"
            problems.append(Problem(infra.file, "metadata-project", message))


def _whose(ns: Namespace) -> str:
    return f"namespace {ns.name} ({ns.file})"


def _check_tenant_projects(
    ns: Namespace,
    owner: dict[str, Namespace],
    infra: Infra | None,
    report: Callable[[Namespace, str, str], None],
) -> None:
    """Each project a tenant names: declared, by the right namespace, active,
    once, and not the metadata project, which belongs to the deploy tenant
    alone: in another tenant Zuul would refuse its pipelines and base job
    (untrusted) or clash them with that tenant's own (trusted)."""
    seen: dict[str, str] = {}
    tenant = ns.tenant
    if tenant is None:
        return
    for section, lists in (("tenant", tenant.own), ("tenant.loads", tenant.loads)):
        for kind, projects in lists.items():
            for i, tp in enumerate(projects):
                where = f"{section}.{kind}[{i}]"
                declared = owner.get(tp.name)
                if declared is None:
                    report(ns, where, f"project '{tp.name}' is not declared by any namespace")
                elif section == "tenant" and declared is not ns:
                    message = f"project '{tp.name}' belongs to namespace {declared.name}"
                    report(ns, where, f"{message}; list it under tenant.loads.{kind}")
                elif section == "tenant.loads" and declared is ns:
                    message = f"project '{tp.name}' is this namespace's own"
                    report(ns, where, f"{message}; list it under tenant.{kind}")
                elif declared.projects[tp.name].retired:
                    report(ns, where, f"project '{tp.name}' is retired; a tenant cannot load it")
                if infra is not None and tp.name == infra.metadata_project:
                    message = (
                        f"project '{tp.name}' is the metadata project, loaded only by the"
                        f" deploy tenant '{infra.deploy_tenant}' ({infra.file}); remove it here"
                    )
                    report(ns, where, message)
                if tp.name in seen:
                    report(ns, where, f"project '{tp.name}' is already listed at {seen[tp.name]}")
                else:
                    seen[tp.name] = where
