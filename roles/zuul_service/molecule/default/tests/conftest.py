"""Fixtures of the Zuul stack scenario's tests (helpers: zuul_stack.py).

`stack` reaches the services on the instance and converges again.

`original` is for a test that leaves the stack converged with other
values: the scenario's own values are converged again before the next
test runs, not after the last one (molecule destroys the instance then,
and a converge that restarts every service is the most expensive step of
the suite). Tests that use it run after all the others, in their order.
"""

import pytest
from scenario import pebble_root_on
from zuul_stack import Stack

# Whether a test left the stack with other values than converge.yml's.
_changed = {"stack": False}


def pytest_collection_modifyitems(items):
    # A stable sort: the tests that leave the stack changed come last.
    items.sort(key=lambda item: "original" in getattr(item, "fixturenames", ()))


@pytest.fixture(scope="module")
def stack(host):
    return Stack(host)


@pytest.fixture(scope="module")
def pebble_root(host) -> str:
    """The root pebble signs zuul-web's certificate with, on the instance."""
    return pebble_root_on(host)


@pytest.fixture(autouse=True)
def _converged_with_the_scenarios_values(request):
    """Converge with the scenario's own values first when a test changed them."""
    if _changed["stack"]:
        code, output = request.getfixturevalue("stack").converge()
        assert code == 0, output[-3000:]
        _changed["stack"] = False


@pytest.fixture
def original():
    """The test converges with other values: put the scenario's back before the next test."""
    yield
    _changed["stack"] = True
