"""zuul-scheduler --validate-tenants, then every job graph frozen.

Run with the python of the Zuul venv, with zuul-scheduler's arguments:

    python freeze_validate.py -c zuul.conf -f --validate-tenants

It is zuul-scheduler itself (zuul.cmd.scheduler.main), with one addition:
after Zuul's own validation has loaded the tenants (and raised for any
configuration error), each project's job graph is frozen in each pipeline
with the code zuul-web's freeze-jobs endpoint uses (QueueItem.freezeJobGraph,
file matchers skipped). Only freezing finds dependency cycles and hard
dependencies on jobs a pipeline never runs. Errors are reported like
configuration errors (exit 1). The frozen graphs and Zuul's configuration
warnings are written as JSON to the file named by FREEZE_OUTPUT:
{"graphs": [{tenant, pipeline, project, branch, jobs: [{name,
dependencies: [{name, soft}]}]}], "warnings": [text]}.
"""

import json
import os
import sys

import zuul.scheduler
from zuul import exceptions
from zuul.cmd import scheduler as scheduler_command
from zuul.model import Abide, Branch, ChangeQueue, QueueItem
from zuul.web import FakeCacheKey
from zuul.zk.zkobject import LocalZKContext

loaded_abides = []


class RecordingAbide(Abide):
    """The Abide validateTenants builds and drops, kept for freezing."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        loaded_abides.append(self)


def freeze(log, tenant, manager, project, branch):
    change = Branch(project)
    change.branch = branch
    change.cache_stat = FakeCacheKey()
    with LocalZKContext(log) as context:
        queue = ChangeQueue.new(context, manager=manager)
        item = QueueItem.new(context, queue=queue, changes=[change])
        item.freezeJobGraph(
            tenant.layout, context, None, skip_file_matcher=True, redact_secrets_and_keys=True
        )
        return [
            {
                "name": job.name,
                "dependencies": sorted(
                    ({"name": d.name, "soft": d.soft} for d in job.dependencies),
                    key=lambda d: d["name"],
                ),
            }
            for job in item.current_build_set.job_graph.getJobs()
        ]


validate_tenants = zuul.scheduler.Scheduler.validateTenants


def validate_and_freeze(self, config, tenants_to_validate):
    zuul.scheduler.Abide = RecordingAbide
    validate_tenants(self, config, tenants_to_validate)
    graphs, errors, warnings = [], [], []
    for abide in loaded_abides:
        for tenant in abide.tenants.values():
            warnings += [e.error for e in tenant.layout.loading_errors if e.severity == "warning"]
            for pipeline, manager in sorted(tenant.layout.pipeline_managers.items()):
                for project in tenant.all_projects:
                    for branch in tenant.getProjectBranches(project.canonical_name):
                        where = (
                            f"tenant {tenant.name}, pipeline {pipeline}, {project.name}@{branch}"
                        )
                        try:
                            jobs = freeze(self.log, tenant, manager, project, branch)
                        except Exception as exc:  # Zuul raises plain Exception for cycles
                            errors.append(f"{where}: {exc}")
                            continue
                        graphs.append(
                            {
                                "tenant": tenant.name,
                                "pipeline": pipeline,
                                "project": project.name,
                                "branch": branch,
                                "jobs": jobs,
                            }
                        )
    if os.environ.get("FREEZE_OUTPUT"):
        with open(os.environ["FREEZE_OUTPUT"], "w") as out:
            json.dump({"graphs": graphs, "warnings": warnings}, out, indent=2)
    if errors:
        raise exceptions.ConfigurationSyntaxError("Job graph errors:\n" + "\n".join(errors))
    self.log.info("Job graphs frozen: %s", len(graphs))


zuul.scheduler.Scheduler.validateTenants = validate_and_freeze

if __name__ == "__main__":
    sys.argv = ["zuul-scheduler", *sys.argv[1:]]
    scheduler_command.main()
