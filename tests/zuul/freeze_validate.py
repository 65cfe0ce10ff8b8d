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
dependencies: [{name, soft}]}]}], "warnings": [text], "pipelines": [{tenant,
name, manager, precedence, post_review, triggers: [text]}], "pushes":
[{tenant, project, ref, pipelines: [name]}]}.

The item frozen is a Branch at the tip, which is what the timer enqueues
and also what the git driver makes of a ref-updated event on a branch (a
Gerrit change-merged makes a Change, which freezes the same graph once file
matchers are skipped). "pushes" answers, with each pipeline manager's own
eventMatches, which pipelines a git push (ref-updated) would enqueue, for
each {"project", "ref"} of the JSON list in FREEZE_PUSHES on the project's
own connection.
"""

import json
import os
import sys

import zuul.scheduler
from zuul import exceptions
from zuul.cmd import scheduler as scheduler_command
from zuul.driver.git.gitmodel import GitTriggerEvent
from zuul.model import PRECEDENCE_MAP, Abide, Branch, ChangeQueue, QueueItem
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


def pipeline_summary(tenant, manager):
    pipeline = manager.pipeline
    precedence = {v: k for k, v in PRECEDENCE_MAP.items() if k}[pipeline.precedence]
    return {
        "tenant": tenant.name,
        "name": pipeline.name,
        "manager": pipeline.manager_name,
        "precedence": precedence,
        "post_review": pipeline.post_review,
        "triggers": [repr(f) for f in pipeline.event_filters],
    }


def pipelines_a_push_enqueues(tenant, project_name, ref):
    """The pipelines whose triggers accept a git push of ref to the project."""
    _, project = tenant.getProject(project_name)
    if project is None:
        raise exceptions.ConfigurationSyntaxError(f"{project_name} is not in {tenant.name}")
    event = GitTriggerEvent()
    event.type = "ref-updated"
    event.connection_name = project.connection_name
    event.project_hostname = project.canonical_hostname
    event.project_name = project.name
    event.ref = ref
    event.oldrev, event.newrev = "1" * 40, "2" * 40
    change = Branch(project)
    change.ref, change.oldrev, change.newrev = ref, event.oldrev, event.newrev
    change.branch = ref.removeprefix("refs/heads/")
    return sorted(
        name
        for name, manager in tenant.layout.pipeline_managers.items()
        if manager.eventMatches(event, change)
    )


validate_tenants = zuul.scheduler.Scheduler.validateTenants


def validate_and_freeze(self, config, tenants_to_validate):
    zuul.scheduler.Abide = RecordingAbide
    validate_tenants(self, config, tenants_to_validate)
    graphs, errors, warnings, pipelines, pushes = [], [], [], [], []
    for abide in loaded_abides:
        for tenant in abide.tenants.values():
            warnings += [e.error for e in tenant.layout.loading_errors if e.severity == "warning"]
            for push in json.loads(os.environ.get("FREEZE_PUSHES", "[]")):
                enqueued = pipelines_a_push_enqueues(tenant, push["project"], push["ref"])
                pushes.append({"tenant": tenant.name, **push, "pipelines": enqueued})
            for pipeline, manager in sorted(tenant.layout.pipeline_managers.items()):
                pipelines.append(pipeline_summary(tenant, manager))
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
            json.dump(
                {"graphs": graphs, "warnings": warnings, "pipelines": pipelines, "pushes": pushes},
                out,
                indent=2,
            )
    if errors:
        raise exceptions.ConfigurationSyntaxError("Job graph errors:\n" + "\n".join(errors))
    self.log.info("Job graphs frozen: %s", len(graphs))


zuul.scheduler.Scheduler.validateTenants = validate_and_freeze

if __name__ == "__main__":
    sys.argv = ["zuul-scheduler", *sys.argv[1:]]
    scheduler_command.main()
