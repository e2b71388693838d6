"""azure-pipelines.yml: valid for Azure Pipelines, stages in release order, and only commands this repo has."""

from __future__ import annotations

import functools
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.conftest import REPO

PIPELINE = REPO / "azure-pipelines.yml"
TEMPLATES = REPO / ".azure-pipelines"
SCHEMA = REPO / "tests" / "schemas" / "azure-pipelines" / "service-schema.json"
RELEASE_STAGES = ("dev", "test", "prod")
# What a pipeline script may run besides this repo's own commands: the shell and the agent's tools.
SHELL_WORDS = {"set", "for", "do", "done", "echo"}


def load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@functools.cache
def pipeline() -> dict[str, Any]:
    return load(PIPELINE)


def stages() -> dict[str, dict[str, Any]]:
    return {stage["stage"]: stage for stage in pipeline()["stages"]}


def substitute(value: Any, parameters: dict[str, Any]) -> Any:
    """A template's ${{ parameters.x }} filled in, as Azure Pipelines does when it expands the template."""
    if isinstance(value, str):
        return re.sub(r"\$\{\{\s*parameters\.(\w+)\s*\}\}", lambda m: str(parameters[m.group(1)]), value)
    if isinstance(value, list):
        return [substitute(item, parameters) for item in value]
    if isinstance(value, dict):
        return {key: substitute(item, parameters) for key, item in value.items()}
    return value


def expanded(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for step in steps:
        if "template" in step:
            template = load(REPO / step["template"])
            declared = {p["name"]: p.get("default") for p in template.get("parameters", [])}
            given = {**declared, **step.get("parameters", {})}
            missing = [name for name, value in given.items() if value is None]
            assert not missing, f"{step['template']}: parameters without a value: {missing}"
            out += expanded(substitute(template["steps"], given))
        else:
            out.append(step)
    return out


def jobs_of(stage: dict[str, Any]) -> list[dict[str, Any]]:
    return stage.get("jobs", [])


def steps_of(job: dict[str, Any]) -> list[dict[str, Any]]:
    steps = job.get("steps") or job.get("strategy", {}).get("runOnce", {}).get("deploy", {}).get("steps", [])
    return expanded(steps)


def all_steps() -> list[tuple[str, dict[str, Any]]]:
    return [(f"{stage['stage']}/{job.get('job') or job.get('deployment')}", step)
            for stage in pipeline()["stages"] for job in jobs_of(stage) for step in steps_of(job)]


def script_of(step: dict[str, Any]) -> str | None:
    if "script" in step or "bash" in step:
        return step.get("script") or step.get("bash")
    if str(step.get("task", "")).startswith("AzureCLI@"):
        inputs = step["inputs"]
        return inputs.get("inlineScript") or inputs.get("scriptPath")
    return None


_OPERATORS = {";", ";;", "&", "&&", "|", "||", "(", ")", "{", "}"}


def commands(script: str) -> list[list[str]]:
    """Each simple command of a script, as words: pipes, ;, && and || separate commands, quotes are kept."""
    found = []
    for line in script.splitlines():
        # `$#` is a variable, not the start of a comment.
        lexer = shlex.shlex(line.replace("$#", "$ARGC"), posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        words: list[str] = []
        for token in lexer:
            if token in _OPERATORS:
                found += [words] if words else []
                words = []
            else:
                words.append(token)
        found += [words] if words else []
    return found


@functools.cache
def help_text(module: str, subcommand: str | None) -> str:
    argv = [sys.executable, "-m", module, *([subcommand] if subcommand else []), "--help"]
    result = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, f"`{' '.join(argv[1:])}` does not exist in this repo: {result.stderr[-500:]}"
    return result.stdout


def check_repo_command(words: list[str], where: str) -> None:
    """A command of this repository: it exists, and so does every option it is given."""
    program = words[0]
    if program == "make":
        targets = re.findall(r"^([\w-]+):", (REPO / "Makefile").read_text(), flags=re.MULTILINE)
        for target in words[1:]:
            assert target in targets, f"{where}: `make {target}`: no such target in Makefile ({targets})"
    elif program == ".venv/bin/python":
        assert words[1] == "-m", f"{where}: run modules with -m: {words}"
        module = words[2]
        subcommand = words[3] if module == "ops" and len(words) > 3 else None
        usage = help_text(module, subcommand)
        for option in (word.split("=")[0] for word in words if word.startswith("--")):
            assert option in usage, f"{where}: `{module} {subcommand or ''}` has no option {option}"
    elif program.startswith(".azure-pipelines/"):
        script = REPO / program
        assert script.is_file() and os.access(script, os.X_OK), f"{where}: {program} is missing or not executable"
        syntax = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, check=False)
        assert syntax.returncode == 0, f"{program}: {syntax.stderr}"
        for inner in commands(script.read_text()):
            if inner[0] in ("make", ".venv/bin/python") or inner[0].startswith(".azure-pipelines/"):
                check_repo_command(inner, program)
    else:
        raise AssertionError(f"{where}: {program} is not a command of this repository")


def test_pipeline_and_its_template_validate_against_the_azure_pipelines_schema():
    schema = json.loads(SCHEMA.read_text())
    validator = jsonschema.Draft7Validator(schema)
    for path in (PIPELINE, *sorted(TEMPLATES.glob("*.yml"))):
        errors = list(validator.iter_errors(load(path)))
        assert not errors, f"{path.name}: {[e.message[:200] for e in errors]}"


def test_schema_catches_a_broken_pipeline():
    """The schema check is worth something: a step with a typo in its kind is refused."""
    broken = load(PIPELINE)
    broken["stages"][0]["jobs"][0]["steps"].append({"scrpit": "make test"})
    assert list(jsonschema.Draft7Validator(json.loads(SCHEMA.read_text())).iter_errors(broken))


def test_stages_run_validation_then_dev_test_prod_in_order():
    assert list(stages()) == ["validate", *RELEASE_STAGES]
    assert stages()["dev"]["dependsOn"] == "validate"
    assert stages()["test"]["dependsOn"] == "dev"
    assert stages()["prod"]["dependsOn"] == "test"


@pytest.mark.parametrize("stage", RELEASE_STAGES)
def test_each_release_is_a_deployment_on_its_own_environment_for_its_own_stack(stage):
    [job] = jobs_of(stages()[stage])
    assert job["deployment"] and job["environment"] == f"databricks-platform-{stage}"
    [step] = job["strategy"]["runOnce"]["deploy"]["steps"]
    assert step["parameters"]["stage"] == stage
    assert (REPO / f"Pulumi.{stage}.yaml").is_file()
    scripts = "\n".join(script_of(s) or "" for s in steps_of(job))
    up = scripts.index(f"pulumi-stage.sh up {stage} ")
    smoke = scripts.index(f'--outputs "$(Pipeline.Workspace)/outputs-{stage}.json"')
    assert up < smoke, f"{stage}: the smoke run must come after pulumi up, on its outputs"


def test_every_stack_file_is_released():
    stacks = {path.name[len("Pulumi."):-len(".yaml")] for path in REPO.glob("Pulumi.*.yaml")}
    assert stacks == set(RELEASE_STAGES)


def test_release_runs_only_for_main_and_never_for_a_pull_request():
    condition = stages()["dev"]["condition"]
    assert "eq(variables['Build.SourceBranch'], 'refs/heads/main')" in condition
    assert "ne(variables['Build.Reason'], 'PullRequest')" in condition
    assert pipeline()["trigger"]["branches"]["include"] == ["main"]


def test_pull_requests_get_the_offline_plan_of_every_stage_as_one_comment_and_forks_do_not_post():
    [test_job, preview_job] = jobs_of(stages()["validate"])
    steps = steps_of(test_job)
    scripts = [script_of(step) for step in steps if script_of(step)]
    assert scripts[0] == "make test", "the tests run before anything is planned or posted"
    post = next(step for step in steps if "pr-comment --section offline-plan" in (script_of(step) or ""))
    assert "'PullRequest'" in post["condition"] and "System.PullRequest.IsFork" in post["condition"]
    assert post["env"] == {"SYSTEM_ACCESSTOKEN": "$(System.AccessToken)"}
    assert preview_job["dependsOn"] == "test" and "System.PullRequest.IsFork" in preview_job["condition"]
    preview = "\n".join(script_of(step) or "" for step in steps_of(preview_job))
    assert "for stage in dev test prod" in preview and "pr-comment --section \"preview-$stage\"" in preview


def test_every_script_step_runs_only_commands_this_repo_has_with_options_they_accept():
    seen = 0
    for where, step in all_steps():
        script = script_of(step)
        if script is None:
            continue
        for words in commands(script):
            if words[0] in SHELL_WORDS:
                continue
            check_repo_command(words, where)
            seen += 1
    assert seen >= 10


def test_azure_steps_authenticate_by_workload_identity_and_no_secret_is_in_the_pipeline():
    azure = [step for _, step in all_steps() if str(step.get("task", "")).startswith("AzureCLI@2")]
    assert azure and all(step["inputs"]["azureSubscription"] for step in azure)
    for step in azure:
        if "pulumi-stage.sh" in step["inputs"]["inlineScript"]:
            assert step["inputs"]["addSpnToEnvironment"] is True, "pulumi-stage.sh reads the federated token"
    text = PIPELINE.read_text() + "".join(p.read_text() for p in TEMPLATES.iterdir())
    for secret in ("servicePrincipalKey", "CLIENT_SECRET", "ARM_ACCESS_KEY", "AZURE_STORAGE_KEY"):
        assert secret not in text, f"the pipeline must not handle {secret}"


def test_the_pulumi_cli_is_pinned_no_older_than_the_sdk():
    version = next(v["value"] for v in pipeline()["variables"] if v.get("name") == "PULUMI_VERSION")
    assert re.fullmatch(r"\d+\.\d+\.\d+", version)
    floor = re.search(r"^pulumi>=(\d+)\.(\d+)", (REPO / "requirements.txt").read_text(), re.MULTILINE)
    assert tuple(map(int, version.split(".")[:2])) >= tuple(map(int, floor.groups()))


def test_smoke_runs_name_a_job_and_a_pipeline_the_program_declares():
    names = set()
    for path in (REPO / "jobs").rglob("*"):
        if path.suffix == ".json":
            names.add(json.loads(path.read_text()).get("name"))
        elif path.suffix in (".yaml", ".yml"):
            names.add(load(path).get("name"))
    for stage in RELEASE_STAGES:
        [job] = jobs_of(stages()[stage])
        parameters = job["strategy"]["runOnce"]["deploy"]["steps"][0]["parameters"]
        assert parameters["smokeJob"] in names, f"{stage}: smoke job {parameters['smokeJob']!r} is not in jobs/"
        pipeline_name = parameters.get("smokePipeline", "")
        if stage == "dev":
            assert pipeline_name == "", "dev's factory is git-linked: the program publishes no pipeline to run"
        else:
            assert (REPO / "factory" / "pipeline" / f"{pipeline_name}.json").is_file(), f"{stage}: {pipeline_name!r}"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [([], "usage"), (["apply", "dev", "x"], "usage"), (["up", "../prod", "x"], "2-7 lowercase"),
     (["up", "qa", "x"], "Pulumi.qa.yaml does not exist")],
)
def test_the_stage_script_refuses_bad_arguments_before_touching_azure(arguments, message):
    result = subprocess.run([str(TEMPLATES / "pulumi-stage.sh"), *arguments], capture_output=True, text=True,
                            timeout=30, check=False, env={"PATH": os.environ["PATH"]})
    assert result.returncode == 2 and message in result.stderr


def test_the_stage_script_needs_the_federated_token_of_the_azure_cli_step():
    result = subprocess.run([str(TEMPLATES / "pulumi-stage.sh"), "up", "dev", "x"], capture_output=True, text=True,
                            timeout=30, check=False,
                            env={"PATH": os.environ["PATH"], "PULUMI_BACKEND_URL": "azblob://state"})
    assert result.returncode != 0 and "addSpnToEnvironment" in result.stderr


@pytest.mark.parametrize("stage", RELEASE_STAGES)
def test_every_released_stack_signs_in_the_way_the_release_steps_do(stage):
    """The AzureCLI@2 steps log az in; a stack whose program expected a client secret would fail every release."""
    config = load(REPO / f"Pulumi.{stage}.yaml")["config"]
    assert config.get("databricks-platform:deployerCredential") == "azure_cli"


def test_preview_and_up_run_the_guard_rails_with_every_value_known():
    """Offline, values only the cloud knows are <computed> and cannot be judged: the pack judges them here."""
    script = (TEMPLATES / "pulumi-stage.sh").read_text()
    for command in ("pulumi preview", "pulumi up"):
        [line] = [line for line in script.splitlines() if line.strip().startswith(command)]
        assert "--policy-pack policy" in line, line
