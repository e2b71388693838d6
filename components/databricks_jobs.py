"""Databricks jobs rendered from jobs/ definitions, one databricks.Job each.

Declarative replacement of delete-and-recreate: a definition keeps its logical name, so an unchanged
file is a no-op, an edited one an update (the job id survives) and a removed file a deletion.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_databricks as databricks

from core.jobs import RenderedJob, resolve_pool_refs


@dataclass(frozen=True)
class DatabricksJobsArgs:
    jobs: Sequence[RenderedJob]
    """Validated job settings from core.jobs.render_jobs."""
    pool_ids: Mapping[str, pulumi.Input[str]]
    """Pool id by pool name, substituted for the templates' pool("name") references."""
    provider: databricks.Provider
    """Provider of the stage's workspace."""


class DatabricksJobs(pulumi.ComponentResource):
    job_ids: pulumi.Output[dict[str, str]]
    """Databricks job id by job name."""

    def __init__(self, name: str, args: DatabricksJobsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("databricks-platform:databricks:DatabricksJobs", name, None, opts)
        ids: dict[str, pulumi.Output[str]] = {}
        for job in args.jobs:
            resource = databricks.Job(
                f"{name}-{job.resource_name.removeprefix('job-')}",
                **resolve_pool_refs(job.settings, args.pool_ids),
                opts=pulumi.ResourceOptions(parent=self, provider=args.provider),
            )
            ids[job.settings["name"]] = resource.id
        self.job_ids = pulumi.Output.all(**ids) if ids else pulumi.Output.from_input({})
        self.register_outputs({"job_ids": self.job_ids})
