"""The main.yaml that `namespaces build` generates, checked by real Zuul.

`zuul-admin tenant-conf-check` (Zuul 14, zuul/cmd/client.py `validate`)
reads [scheduler] tenant_config from zuul.conf, builds every connection of
zuul.conf (so each tenant's `source` must name one), and validates every
tenant against Zuul's own tenant schema (TenantParser.getSchema). It needs
no ZooKeeper; it imports the Gerrit driver, which needs `git` on PATH, and
Zuul's executor side wants `bwrap` (tools/prepare-host.sh installs both).
Run with `tox -e zuul`.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from sctools import namespaces
from sctools.namespace_metadata import PROJECT_OPTIONS, TENANT_OPTIONS, ZUUL_CLASSES

ZUUL_ADMIN = Path(sys.executable).with_name("zuul-admin")


def tenant_conf_check(tmp_path: Path, main_yaml: Path, connection: str) -> tuple[int, str]:
    conf = tmp_path / "zuul.conf"
    conf.write_text(
        f"[scheduler]\ntenant_config={main_yaml}\n\n"
        f"[connection {connection}]\ndriver=gerrit\nserver=review.example.org\n"
        "user=zuul\nsshkey=/nonexistent/id_ed25519\n"
    )
    result = subprocess.run(
        [str(ZUUL_ADMIN), "-c", str(conf), "tenant-conf-check"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    return result.returncode, result.stdout + result.stderr


def build(tmp_path: Path, metadata_dir: Path = namespaces.NAMESPACES_DIR) -> Path:
    out = tmp_path / "out"
    code = namespaces.main(["build", "--namespaces", str(metadata_dir), "--out", str(out)])
    assert code == 0
    return out / "zuul" / "main.yaml"


def connection_of(metadata_dir: Path = namespaces.NAMESPACES_DIR) -> str:
    return namespaces.load(metadata_dir).infra.zuul_connection


def test_repository_main_yaml_passes_zuul_tenant_conf_check(tmp_path):
    main_yaml = build(tmp_path)
    tenants = [item["tenant"]["name"] for item in yaml.safe_load(main_yaml.read_text())]
    assert {"opendev", "openstack", "zuul"} <= set(tenants)
    code, output = tenant_conf_check(tmp_path, main_yaml, connection_of())
    assert code == 0, output
    assert "Tenants config validated with success" in output


def _break_unknown_tenant_key(tenants):
    tenants[0]["tenant"]["max-nodes-per-jobz"] = 3


def _break_unknown_connection(tenants):
    source = tenants[0]["tenant"]["source"]
    source["no-such-connection"] = source.pop(next(iter(source)))


def _break_project_option(tenants):
    gerrit = next(iter(tenants[0]["tenant"]["source"].values()))
    gerrit["untrusted-projects"][0] = {"x/y": {"include": ["jobs"]}}


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        (_break_unknown_tenant_key, "extra keys not allowed"),
        (_break_unknown_connection, "no-such-connection"),
        (_break_project_option, "include"),
    ],
    ids=["unknown tenant key", "unknown connection", "bad project option"],
)
def test_zuul_rejects_a_broken_main_yaml(tmp_path, breakage, message):
    # Proves the check above can fail: the same file, broken once, is refused.
    tenants = yaml.safe_load(build(tmp_path).read_text())
    breakage(tenants)
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump(tenants))
    code, output = tenant_conf_check(tmp_path, broken, connection_of())
    assert code != 0, output
    assert "Error when validating tenants config" in output
    assert message in output


SAMPLES = {"int": 5, "bool": True, "str": "value", "strlist": ["value"], "classlist": ["job"]}


def test_every_option_namespaces_accept_is_accepted_by_zuul(tmp_path):
    """Our allow-lists of tenant and project options match Zuul's schema."""
    metadata = tmp_path / "namespaces"
    metadata.mkdir()
    (metadata / "_infra.yaml").write_text(yaml.safe_dump({
        "admin-group": {"name": "infra-root", "members": ["root"]},
        "zuul-connection": "review",
        "metadata-project": "demo/meta",
        "deploy-tenant": "deploy",
    }))  # fmt: skip
    projects = {f"demo/{kind}": {"description": kind} for kind in PROJECT_OPTIONS}
    projects["demo/config"] = {"description": "config"}
    projects["demo/meta"] = {"description": "holds namespaces/"}
    tenant = {
        "options": {key: SAMPLES[kind] for key, kind in TENANT_OPTIONS.items()},
        "config-projects": ["demo/config"],
    }
    for kind, options in PROJECT_OPTIONS.items():
        entry = {"name": f"demo/{kind}"}
        entry.update({key: SAMPLES[value] for key, value in options.items()})
        entry["include"] = list(ZUUL_CLASSES)
        tenant.setdefault(kind, []).append(entry)
    (metadata / "demo.yaml").write_text(yaml.safe_dump({
        "name": "demo", "description": "every option", "approvers": "demo-core",
        "groups": {"demo-core": {"members": ["someone"]}},
        "projects": projects, "tenant": tenant,
    }))  # fmt: skip
    main_yaml = build(tmp_path, metadata)
    code, output = tenant_conf_check(tmp_path, main_yaml, "review")
    assert code == 0, output + main_yaml.read_text()


def _load_checker():
    path = namespaces.REPO_ROOT / "roles/zuul_tenant_config/files/zuul-tenant-config-check"
    loader = importlib.machinery.SourceFileLoader("zuul_tenant_config_check", str(path))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def _schema_keys(schema: dict) -> set[str]:
    return {getattr(key, "schema", key) for key in schema}


def test_role_checker_knows_exactly_zuuls_keys():
    """The role's checker (no Zuul on the host) lists the keys Zuul 14 accepts."""
    from zuul.configloader import TenantParser

    checker = _load_checker()
    parser = TenantParser(*([None] * 8))
    assert set(checker.TENANT_KEYS) == _schema_keys(parser.getSchema().schema)
    assert set(checker.CONFIG_PROJECT_KEYS) == _schema_keys(TenantParser.inner_config_project_dict)
    assert set(checker.UNTRUSTED_PROJECT_KEYS) == _schema_keys(
        TenantParser.inner_untrusted_project_dict
    )
    assert set(checker.GROUP_KEYS) == _schema_keys(TenantParser.untrusted_group)
    assert set(checker.SOURCE_KEYS) == _schema_keys(TenantParser.tenant_source.schema)


def test_namespace_options_are_a_subset_of_zuuls_keys():
    from zuul.configloader import TenantParser

    tenant_keys = _schema_keys(TenantParser(*([None] * 8)).getSchema().schema)
    assert set(TENANT_OPTIONS) <= tenant_keys - {"name", "source"}
    for kind, schema in (
        ("config-projects", TenantParser.inner_config_project_dict),
        ("untrusted-projects", TenantParser.inner_untrusted_project_dict),
    ):
        assert set(PROJECT_OPTIONS[kind]) == _schema_keys(schema)
