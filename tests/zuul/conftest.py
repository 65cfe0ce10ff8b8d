"""Session fixtures for the zuul.d tests (tox -e zuul): see zuul_harness.py."""

from __future__ import annotations

import contextlib

import pytest
from zuul_harness import FleetZuul, Zuul, repository_files, running_zookeeper


@pytest.fixture(scope="session")
def zookeeper(tmp_path_factory):
    with running_zookeeper(tmp_path_factory.mktemp("zookeeper")) as zk:
        yield zk


@pytest.fixture(scope="session")
def zuul(zookeeper, tmp_path_factory):
    with contextlib.closing(Zuul(tmp_path_factory.mktemp("zuul"), zookeeper)) as instance:
        yield instance


@pytest.fixture(scope="session")
def repository_validation(zuul):
    """This working tree's zuul.d in the production tenant, loaded and frozen
    once: the result is plain data, for any test that needs it."""
    return zuul.validate(repository_files(), "zuul.d of the working tree")


@pytest.fixture(scope="session")
def fleet_zuul(zookeeper, tmp_path_factory):
    with contextlib.closing(FleetZuul(tmp_path_factory.mktemp("fleet-zuul"), zookeeper)) as fleet:
        yield fleet
