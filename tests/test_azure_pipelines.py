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
PULL_REQUEST = "eq(variables['Build.Reason'], 'PullRequest')"
AZURE_REPOS = "eq(variables['Build.Repository.Provider'], 'TfsGit')"
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
    for line in script.replace("\\\n", " ").splitlines():  # a trailing backslash continues the line
        # `$#` is a variable, not the start of a comment; an Azure Pipelines macro `$(Build.Id)` is one word.
        line = re.sub(r"\$\(([A-Za-z_][\w.]*)\)", r"$\1", line.replace("$#", "$ARGC"))
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
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
    assert list(stages()) == ["validate", "preview", *RELEASE_STAGES]
    assert stages()["preview"]["dependsOn"] == "validate" and PULL_REQUEST in stages()["preview"]["condition"]
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


def step_running(job: dict[str, Any], text: str) -> dict[str, Any]:
    [step] = [step for step in steps_of(job) if text in (script_of(step) or "")]
    return step


def validate_jobs() -> dict[str, dict[str, Any]]:
    """The pull request's jobs: tests and offline plan (stage validate), previews (stage preview)."""
    return {job["job"]: job for name in ("validate", "preview") for job in jobs_of(stages()[name])}


def test_pull_requests_get_the_offline_plan_of_every_stage_after_the_tests():
    steps = steps_of(validate_jobs()["test"])
    scripts = [script_of(step) for step in steps if script_of(step)]
    assert scripts.index("make test") < next(i for i, s in enumerate(scripts) if "offline-plan-comment.sh" in s)
    plan = step_running(validate_jobs()["test"], "offline-plan-comment.sh")
    assert PULL_REQUEST in plan["condition"]
    assert plan["script"].endswith("$(RELEASE_STAGES)"), "the plan lists the stages in release order"


def test_the_offline_plan_is_posted_also_when_it_or_the_tests_failed():
    """A failed plan is news too, and a push whose tests fail must mark the last plan out of date."""
    job = validate_jobs()["test"]
    post = step_running(job, "post-comment.sh validation")
    assert post["condition"].startswith("and(succeededOrFailed(),"), post["condition"]
    assert '"$(Agent.JobStatus)"' in post["script"]
    steps = steps_of(job)
    assert steps.index(post) > steps.index(step_running(job, "offline-plan-comment.sh"))


def test_a_new_build_marks_the_comment_out_of_date_before_its_tests_run():
    job = validate_jobs()["test"]
    steps = steps_of(job)
    start = step_running(job, "post-comment.sh start")
    assert steps.index(start) < steps.index(step_running(job, "make test"))
    assert start["continueOnError"] in (True, "true"), "a comment that cannot be written never stops the tests"


def test_comment_steps_run_only_where_the_azure_repos_threads_api_exists_and_get_the_token():
    posting = [step for _, step in all_steps() if "post-comment.sh" in (script_of(step) or "")]
    assert len(posting) == 3
    for step in posting:
        assert AZURE_REPOS in step["condition"], step["displayName"]
        assert step["env"] == {"SYSTEM_ACCESSTOKEN": "$(System.AccessToken)"}
    others = [step for _, step in all_steps() if step not in posting]
    assert not any("System.AccessToken" in json.dumps(step) for step in others), "only the posting steps get it"


def test_pull_request_builds_use_only_the_read_only_preview_connection():
    parameters = {p["name"]: p for p in pipeline()["parameters"]}
    assert parameters["previewServiceConnection"]["default"] != parameters["serviceConnection"]["default"]
    for stage in pipeline()["stages"]:
        expected = "previewServiceConnection" if stage["stage"] in ("validate", "preview") else "serviceConnection"
        for job in jobs_of(stage):
            for step in steps_of(job):
                if str(step.get("task", "")).startswith("AzureCLI@"):
                    given = step["inputs"]["azureSubscription"]
                    wanted = "${{ parameters." + expected + " }}"
                    assert given in (wanted, parameters[expected]["default"]), f"{stage['stage']}: {given}"


def test_every_stage_is_previewed_in_release_order_and_posted_whatever_its_status():
    job = validate_jobs()["preview"]
    preview = step_running(job, "preview-stages.sh")
    assert preview["inputs"]["inlineScript"].endswith("$(RELEASE_STAGES)")
    assert preview["env"]["PREVIEW_REFRESH"] == "${{ parameters.previewRefresh }}"
    post = step_running(job, "post-comment.sh previews")
    assert post["condition"].startswith("and(succeededOrFailed(),") and post["script"].endswith("$(RELEASE_STAGES)")
    assert steps_of(job).index(post) > steps_of(job).index(preview)


def test_the_comment_lists_stages_in_release_order():
    [order] = [v["value"].split() for v in pipeline()["variables"] if v.get("name") == "RELEASE_STAGES"]
    assert order == list(RELEASE_STAGES) == [name for name in stages() if name not in ("validate", "preview")]


def test_previews_refresh_only_when_asked_because_the_preview_identity_cannot_read_everything():
    [refresh] = [p for p in pipeline()["parameters"] if p["name"] == "previewRefresh"]
    assert refresh["type"] == "boolean" and refresh["default"] in (False, "false")


def test_github_forks_get_no_preview_but_azure_repos_forks_are_built_like_any_pull_request():
    condition = stages()["preview"]["condition"]
    assert f"or({AZURE_REPOS}, ne(variables['System.PullRequest.IsFork'], 'True'))" in condition


def test_releases_of_one_environment_queue_in_order_behind_its_exclusive_lock():
    assert pipeline()["lockBehavior"] == "sequential"


# A job also spends minutes outside its steps (preparing the agent, the checkout's clean-up).
JOB_OVERHEAD_MINUTES = 10
MICROSOFT_HOSTED_MAX_MINUTES = 360
AZ_LOGIN_SECONDS = 60


@pytest.mark.parametrize("where", ["validate/test", "preview/preview", "dev/release", "test/release", "prod/release"])
def test_every_job_outlasts_the_sum_of_its_steps_timeouts(where):
    stage, name = where.split("/")
    [job] = [j for j in jobs_of(stages()[stage]) if (j.get("job") or j.get("deployment")) == name]
    steps = steps_of(job)
    untimed = [step.get("displayName") or step for step in steps if "timeoutInMinutes" not in step]
    assert not untimed, f"{where}: steps without timeoutInMinutes: {untimed}"
    total = sum(int(step["timeoutInMinutes"]) for step in steps)
    assert total + JOB_OVERHEAD_MINUTES <= int(job["timeoutInMinutes"]) <= MICROSOFT_HOSTED_MAX_MINUTES, where


def test_a_smoke_run_reports_its_own_timeout_before_its_step_is_killed():
    from ops.watch import GRACE_SECONDS

    smoke = [step for _, step in all_steps() if "ops smoke" in (script_of(step) or "")]
    assert len(smoke) == 6
    for step in smoke:
        seconds = int(re.search(r"--timeout (\d+)", script_of(step)).group(1))
        assert "--cancel-on-timeout" in script_of(step), "a run the release gave up on must not go on"
        assert int(step["timeoutInMinutes"]) * 60 >= seconds + GRACE_SECONDS + AZ_LOGIN_SECONDS


def test_the_secrets_provider_is_chosen_by_the_stack_files_alone():
    texts = [PIPELINE.read_text(), *(p.read_text() for p in TEMPLATES.iterdir()), (REPO / "README.md").read_text()]
    assert not any("PULUMI_SECRETS_PROVIDER" in text for text in texts)


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


def pins() -> dict[str, str]:
    from packaging.utils import canonicalize_name

    lines = (REPO / "constraints.txt").read_text().splitlines()
    return {canonicalize_name(name): version for name, version in
            (line.split("==") for line in lines if line.strip() and not line.startswith("#"))}


def test_constraints_pin_every_requirement_to_a_version_inside_its_range():
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    pinned = pins()
    for path in ("requirements.txt", "requirements-dev.txt"):
        for line in (REPO / path).read_text().splitlines():
            if not line.strip() or line.startswith(("#", "-r")):
                continue
            requirement = Requirement(line)
            name = canonicalize_name(requirement.name)
            assert name in pinned, f"{path}: {requirement.name} is not pinned in constraints.txt"
            assert requirement.specifier.contains(pinned[name]), f"{name}=={pinned[name]} is outside {line!r}"


def test_the_release_installs_the_sdk_versions_the_tests_ran_against():
    """Validation and a later release install from the same constraints, and these tests ran on them."""
    from importlib.metadata import PackageNotFoundError, version

    differing = {}
    for name, pinned in pins().items():
        try:
            installed = version(name)
        except PackageNotFoundError:
            continue  # a package of another platform
        if installed != pinned:
            differing[name] = (pinned, installed)
    assert not differing, f"constraints.txt (pinned, installed here): {differing}; run `make constraints`"
    makefile = (REPO / "Makefile").read_text()
    installs = [line for line in makefile.splitlines() if "pip install" in line and "requirements" in line]
    assert installs and all("-c constraints.txt" in line for line in installs if ".venv-constraints" not in line)
    venv_steps = [step for _, step in all_steps() if script_of(step) == "make venv"]
    assert len(venv_steps) == 5, "every job that runs the program builds its venv with make (constraints)"


def test_only_the_stages_that_talk_to_azure_use_the_variable_group():
    """Checks on the group (or on the preview connection) never hold back the tests and the offline plan."""
    assert "group" not in json.dumps(pipeline()["variables"])
    for name, stage in stages().items():
        groups = [v["group"] for v in stage.get("variables", []) if "group" in v]
        assert groups == ([] if name == "validate" else ["databricks-platform"]), name
