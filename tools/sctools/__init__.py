"""Tooling of the system-config repository (see README.md, "Tools")."""

from pathlib import Path

# The repository checkout this package lives in (tools/sctools/ -> top).
REPO_ROOT = Path(__file__).resolve().parents[2]
