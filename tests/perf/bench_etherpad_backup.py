"""Benchmark: etherpad01's backup with many pads, and the restore of one.

Needs the local fleet deployed (`.venv/bin/fleet deploy`). Fills --pads pads
of --revisions revisions each through Etherpad's HTTP API (a Python client
on etherpad01 talking to Etherpad on 127.0.0.1, --threads at a time), waits
until MariaDB holds every revision, then times:

  fill      the API calls (createPad, then appendText per revision)
  backup    `systemctl start borg-backup.service`: files and the database
            dump to both backup servers, as the timer runs it
  restore   docs/etherpad.md's "Restoring one pad", every step as written
            (from backup01, Etherpad stopped and started again included)

and prints the dump's size and each server's archive sizes (borg info:
original, compressed, deduplicated). The pads are deleted at the end
(--keep leaves them); the archives stay, as real backups would. Asserts
nothing about speed.

    .venv/bin/python tests/perf/bench_etherpad_backup.py [--pads 1000] [--revisions 100]
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))

from etherpad_api import ETHERPAD  # noqa: E402
from fleet_helpers import on  # noqa: E402
from test_etherpad_backup import RESTORE_STEPS, SERVERS, restore_script  # noqa: E402

# Runs on etherpad01: the API over keep-alive connections, one per thread.
CLIENT = r"""
import http.client, json, sys, threading, urllib.parse
prefix, pads, revisions, threads, action = sys.argv[1], *map(int, sys.argv[2:5]), sys.argv[5]
key = open("/etc/etherpad/APIKEY.txt").read().strip()
errors = []

def call(conn, method, **params):
    query = urllib.parse.urlencode({"apikey": key, **params})
    conn.request("POST", f"/api/1.2.15/{method}", body=query,
                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    answer = json.loads(conn.getresponse().read())
    if answer["code"] != 0:
        raise RuntimeError(f"{method} {params.get('padID')}: {answer['message']}")

def work(first):
    conn = http.client.HTTPConnection("127.0.0.1", 9001, timeout=120)
    try:
        for n in range(first, pads, threads):
            pad = f"{prefix}-{n:05d}"
            if action == "delete":
                call(conn, "deletePad", padID=pad)
                continue
            call(conn, "createPad", padID=pad, text=f"{pad}: revision 0\n")
            for rev in range(1, revisions):
                call(conn, "appendText", padID=pad,
                     text=f"{pad}: revision {rev}, a line of notes as a meeting writes them\n")
    except Exception as error:
        errors.append(str(error))

workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
for w in workers: w.start()
for w in workers: w.join()
if errors:
    sys.exit("\n".join(errors[:5]))
"""


def on_etherpad(script: str, timeout: int = 7200) -> str:
    result = on(ETHERPAD, script, timeout=timeout)
    if result.returncode != 0:
        sys.exit(
            f"on {ETHERPAD.name}: {script[:200]}\n{result.stdout[-2000:]}{result.stderr[-2000:]}"
        )
    return result.stdout


def api_client(prefix: str, pads: int, revisions: int, threads: int, action: str) -> float:
    start = time.monotonic()
    args = f"{prefix} {pads} {revisions} {threads} {action}"
    on_etherpad(f"python3 - {args} <<'PY'\n{CLIENT}\nPY")
    return time.monotonic() - start


def wait_until_stored(prefix: str, pads: int, revisions: int) -> None:
    """Etherpad writes from a buffer: wait until MariaDB has every last revision."""
    query = f"SELECT COUNT(*) FROM store WHERE `key` LIKE 'pad:{prefix}-%:revs:{revisions - 1}'"
    while int(on_etherpad(f"mariadb -N etherpad -e {shlex.quote(query)}").strip()) < pads:
        time.sleep(1)


def newest_archive_sizes(server: str) -> dict:
    name = on_etherpad(
        f"borg-backup-repo {server} list --short --glob-archives '*-etherpad-*' --last 1"
    ).strip()
    info = json.loads(on_etherpad(f"borg-backup-repo {server} info --json ::{name}"))
    stats = info["archives"][0]["stats"]
    return {k: stats[k] for k in ("original_size", "compressed_size", "deduplicated_size")}


def mib(size: int) -> str:
    return f"{size / 2**20:.1f} MiB"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--pads", type=int, default=1000)
    parser.add_argument("--revisions", type=int, default=100)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--keep", action="store_true", help="leave the pads in Etherpad")
    args = parser.parse_args()
    prefix = f"bench-{uuid.uuid4().hex[:6]}"
    # Only the benchmark's own backup: the nightly timer waits until the end.
    on_etherpad("systemctl stop borg-backup.timer")
    try:
        measure(prefix, args)
    finally:
        on_etherpad("systemctl start borg-backup.timer")
    return 0


def measure(prefix: str, args: argparse.Namespace) -> None:

    fill = api_client(prefix, args.pads, args.revisions, args.threads, "fill")
    wait_until_stored(prefix, args.pads, args.revisions)
    calls = args.pads * args.revisions
    print(
        f"fill     {args.pads} pads x {args.revisions} revisions: {fill:.0f} s "
        f"({calls / fill:.0f} API calls/s, {args.threads} threads)"
    )

    dump = int(
        on_etherpad(
            "mysqldump --single-transaction --skip-extended-insert etherpad | wc -c"
        ).strip()
    )
    rows = on_etherpad('mariadb -N etherpad -e "SELECT COUNT(*) FROM store"').strip()
    print(f"database {rows} rows, dump {mib(dump)}")

    time.sleep(1.1)  # archive names carry the second: never two backups in one
    start = time.monotonic()
    on_etherpad("systemctl start borg-backup.service")
    print(
        f"backup   {time.monotonic() - start:.0f} s to {len(SERVERS)} servers (files and database)"
    )
    for server in SERVERS:
        sizes = newest_archive_sizes(server.name)
        print(f"         {server.name}: " + ", ".join(f"{k} {mib(v)}" for k, v in sizes.items()))

    pad = f"{prefix}-{args.pads // 2:05d}"
    start = time.monotonic()
    on_etherpad(restore_script(RESTORE_STEPS, pad, SERVERS[0].name))
    print(
        f"restore  {time.monotonic() - start:.0f} s for pad {pad} from {SERVERS[0].name} "
        "(docs/etherpad.md, every step, Etherpad stopped and started included)"
    )

    if not args.keep:
        api_client(prefix, args.pads, args.revisions, args.threads, "delete")


if __name__ == "__main__":
    sys.exit(main())
