"""plugins/lookup/image_tag.py through Ansible itself, with this repository's ansible.cfg."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from sctools import REPO_ROOT

ANSIBLE = os.path.join(os.path.dirname(sys.executable), "ansible")


def lookup(tmp_path, expression):
    """Run `debug: msg=<expression>` on localhost, as a play on bridge would."""
    inventory = tmp_path / "hosts.yaml"
    inventory.write_text("all:\n  hosts:\n    localhost:\n      ansible_connection: local\n")
    env = dict(
        os.environ,
        ANSIBLE_CONFIG=str(REPO_ROOT / "ansible.cfg"),
        ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
        ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
    )
    proc = subprocess.run(
        [ANSIBLE, "localhost", "-i", str(inventory), "-m", "ansible.builtin.debug",
         "-a", f"msg={{{{ {expression} }}}}"],
        capture_output=True, text=True, cwd=tmp_path, env=env, check=False,
    )  # fmt: skip
    # profile_tasks (ansible.cfg) prints its lines around the JSON.
    report, _ = json.JSONDecoder().raw_decode(proc.stdout[proc.stdout.index("\n{") + 1 :])
    result = report["plays"][0]["tasks"][0]["hosts"]["localhost"]
    return proc.returncode, result


def test_the_lookup_gives_the_tags_of_images_list(tmp_path):
    listing = subprocess.run(
        [sys.executable, "-m", "sctools.images", "list", "--json"],
        capture_output=True, text=True, cwd=REPO_ROOT, check=True,
    )  # fmt: skip
    families = json.loads(listing.stdout)["families"]
    rc, result = lookup(tmp_path, "lookup('image_tag', 'zuul', 'etherpad', wantlist=True)")
    assert rc == 0, result
    assert result["msg"] == [families["zuul"]["tag"], families["etherpad"]["tag"]]


def test_an_unknown_family_fails_naming_the_families(tmp_path):
    rc, result = lookup(tmp_path, "lookup('image_tag', 'nginx')")
    assert rc != 0
    assert "'nginx' is no image family" in result["msg"]
    assert "etherpad, zuul" in result["msg"]
