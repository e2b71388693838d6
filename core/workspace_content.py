"""What a stage puts into its workspace, read and checked together: jobs/ and notebooks/.

Pure logic, no Pulumi resources. Every problem of the job definitions, the templates, the notebook files and
the references between them is reported in one run, before any resource is declared.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.config import StageConfig
from core.errors import UserError
from core.job_settings import apply_job_defaults
from core.jobs import RenderedJob, render_jobs
from core.notebooks import NotebookFile, check_notebook_references, job_notebook_references, scan_notebooks


@dataclass(frozen=True)
class WorkspaceContent:
    jobs: list[RenderedJob]
    """Rendered jobs with the stage's job settings applied, sorted by logical name."""
    notebooks: list[NotebookFile]
    """Notebooks to deploy, sorted by workspace path."""
    notebook_paths: frozenset[str]
    """Workspace paths notebooks/ claims, including files that could not be read (already reported), so that
    a reference to one is not reported a second time."""


def load_workspace_content(
    *,
    jobs_dir: Path,
    templates_dir: Path,
    notebooks_dir: Path,
    config: StageConfig,
    problems: list[str],
    relative_to: Path | None = None,
) -> WorkspaceContent:
    """Render the jobs, read the notebooks, apply the stage's job settings and check that every notebook a job
    runs is deployed or external. Every problem found is appended to ``problems``; what is returned holds the
    jobs and notebooks that could be read."""
    jobs = render_jobs(
        jobs_dir,
        templates_dir,
        stage=config.stage,
        variables=config.template_variables,
        pool_names=config.pool_names,
        pool_capacities=config.pool_capacities,
        default_max_concurrent_runs=config.job_defaults.max_concurrent_runs,
        default_pool=config.jobs_default_pool,
        relative_to=relative_to,
        problems=problems,
    )
    try:
        jobs = apply_job_defaults(jobs, config.job_defaults)
    except UserError as error:
        problems += error.problems
    scan = scan_notebooks(notebooks_dir, root=config.notebooks_root, relative_to=relative_to)
    problems += scan.problems
    references = [reference for job in jobs for reference in job_notebook_references(job.source, job.settings)]
    problems += check_notebook_references(references, deployed=scan.claimed_paths, external=config.external_notebooks)
    return WorkspaceContent(jobs=jobs, notebooks=scan.notebooks, notebook_paths=frozenset(scan.claimed_paths))
