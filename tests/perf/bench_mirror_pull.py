"""Benchmark: a docker pull through the region mirror, cold and cached.

Needs the local fleet deployed (`.venv/bin/fleet deploy`). Seeds a fresh
image of --size-mb MiB (random bytes: no compression helps) into the Docker
Hub stand-in on standins01, then times on the regiona docker hosts:

  cold      first pull, by tag: the mirror fetches from the upstream and
            caches
  cached    the same tag on another docker host: the tag is resolved
            upstream (HEAD), manifest and layers come from the mirror's cache
  stopped   again on the first host after `docker image rm`, by digest, with
            the upstream registry stopped: only the mirror's cache can answer

Every round uses a new image, so "cold" is really cold. Prints medians;
asserts nothing about speed.

    .venv/bin/python tests/perf/bench_mirror_pull.py [--size-mb 64] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))

from fleet_helpers import on  # noqa: E402
from test_mirror import (  # noqa: E402
    DOCKER_HOST,
    OTHER_DOCKER_HOST,
    STANDINS,
    UPSTREAM_UNITS,
    seed_upstream_image,
)


def timed_pull(host, image: str) -> float:
    start = time.monotonic()
    result = on(host, f"docker pull -q {image}", timeout=900)
    seconds = time.monotonic() - start
    if result.returncode != 0:
        sys.exit(f"pull of {image} on {host.name} failed: {result.stderr.strip()}")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--size-mb", type=float, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    times: dict[str, list[float]] = {"cold": [], "cached": [], "stopped": []}
    for _ in range(args.rounds):
        image, digest = seed_upstream_image(args.size_mb)
        by_digest = f"{image.split(':')[0]}@{digest}"
        try:
            times["cold"].append(timed_pull(DOCKER_HOST, image))
            times["cached"].append(timed_pull(OTHER_DOCKER_HOST, image))
            on(DOCKER_HOST, f"docker image rm -f {image}")
            on(STANDINS, f"systemctl stop {UPSTREAM_UNITS}")
            times["stopped"].append(timed_pull(DOCKER_HOST, by_digest))
        finally:
            on(STANDINS, f"systemctl start {UPSTREAM_UNITS}")
            for host in (DOCKER_HOST, OTHER_DOCKER_HOST):
                on(host, f"docker image rm -f {image} {by_digest}")
    print(f"docker pull of a {args.size_mb:g} MiB image, median of {args.rounds} rounds:")
    for name, values in times.items():
        each = ", ".join(f"{v:.2f}" for v in values)
        print(f"  {name:<8} {statistics.median(values):6.2f} s   ({each})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
