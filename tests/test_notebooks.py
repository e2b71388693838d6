"""Notebooks: deployed one per file under the configured root, read safely, and referenced only if they exist."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest

from core.config import PROJECT, parse_stage_config
from core.errors import UserError
from core.notebooks import (
    MAX_NOTEBOOK_BYTES,
    check_notebook_references,
    job_notebook_references,
    load_notebooks,
    scan_notebooks,
)
from tests.conftest import REPO, STAGES, copy_program, resources_of, run_plan

NOTEBOOK = "databricks:index/notebook:Notebook"
JOB = "databricks:index/job:Job"
JUPYTER = json.dumps({"cells": [{"cell_type": "code", "source": ["print(1)"], "metadata": {}, "outputs": [],
                                 "execution_count": None}], "metadata": {}, "nbformat": 4, "nbformat_minor": 5})


def _write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def test_each_file_becomes_one_notebook_under_the_root_with_the_language_of_its_extension(tmp_path):
    base = tmp_path / "notebooks"
    _write(base / "etl" / "load.py", "# Databricks notebook source\nprint(1)\n")
    _write(base / "etl" / "check.sql", "-- Databricks notebook source\nSELECT 1\n")
    _write(base / "ml" / "Train.scala", "// Databricks notebook source\nprintln(1)\n")
    _write(base / "ml" / "plot.R", "# Databricks notebook source\nplot(1)\n")
    _write(base / "explore.ipynb", JUPYTER)
    _write(base / "README.md", "not deployed")
    _write(base / ".hidden.py", "not deployed")
    (base / "etl" / "same_load.py").symlink_to(base / "etl" / "load.py")  # a link inside notebooks/ is fine

    notebooks = load_notebooks(base, root="/Shared/team", relative_to=tmp_path)

    found = {n.workspace_path: (n.language, n.format, n.source, n.resource_name) for n in notebooks}
    assert found == {
        "/Shared/team/etl/load": ("PYTHON", "SOURCE", "notebooks/etl/load.py", "etl-load"),
        "/Shared/team/etl/same_load": ("PYTHON", "SOURCE", "notebooks/etl/same_load.py", "etl-same-load"),
        "/Shared/team/etl/check": ("SQL", "SOURCE", "notebooks/etl/check.sql", "etl-check"),
        "/Shared/team/ml/Train": ("SCALA", "SOURCE", "notebooks/ml/Train.scala", "ml-train"),
        "/Shared/team/ml/plot": ("R", "SOURCE", "notebooks/ml/plot.R", "ml-plot"),
        # A Jupyter notebook carries its language in its own metadata.
        "/Shared/team/explore": (None, "JUPYTER", "notebooks/explore.ipynb", "explore"),
    }
    load = next(n for n in notebooks if n.workspace_path == "/Shared/team/etl/load")
    assert load.md5 == hashlib.md5((base / "etl" / "load.py").read_bytes()).hexdigest()


def test_every_unusable_notebook_file_is_reported_in_one_error_naming_it(tmp_path):
    base = tmp_path / "notebooks"
    outside = _write(tmp_path / "elsewhere" / "secret.py", "print('outside')\n")
    (base / "a").mkdir(parents=True)
    (base / "a" / "escape.py").symlink_to(outside)
    (base / "a" / "dangling.py").symlink_to(base / "a" / "missing.py")
    (base / "linked_dir").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    os.mkfifo(base / "a" / "pipe.py")  # would block a naive read forever
    _write(base / "latin1.py", "caf\xe9 = 1\n".encode("latin-1"))
    _write(base / "empty.sql", "  \n")
    _write(base / "broken.ipynb", '{"cells": [')
    _write(base / "not_a_notebook.ipynb", "[1, 2]")
    _write(base / "notes.txt", "scratch")
    _write(base / "twin.py", "print(1)\n")
    _write(base / "twin.sql", "SELECT 1\n")
    with (base / "huge.py").open("wb") as huge:
        huge.truncate(MAX_NOTEBOOK_BYTES + 1)

    with pytest.raises(UserError) as caught:
        load_notebooks(base, root="/Shared", relative_to=tmp_path)

    problems = caught.value.problems
    expected = {
        "notebooks/a/escape.py": "outside notebooks/",
        "notebooks/a/dangling.py": "symbolic link to nothing",
        "notebooks/linked_dir": "symbolic link to a directory",
        "notebooks/a/pipe.py": "not a regular file",
        "notebooks/latin1.py": "not UTF-8",
        "notebooks/empty.sql": "is empty",
        "notebooks/broken.ipynb:1:": "invalid JSON",
        "notebooks/not_a_notebook.ipynb": "not a Jupyter notebook",
        "notebooks/notes.txt": "not a notebook",
        "notebooks/twin.sql": "deploys to /Shared/twin, as does notebooks/twin.py",
        "notebooks/huge.py": f"at most {MAX_NOTEBOOK_BYTES} bytes",
    }
    for file, what in expected.items():
        assert any(p.startswith(file) and what in p for p in problems), f"{file}: nothing says {what!r}: {problems}"
    assert len(problems) == len(expected), problems
    assert not any(str(outside.parent) in p for p in problems), "a link's target is not echoed"


def test_a_notebook_path_that_is_neither_deployed_nor_external_is_named_with_its_source():
    deployed = ["/Shared/ingest/daily_erp_extract", "/Shared/jit/01_extract"]
    references = [
        ("jobs/a.json", "/Shared/ingest/daily_erp_extrct"),  # a typo
        ("jobs/b.yaml", "/Workspace/Shared/ingest/daily_erp_extract"),  # the same notebook, WSFS spelling
        ("jobs/c.yaml", "/Repos/team/project/etl/load"),  # under an external folder
        ("jobs/d.yaml", "/Shared/vendor/scorer"),  # an external notebook
        ("factory/pipeline/jit.json: Extract", "@pipeline().parameters.notebook"),  # known only at run time
        ("factory/pipeline/jit.json: Transform", "jit/02_transform"),
    ]
    external = ["/Repos/team/project", "/Shared/vendor/scorer"]
    problems = check_notebook_references(references, deployed, external)
    assert len(problems) == 2, problems
    typo, relative = problems
    assert typo.startswith("jobs/a.json: notebook '/Shared/ingest/daily_erp_extrct' is neither deployed")
    assert "did you mean '/Shared/ingest/daily_erp_extract'?" in typo and "externalNotebooks" in typo
    assert relative.startswith("factory/pipeline/jit.json: Transform: notebook path 'jit/02_transform' must be")


def test_only_workspace_notebooks_count_as_references_not_git_ones():
    settings = {
        "tasks": [
            {"task_key": "a", "notebook_task": {"notebook_path": "/Shared/a"}},
            {"task_key": "b", "notebook_task": {"notebook_path": "etl/b", "source": "GIT"}},
            {"task_key": "c", "for_each_task": {"inputs": "[1]", "task": {
                "task_key": "c1", "notebook_task": {"notebook_path": "/Shared/c"}}}},
        ]
    }
    assert job_notebook_references("jobs/x.yaml", settings) == [("jobs/x.yaml", "/Shared/a"),
                                                                 ("jobs/x.yaml", "/Shared/c")]
    # With git_source, a task without a source takes its notebook from git; WORKSPACE still means the workspace.
    from_git = {"git_source": {"url": "https://example.com/r.git", "provider": "gitHub", "branch": "main"},
                "tasks": [{"task_key": "a", "notebook_task": {"notebook_path": "etl/a"}},
                          {"task_key": "b", "notebook_task": {"notebook_path": "/Shared/b", "source": "WORKSPACE"}}]}
    assert job_notebook_references("jobs/y.yaml", from_git) == [("jobs/y.yaml", "/Shared/b")]


@pytest.mark.parametrize("stage", STAGES)
def test_shipped_notebooks_are_deployed_and_every_shipped_job_runs_one_of_them(deployed_plans, stage):
    plan = deployed_plans[stage]
    notebooks = {r["inputs"]["path"]: r["inputs"] for r in resources_of(plan, NOTEBOOK)}
    files = sorted(p for p in (REPO / "notebooks").rglob("*") if p.is_file() and p.suffix != ".md")
    assert len(notebooks) == len(files), f"Pulumi.{stage}.yaml: one Notebook per file in notebooks/"
    for file in files:
        relative = file.relative_to(REPO / "notebooks").with_suffix("").as_posix()
        notebook = notebooks[f"/Shared/{relative}"]
        assert notebook["source"] == file.relative_to(REPO).as_posix()
        assert notebook["language"] == {".py": "PYTHON", ".sql": "SQL"}[file.suffix]
        assert notebook["md5"] == hashlib.md5(file.read_bytes()).hexdigest()
    # The Data Factory just-in-time pipeline's four chained notebooks ship too.
    assert {f"/Shared/jit/0{n}_{step}" for n, step in enumerate(["extract", "transform", "enrich", "publish"], 1)} \
        <= set(notebooks)
    for job in resources_of(plan, JOB):
        for task in job["inputs"]["tasks"]:
            assert task["notebookTask"]["notebookPath"] in notebooks, f"{job['name']} runs a notebook not deployed"


def test_shipped_notebooks_declare_a_widget_for_every_parameter_their_jobs_pass(deployed_plans):
    notebooks = {r["inputs"]["path"]: (REPO / r["inputs"]["source"]).read_text()
                 for r in resources_of(deployed_plans["test"], NOTEBOOK)}
    for job in resources_of(deployed_plans["test"], JOB):
        job_parameters = {p["name"] for p in job["inputs"].get("parameters", [])}
        for task in job["inputs"]["tasks"]:
            text = notebooks[task["notebookTask"]["notebookPath"]]
            for name in job_parameters | set(task["notebookTask"].get("baseParameters", {})):
                assert f'dbutils.widgets.text("{name}"' in text or f"CREATE WIDGET TEXT {name} " in text, \
                    f"{task['notebookTask']['notebookPath']} has no widget {name!r} that job {job['name']} sets"
    for path in (p for p in notebooks if p.startswith("/Shared/jit/")):
        assert 'dbutils.widgets.text("run_date"' in notebooks[path], f"{path} takes no run_date"


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args], cwd=repo,
                   check=True, capture_output=True)


def test_an_edited_notebook_is_an_update_and_a_removed_one_a_deletion_against_the_base(tmp_path):
    repo = copy_program(tmp_path / "repo", stacks=("test",))
    _write(repo / "notebooks" / "scratch" / "explore.py", "# Databricks notebook source\nprint(1)\n")
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "base")
    edited = repo / "notebooks" / "sales" / "02_build_sales_model.py"
    before = hashlib.md5(edited.read_bytes()).hexdigest()
    edited.write_text(edited.read_text() + "\nprint('one more cell')\n")
    (repo / "notebooks" / "scratch" / "explore.py").unlink()

    result = run_plan("--stack", "test", "--against", "main", program_dir=repo)

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].endswith("0 to add, 1 to change, 1 to remove"), result.stdout
    assert f"- {NOTEBOOK}  notebooks-scratch-explore" in lines
    assert f"~ {NOTEBOOK}  notebooks-sales-02-build-sales-model" in lines
    after = hashlib.md5(edited.read_bytes()).hexdigest()
    assert f'      md5: "{before}" => "{after}"' in lines


def test_jobs_running_missing_notebooks_and_broken_notebook_files_fail_the_plan_together(tmp_path):
    program = copy_program(tmp_path / "program", stacks=("test",))
    stack_file = program / "Pulumi.test.yaml"
    stack_file.write_text(stack_file.read_text() + "  databricks-platform:externalNotebooks: [/Repos/analytics]\n")
    definition = json.loads((program / "jobs" / "daily_ingest.json").read_text())
    for name, path in {"typo": "/Shared/ingest/daily_erp_extrakt", "repo": "/Repos/analytics/score"}.items():
        _write(program / "jobs" / f"{name}.json", json.dumps({**definition, "name": name, "notebookpath": path}))
    _write(program / "notebooks" / "bad.py", b"\xff\xfe not utf-8")

    result = run_plan("--stack", "test", "--json", program_dir=program)

    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    problems = result.stderr.strip().splitlines()
    assert len(problems) == 2, problems
    assert any(p.startswith("jobs/typo.json: notebook '/Shared/ingest/daily_erp_extrakt' is neither deployed")
               for p in problems)
    assert any(p.startswith("notebooks/bad.py: is not UTF-8") for p in problems)


def test_each_job_waits_for_the_notebooks_it_runs(declared_dependencies):
    dependencies = declared_dependencies
    assert "notebooks-ingest-daily-erp-extract" in dependencies["jobs-daily-ingest"]
    sales = [name for name in dependencies["jobs-sales-pipeline"] if name.startswith("notebooks-")]
    assert sales == ["notebooks-sales-01-ingest-pos-orders", "notebooks-sales-02-build-sales-model",
                     "notebooks-sales-03-publish-reporting-tables"]


def test_notebook_root_and_external_notebooks_must_be_absolute_workspace_paths():
    with pytest.raises(UserError) as caught:
        parse_stage_config({f"{PROJECT}:notebooksRoot": "Shared/",
                            f"{PROJECT}:externalNotebooks": '["/Repos/team", "/Repos/../Users"]'}, stack="test")
    root, external = caught.value.problems
    assert root.startswith(f"Pulumi.test.yaml: {PROJECT}:notebooksRoot: must be an absolute workspace path")
    assert external.startswith(f"Pulumi.test.yaml: {PROJECT}:externalNotebooks[1]: must be an absolute")


def test_data_factory_notebook_activities_must_run_a_deployed_or_external_notebook_in_every_stage(tmp_path):
    """A pipeline's notebook activity pointing nowhere fails the plan, naming the file, activity and path;
    the git-linked dev stage is checked too (its factory runs the same pipelines on dev's workspace)."""
    program = copy_program(tmp_path / "program", stacks=("dev", "test"))
    pipeline = json.loads((program / "factory" / "pipeline" / "pl_jit_notebook_chain.json").read_text())
    activities = pipeline["properties"]["activities"]
    activities[1]["typeProperties"]["notebookPath"] = "/Shared/jit/02_transfrom"
    activities[2]["typeProperties"]["notebookPath"] = "@pipeline().parameters.enrich_notebook"
    activities[3]["typeProperties"]["notebookPath"] = "/Repos/analytics/publish"
    _write(program / "factory" / "pipeline" / "pl_jit_notebook_chain.json", json.dumps(pipeline, indent="\t"))
    stack_file = program / "Pulumi.test.yaml"
    stack_file.write_text(stack_file.read_text() + "  databricks-platform:externalNotebooks: [/Repos/analytics]\n")

    for stack in ("dev", "test"):
        result = run_plan("--stack", stack, "--json", program_dir=program)
        assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
        problems = result.stderr.strip().splitlines()
        transform = [p for p in problems if "02_transfrom" in p]
        assert transform and transform[0].startswith(
            f"factory/pipeline/pl_jit_notebook_chain.json: activities[1] ({activities[1]['name']}): notebook "
            "'/Shared/jit/02_transfrom' is neither deployed"), problems
        assert "did you mean '/Shared/jit/02_transform'" in transform[0]
        assert not any("enrich_notebook" in p for p in problems), "an expression is resolved only at run time"
        external = [p for p in problems if "/Repos/analytics/publish" in p]
        assert bool(external) == (stack == "dev"), f"{stack}: externalNotebooks is per stage: {problems}"


HOSTILE_JUPYTER = {
    "deep.ipynb": ("[" * 100_000, "nested deeper than 64 levels"),
    "huge_version.ipynb": ('{"cells": [], "nbformat": 1' + "0" * 5000 + "}", "a number has more digits"),
    "nan.ipynb": ('{"cells": [], "nbformat": NaN}', "nbformat: NaN is not a JSON number"),
    "twice.ipynb": ('{"cells": [], "cells": [], "nbformat": 4}', "duplicate key 'cells'"),
    "old.ipynb": ('{"cells": [], "nbformat": 3}', "nbformat 3 is not a Jupyter notebook format Databricks imports"),
    "text_version.ipynb": ('{"cells": [], "nbformat": "4"}', "nbformat '4' is not a Jupyter notebook format"),
}


def test_a_hostile_jupyter_file_is_one_problem_naming_it_and_the_other_files_still_load(tmp_path):
    base = tmp_path / "notebooks"
    for name, (text, _) in HOSTILE_JUPYTER.items():
        _write(base / name, text)
    _write(base / "good.ipynb", JUPYTER)

    with pytest.raises(UserError) as caught:
        load_notebooks(base, root="/Shared", relative_to=tmp_path)

    problems = caught.value.problems
    for name, (_, what) in HOSTILE_JUPYTER.items():
        mine = [p for p in problems if p.startswith(f"notebooks/{name}")]
        assert len(mine) == 1 and what in mine[0], f"{name}: {mine or problems}"
    assert len(problems) == len(HOSTILE_JUPYTER), problems
    assert all("\n" not in problem and len(problem) < 400 for problem in problems)


@pytest.mark.parametrize(("name", "what"), [
    ("nl\nname.py", "holds a control or invisible character"),
    ("tab\tname.py", "holds a control or invisible character"),
    ("bell\x07.sql", "holds a control or invisible character"),
    (" leading.py", "begins or ends with white space"),
    ("trailing .py", "begins or ends with white space"),
    ("team /load.py", "begins or ends with white space"),
    ("team\r/load.py", "holds a control or invisible character"),
])
def test_a_notebook_whose_workspace_path_would_hold_a_control_character_or_outer_space_is_refused(tmp_path, name,
                                                                                                   what):
    base = tmp_path / "notebooks"
    _write(base / name, "# Databricks notebook source\nprint(1)\n")
    _write(base / "fine name.py", "# Databricks notebook source\nprint(1)\n")  # a space inside is allowed

    scan = scan_notebooks(base, root="/Shared", relative_to=tmp_path)

    (problem,) = scan.problems
    assert problem.startswith(repr(f"notebooks/{name}") if not f"notebooks/{name}".isprintable()
                              else f"notebooks/{name}"), problem
    assert what in problem and "rename it" in problem and "\n" not in problem
    assert [notebook.workspace_path for notebook in scan.notebooks] == ["/Shared/fine name"]


def test_a_referenced_notebook_path_with_a_control_character_is_refused_even_under_an_external_folder():
    problems = check_notebook_references([("jobs/a.json", "/Repos/team/load\n"), ("jobs/b.json", "/Repos/team /x")],
                                         deployed=[], external=["/Repos"])
    assert problems == [
        "jobs/a.json: notebook path '/Repos/team/load\\n': 'load\\n' holds a control or invisible character; each "
        "part of a workspace path is printable text without white space at either end (spaces inside are fine)",
        "jobs/b.json: notebook path '/Repos/team /x': 'team ' begins or ends with white space; each part of a "
        "workspace path is printable text without white space at either end (spaces inside are fine)"]
