"""plugins/test/names.py: the Jinja tests roles validate names with."""

from __future__ import annotations

import importlib.util

import pytest

from sctools import REPO_ROOT

_spec = importlib.util.spec_from_file_location("names", REPO_ROOT / "plugins/test/names.py")
assert _spec and _spec.loader
names = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(names)
TESTS = names.TestModule().tests()


@pytest.mark.parametrize(
    "value",
    [
        "zuul/zuul-executor:14.1",
        "docker.io/library/mariadb:11.4",
        "buildset-registry.fleet.test:5443/system-config/zuul-web:c0ffee",
        "[fd42::90]:5000/etherpad",
        "registry.example.org/a/b@sha256:" + "0" * 64,
    ],
)
def test_container_image_accepts_references(value):
    assert TESTS["container_image"](value)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "zuul/zuul executor",
        "zuul/${TAG}",
        "zuul/Zuul",
        "zuul:14\n",
        "zuul:14\nimage: evil",
        "-zuul",
        "registry.example.org/a@sha256:123",
        ["zuul/zuul"],
        None,
    ],
)
def test_container_image_refuses(value):
    assert not TESTS["container_image"](value)


@pytest.mark.parametrize("value", ["zuul01.opendev.org", "localhost", "172.30.42.10", "a-b.c"])
def test_dns_name_accepts(value):
    assert TESTS["dns_name"](value)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "-zuul.example.org",
        "zuul-.example.org",
        "zuul..example.org",
        "zuul.example.org.",
        "zuul example.org",
        "zuul.example.org\n",
        "a" * 64 + ".org",
        ".".join(["a" * 63] * 4) + ".org",  # over 253
        "zuul_01.example.org",
        42,
    ],
)
def test_dns_name_refuses(value):
    assert not TESTS["dns_name"](value)


@pytest.mark.parametrize("value", ["zuul", "_apt", "infra-root", "a" * 32])
def test_account_name_accepts(value):
    assert TESTS["account_name"](value)


@pytest.mark.parametrize("value", ["", "-g", "Root", "0day", "a" * 33, "zuul\n", "zuul zuul", 0])
def test_account_name_refuses(value):
    assert not TESTS["account_name"](value)
