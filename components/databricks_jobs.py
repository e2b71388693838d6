"""Databricks jobs rendered from jobs/ definitions, one databricks.Job each.

Declarative replacement of delete-and-recreate: a definition keeps its logical name, so an unchanged
file is a no-op, an edited one an update (the job id survives) and a removed file a deletion.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_databricks as databricks

from core.jobs import RenderedJob, resolve_pool_refs
from core.notebooks import job_notebook_references, normalize_workspace_path


@dataclass(frozen=True)
class DatabricksJobsArgs:
    jobs: Sequence[RenderedJob]
    """Validated job settings from core.jobs.render_jobs."""
    pool_ids: Mapping[str, pulumi.Input[str]]
    """Pool id by pool name, substituted for the templates' pool("name") references."""
    provider: databricks.Provider
    """Provider of the stage's workspace."""
    notebooks: Mapping[str, pulumi.Resource] = field(default_factory=dict)
    """Deployed notebooks by workspace path: a job waits for the notebooks it runs."""


class DatabricksJobs(pulumi.ComponentResource):
    job_ids: pulumi.Output[dict[str, str]]
    """Databricks job id by job name."""

    def __init__(self, name: str, args: DatabricksJobsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("databricks-platform:databricks:DatabricksJobs", name, None, opts)
        ids: dict[str, pulumi.Output[str]] = {}
        notebooks = {normalize_workspace_path(path): notebook for path, notebook in args.notebooks.items()}
        for job in args.jobs:
            runs = {normalize_workspace_path(path) for _, path in job_notebook_references(job.source, job.settings)}
            resource = databricks.Job(
                f"{name}-{job.resource_name.removeprefix('job-')}",
                **resolve_pool_refs(job.settings, args.pool_ids),
                opts=pulumi.ResourceOptions(
                    parent=self, provider=args.provider,
                    depends_on=[notebooks[path] for path in sorted(runs) if path in notebooks],
                ),
            )
            ids[job.settings["name"]] = resource.id
        self.job_ids = pulumi.Output.all(**ids) if ids else pulumi.Output.from_input({})
        self.register_outputs({"job_ids": self.job_ids})
