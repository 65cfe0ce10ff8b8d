"""Session fixtures for the zuul.d tests (tox -e zuul): see zuul_harness.py."""

from __future__ import annotations

import pytest
from zuul_harness import Zuul, running_zookeeper


@pytest.fixture(scope="session")
def zookeeper(tmp_path_factory):
    with running_zookeeper(tmp_path_factory.mktemp("zookeeper")) as zk:
        yield zk


@pytest.fixture(scope="session")
def zuul(zookeeper, tmp_path_factory):
    instance = Zuul(tmp_path_factory.mktemp("zuul"), zookeeper)
    try:
        yield instance
    finally:
        instance.close()
