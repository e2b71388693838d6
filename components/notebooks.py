"""The notebooks of notebooks/, one databricks.Notebook each, in the stage's workspace."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_databricks as databricks

from core.notebooks import NotebookFile


@dataclass(frozen=True)
class NotebooksArgs:
    notebooks: Sequence[NotebookFile]
    """Checked notebook files from core.notebooks.load_notebooks."""
    provider: databricks.Provider
    """Provider of the stage's workspace."""


class Notebooks(pulumi.ComponentResource):
    resources: dict[str, databricks.Notebook]
    """The deployed notebooks by workspace path, for the jobs that run them to depend on."""
    paths: pulumi.Output[list[str]]
    """Workspace paths of the deployed notebooks."""

    def __init__(self, name: str, args: NotebooksArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("databricks-platform:databricks:Notebooks", name, None, opts)
        self.resources = {}
        for notebook in args.notebooks:
            # The provider reads `source` itself and marks its content with `md5`; passing the file's MD5
            # makes an edit an update that previews (and the offline plan) show, and nothing else changes.
            self.resources[notebook.workspace_path] = databricks.Notebook(
                f"{name}-{notebook.resource_name}",
                path=notebook.workspace_path,
                source=notebook.source,
                md5=notebook.md5,
                language=notebook.language,
                format=notebook.format,
                opts=pulumi.ResourceOptions(parent=self, provider=args.provider),
            )
        self.paths = pulumi.Output.from_input(sorted(self.resources))
        self.register_outputs({"paths": self.paths})
