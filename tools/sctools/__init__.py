"""Tooling of the system-config repository (see README.md, "Tools").

The modules, by what they are for (arrows: what each group imports from
the others; every group uses the shared modules):

- convergence: run_all (the `run-all` command), schedule (schedule.yaml),
  recap (Ansible's PLAY RECAP);
- change analysis: analysis/ (what a playbook depends on), matchers
  (paths to Zuul file regexes), affected, zuul_jobs -> convergence's
  schedule;
- namespaces: namespaces (the command), namespace_metadata,
  namespace_outputs, patience_diff;
- images: images, registry, image_cache, buildset_registry;
- tests: fleet (the local fleet), molecule_all, refusals, ci_stages,
  role_docs -> analysis (which scenarios converge which roles);
- shared: cli (exit codes, the one `main` wrapper), docker_cli, strict_yaml
  (the one YAML loader), processes.

Only the change analysis is a subpackage: seven modules about one thing,
each building on the one before. The other groups are two to five modules
whose names already say their group, and their module paths are an
interface: bridge's cron, the Zuul jobs and the docs call
`python -m sctools.run_all` and friends.
"""

from pathlib import Path

# The repository checkout this package lives in (tools/sctools/ -> top).
REPO_ROOT = Path(__file__).resolve().parents[2]
