"""Etherpad's HTTP API on etherpad01, as the fleet tests use it."""

from __future__ import annotations

import json
import urllib.parse

from fleet_helpers import BRIDGE, HOSTS, on

ETHERPAD = HOSTS["etherpad01.fleet.test"]
URL = f"https://{ETHERPAD.name}"
# Where `fleet up` put the fake secrets (etherpad_api_key among them).
SECRETS = "/etc/system-config/private/group_vars/etherpad.yaml"


def read_api_key() -> str:
    result = on(BRIDGE, f"cat {SECRETS}")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.split("\n", 1)[1])["etherpad_api_key"]


def api_answer(api_key: str, method: str, source=BRIDGE, **params) -> dict:
    """The API's whole answer ({code, message, data}) over HTTPS from another
    host; the certificate must verify."""
    query = urllib.parse.urlencode({"apikey": api_key, **params})
    result = on(source, f"curl -sS --fail --max-time 30 '{URL}/api/1.2.15/{method}?{query}'")
    assert result.returncode == 0, result.stderr  # 60: the certificate did not verify
    return json.loads(result.stdout)


def api(api_key: str, method: str, source=BRIDGE, **params) -> dict:
    """The API's data; fails the test unless the call succeeded."""
    answer = api_answer(api_key, method, source, **params)
    assert answer["code"] == 0, answer
    return answer["data"]
