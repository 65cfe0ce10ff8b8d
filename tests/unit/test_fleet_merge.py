"""Unit tests of `fleet merge`'s usage checks (tools/sctools/fleet_merge.py).

What it does on a fleet is tested there (tests/integration/test_zuul_cd.py).
"""

import pytest

from sctools import fleet, fleet_merge
from sctools.cli import Exit, ToolError


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "give PATHs or --cherry-pick REV"),
        (["README.md", "--cherry-pick", "HEAD"], "give PATHs or --cherry-pick REV"),
        (["--cherry-pick", "HEAD", "-m", "x"], "--message goes with PATHs"),
    ],
    ids=["nothing", "both", "message with a cherry-pick"],
)
def test_bad_usage_is_refused_before_anything_is_touched(argv, message, monkeypatch):
    def untouchable(*args, **kwargs):
        raise AssertionError("touched the fleet")

    monkeypatch.setattr(fleet_merge, "fetch_master", untouchable)
    with pytest.raises(ToolError) as error:
        fleet_merge.cmd_merge(fleet.load_fleet(), argv)
    assert message in str(error.value)
    assert error.value.code == Exit.USAGE


def test_a_path_outside_the_checkout_is_refused(tmp_path):
    with pytest.raises(ToolError) as error:
        fleet_merge.apply_paths(tmp_path, ["../elsewhere"])
    assert "outside this checkout" in str(error.value)
    assert error.value.code == Exit.USAGE
