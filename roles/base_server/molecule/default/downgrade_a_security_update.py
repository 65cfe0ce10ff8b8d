#!/usr/bin/python3
"""Put one package back to its point-release version, below its security fix.

The test images carry every security update published when they were
built, so without this the converge would have nothing to upgrade and
test_no_security_upgrade_is_pending could not fail. The package chosen is
the first whose downgrade apt can make alone (no other package changes),
optional packages before the ones apt and dpkg need.
Prints the package's name; exits 1 when no package qualifies.
"""

import os
import subprocess
import sys

import apt


def downgrade_alone(name, version):
    """True when apt would change only this package to reach version."""
    simulation = subprocess.run(
        ["apt-get", "-s", "-q", "--allow-downgrades", "install", f"{name}={version}"],
        capture_output=True,
        text=True,
        check=False,
    )
    changes = [
        line for line in simulation.stdout.splitlines() if line.startswith(("Inst ", "Remv "))
    ]
    return simulation.returncode == 0 and len(changes) == 1


def main():
    cache = apt.Cache()
    optional_first = sorted(
        (p for p in cache if p.is_installed),
        key=lambda p: (p.installed.priority in ("required", "important"), p.name),
    )
    for package in optional_first:
        installed = package.installed
        if installed is None or not any(o.label == "Debian-Security" for o in installed.origins):
            continue
        older = [
            v
            for v in package.versions
            if v < installed and not any(o.label == "Debian-Security" for o in v.origins)
        ]
        if older and downgrade_alone(package.name, max(older).version):
            subprocess.run(
                [
                    "apt-get",
                    "-q",
                    "-y",
                    "--allow-downgrades",
                    "install",
                    f"{package.name}={max(older).version}",
                ],
                check=True,
                stdout=subprocess.DEVNULL,
                env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
            )
            print(package.name)
            return 0
    print("no installed security update can be downgraded alone", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
