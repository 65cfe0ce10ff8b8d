"""Etherpad on the local fleet: etherpad01 as its users and an outside scanner see it.

run-all deployed service-etherpad: MariaDB on etherpad01 (loopback only),
Etherpad from this checkout's image, Apache with a certificate from the
stand-in pebble (whose roots every fleet host trusts). The API key is a
fake secret `fleet up` generated in bridge's private variables.
"""

from __future__ import annotations

import uuid

import pytest
from etherpad_api import ETHERPAD, URL, api, read_api_key
from fleet_helpers import BRIDGE, HOSTS, on, tcp_connects, tcp_probes

OUTSIDER = HOSTS["zuul01.fleet.test"]


@pytest.fixture(scope="module")
def api_key(deployed) -> str:
    return read_api_key()


def status(source, path: str, method: str = "GET") -> str:
    result = on(
        source, f"curl -sS --max-time 30 -o /dev/null -w '%{{http_code}}' -X {method} '{URL}{path}'"
    )
    return result.stdout


def test_a_pad_written_through_the_api_reads_back(api_key):
    pad = f"fleet-{uuid.uuid4().hex[:12]}"
    api(api_key, "createPad", padID=pad, text="first\n")
    api(api_key, "setText", padID=pad, text="second\n")
    assert api(api_key, "getText", padID=pad)["text"] == "second\n"
    assert api(api_key, "getRevisionsCount", padID=pad)["revisions"] == 1


def test_http_redirects_to_https(deployed):
    result = on(
        BRIDGE,
        f"curl -sS --max-time 30 -o /dev/null -w '%{{http_code}} %{{redirect_url}}' http://{ETHERPAD.name}/p/x",
    )
    assert result.stdout == f"301 {URL}/p/x"


@pytest.mark.parametrize("path", ["/p/victim/import", "/P/victim/Import", "/admin/", "/stats"])
def test_imports_admin_and_stats_are_refused_from_other_hosts(deployed, path):
    assert status(OUTSIDER, path, "POST" if "mport" in path.lower() else "GET") == "403"


def test_the_host_itself_may_reach_the_import(deployed):
    assert status(ETHERPAD, "/p/victim/import", "POST") not in ("403", "000")


@pytest.mark.parametrize("port", [80, 443])
def test_the_site_is_open(deployed, port):
    assert tcp_connects(OUTSIDER, ETHERPAD.ipv4, port)


CLOSED_PORTS = [3306, 9001, 22]


@pytest.fixture(scope="module")
def outsider_probes(deployed) -> dict[tuple[str, str, int], bool]:
    """What the outsider reaches of etherpad01's closed ports, probed at once."""
    return tcp_probes(
        [(OUTSIDER, getattr(ETHERPAD, f), p) for f in ("ipv4", "ipv6") for p in CLOSED_PORTS]
    )


@pytest.mark.parametrize("port", CLOSED_PORTS)
@pytest.mark.parametrize("family", ["ipv4", "ipv6"])
def test_mariadb_etherpad_and_ssh_are_closed_to_other_hosts(outsider_probes, port, family):
    assert not outsider_probes[(OUTSIDER.name, getattr(ETHERPAD, family), port)]
