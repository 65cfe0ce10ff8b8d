"""Fixtures of the etherpad scenario's tests."""

import pytest
from scenario import pebble_root_on


@pytest.fixture(scope="module")
def pebble_root(host) -> str:
    """The root pebble signs the site's certificate with, on the instance."""
    return pebble_root_on(host)
