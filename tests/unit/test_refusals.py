"""sctools.refusals against a tiny role on localhost (check mode: nothing is written)."""

import sys

import pytest

from sctools.refusals import ACCEPTED, refusals

ROLE_TASKS = """\
- name: Refuse a path outside /srv
  ansible.builtin.assert:
    that: demo_path is ansible.builtin.regex('\\\\A/srv/')
    fail_msg: demo_path must be under /srv, got {{ demo_path }}
- name: Refuse bad items
  ansible.builtin.assert:
    that: item > 0
    fail_msg: demo_items must be positive, got {{ item }}
  loop: "{{ demo_items }}"
- name: Write the file
  ansible.builtin.copy:
    content: demo
    dest: "{{ demo_path }}"
    mode: "0644"
"""


@pytest.fixture
def roles(tmp_path, monkeypatch):
    tasks = tmp_path / "roles" / "demo" / "tasks"
    tasks.mkdir(parents=True)
    (tasks / "main.yml").write_text(ROLE_TASKS)
    (tmp_path / "roles" / "demo" / "defaults").mkdir()
    (tmp_path / "roles" / "demo" / "defaults" / "main.yml").write_text("demo_items: [1]\n")
    inventory = tmp_path / "hosts.yaml"
    inventory.write_text(
        "all:\n  hosts:\n    localhost:\n      ansible_connection: local\n"
        f"      ansible_python_interpreter: {sys.executable}\n"
    )
    monkeypatch.setenv("MOLECULE_INVENTORY_FILE", str(inventory))
    monkeypatch.setenv("ANSIBLE_STRATEGY", "linear")
    # Not the shared fact cache: other tests' localhost facts live there.
    monkeypatch.setenv("ANSIBLE_CACHE_PLUGIN", "memory")
    return tmp_path


def test_each_case_gets_its_refusal_or_accepted(roles):
    outcome = refusals(
        "localhost",
        "demo",
        {
            "outside": {"demo_path": "/etc/demo"},
            "bad item": {"demo_path": "/srv/x", "demo_items": [1, -5]},
            "fine": {"demo_path": "/srv/demo"},
        },
        roles_path=roles / "roles",
    )
    assert outcome.messages["outside"].startswith("demo_path must be under /srv")
    # A loop's refusal names its item, not only "One or more items failed".
    assert "demo_items must be positive, got -5" in outcome.messages["bad item"]
    assert outcome.messages["fine"] == ACCEPTED
    # The accepted case would have written its file: counted, not done.
    assert outcome.changed == 1
