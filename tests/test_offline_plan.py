"""The offline plan: its JSON contract, determinism, secret masking, several stacks and the --against diff."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from offline_plan.standins import STANDIN_PAT
from tests.conftest import REPO, STAGES, copy_program, run_plan

MARKER = "<!-- databricks-platform:offline-plan -->"


@pytest.fixture(scope="module")
def single_plan_outputs() -> dict[str, str]:
    """Each shipped stage planned alone, in a fresh interpreter: the bytes several-stack runs must match."""
    outputs = {}
    for stack in STAGES:
        result = run_plan("--stack", stack, "--json")
        assert result.returncode == 0, result.stderr
        outputs[stack] = result.stdout
    return outputs


@pytest.fixture(scope="module")
def dev_plan_output(single_plan_outputs) -> str:
    return single_plan_outputs["dev"]


def _as_single_output(plan: dict) -> str:
    # The single-stack --json bytes (offline_plan.render.to_json), rebuilt from a section of a multi-stack document.
    return json.dumps(plan, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def test_json_lists_every_resource_with_type_name_parent_and_wire_inputs(dev_plan_output):
    plan = json.loads(dev_plan_output)
    assert plan["project"] == "databricks-platform" and plan["stack"] == "dev"
    assert all(set(r) == {"type", "name", "parent", "inputs"} for r in plan["resources"])
    vault = next(r for r in plan["resources"] if r["type"] == "azure-native:keyvault:Vault")
    # Inputs as the engine receives them: camelCase wire names, not Python's snake_case.
    assert vault["inputs"]["vaultName"] == "kv-dbp-dev"
    assert vault["inputs"]["properties"]["enableRbacAuthorization"] is True
    assert vault["parent"].endswith("::databricks-platform:security:KeyVault::vault")


def test_values_known_only_after_deployment_print_as_computed(dev_plan_output):
    plan = json.loads(dev_plan_output)
    workspace = next(r for r in plan["resources"] if r["type"] == "azure-native:databricks:Workspace")
    assert workspace["inputs"]["resourceGroupName"] == "<computed>"
    assert plan["outputs"]["workspace_url"] == "<computed>"


@pytest.fixture(scope="module")
def test_text_output() -> str:
    result = run_plan("--stack", "test")
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_text_plan_nests_resources_under_their_components(test_text_output):
    lines = test_text_output.splitlines()
    component = lines.index("+ databricks-platform:security:KeyVault  vault")
    assert lines[component + 1].startswith("    + azure-native:")
    assert "not what exists in Azure" in test_text_output, "the plan must say what it cannot show"


def test_secure_config_values_are_masked(tmp_path):
    # A minimal program that passes a `secure:` stack value into a resource input.
    (tmp_path / "Pulumi.yaml").write_text("name: masking\nruntime: python\n")
    (tmp_path / "Pulumi.dev.yaml").write_text(
        "config:\n  masking:password:\n    secure: v1:c2VjcmV0LWNpcGhlcnRleHQ=\n"
    )
    (tmp_path / "__main__.py").write_text(
        "import pulumi\n"
        "from pulumi_azure_native import resources\n"
        "password = pulumi.Config().require_secret('password')\n"
        "resources.ResourceGroup('g', resource_group_name='rg', location='westeurope',"
        " tags={'pw': password})\n"
        "pulumi.export('pw', password)\n"
    )
    result = run_plan("--stack", "dev", "--json", program_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert plan["resources"][0]["inputs"]["tags"] == {"pw": "[secret]"}
    assert plan["outputs"] == {"pw": "[secret]"}
    assert "c2VjcmV0" not in result.stdout


def test_unknown_stack_names_the_missing_file_and_the_stacks_there():
    result = run_plan("--stack", "qa")
    assert result.returncode == 1
    assert result.stderr.strip() == "Pulumi.qa.yaml: no such stack file; stacks here: dev, prod, test"


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args], cwd=repo,
                   check=True, capture_output=True)


@pytest.fixture
def repo_with_history(tmp_path) -> Path:
    """A git repository holding a copy of the program, committed, for changes to plan against."""
    repo = copy_program(tmp_path / "repo")
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "base")
    return repo


def test_against_reports_changed_inputs_added_and_removed_resources(repo_with_history):
    repo = repo_with_history
    stack_file = repo / "Pulumi.test.yaml"
    stack_file.write_text(stack_file.read_text() + "  databricks-platform:keyVaultSoftDeleteRetentionDays: 30\n")
    main = repo / "__main__.py"
    grant = 'factory_reads_vault = vault.grant_secrets_user("factory", factory.principal_id)\n'
    assert grant in main.read_text()
    main.write_text(main.read_text().replace(grant, "factory_reads_vault = factory\n"))
    # A change in one of the program's own modules: the ref's plan must import the ref's module, not this one.
    naming = repo / "core" / "naming.py"
    naming.write_text(naming.read_text() + (
        "\n_stage_names = stage_names\n\n\ndef stage_names(**kwargs):\n"
        "    import dataclasses\n\n"
        "    return dataclasses.replace(_stage_names(**kwargs), managed_resource_group='rg-changed-in-a-module')\n"
    ))
    result = run_plan("--stack", "test", "--against", "main", program_dir=repo)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith("Offline plan diff of stack test against main: 0 to add, 2 to change, 1 to remove")
    assert "- azure-native:authorization:RoleAssignment  vault-factory-secrets-user" in out
    assert "~ azure-native:keyvault:Vault  vault-vault" in out
    assert "properties.softDeleteRetentionInDays: 90 => 30" in out
    assert "~ azure-native:databricks:Workspace  databricks-workspace" in out
    assert '/resourceGroups/rg-dbp-test-dbw-managed" => "' in out and '/resourceGroups/rg-changed-in-a-module"' in out


def test_against_markdown_is_a_pull_request_comment(repo_with_history):
    repo = repo_with_history
    stack_file = repo / "Pulumi.test.yaml"
    stack_file.write_text(stack_file.read_text() + "  databricks-platform:tags:\n    costCenter: '42'\n")
    result = run_plan("--stack", "test", "--against", "main", "--format", "markdown", program_dir=repo)
    assert result.returncode == 0, result.stderr
    md = result.stdout
    assert md.startswith("### Offline plan: stack `test` against `main`")
    assert "| ✏️ | `azure-native:keyvault:Vault` | `vault-vault` | `tags.costCenter` |" in md
    assert '| `tags.costCenter` | "(absent)" | "42" |' in md


# Several stacks in one run.


@pytest.fixture(scope="module")
def three_stacks_json() -> dict:
    result = run_plan("--stack", ",".join(STAGES), "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_stacks_planned_together_are_byte_identical_to_each_planned_alone_in_another_run(
    three_stacks_json, single_plan_outputs
):
    assert list(three_stacks_json) == ["problems", "stacks"] and three_stacks_json["problems"] == {}
    assert sorted(three_stacks_json["stacks"]) == sorted(STAGES)
    for stack in STAGES:
        together = _as_single_output(three_stacks_json["stacks"][stack])
        assert together == single_plan_outputs[stack], f"stack {stack}: planned with others differs from alone"


def test_stack_all_prints_a_section_per_stack_file_sorted_each_equal_to_its_own_plan(test_text_output):
    result = run_plan("--stack", "all")
    assert result.returncode == 0, result.stderr
    headers = re.findall(r"^Offline plan of databricks-platform stack (\w+): ", result.stdout, flags=re.MULTILINE)
    assert headers == sorted(STAGES)
    test_section = result.stdout.split("\nOffline plan of databricks-platform stack test: ", 1)[1]
    assert "Offline plan of databricks-platform stack test: " + test_section == test_text_output


def test_fill_computed_works_for_several_stacks_and_keeps_secrets_masked(deployed_plans):
    result = run_plan("--stack", ",".join(STAGES), "--json", "--fill-computed")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["stacks"] == deployed_plans
    assert STANDIN_PAT not in result.stdout + result.stderr


@pytest.fixture(scope="module")
def program_failing_for_two_stacks(tmp_path_factory) -> Path:
    """The program, with a stack `qa` whose config is wrong and a `test` whose program raises half-way;
    it prints, as programs being debugged do."""
    program = copy_program(tmp_path_factory.mktemp("failing") / "program")
    (program / "Pulumi.qa.yaml").write_text("config:\n  databricks-platform:keyVaultSoftDeleteRetentionDays: 900\n")
    main = program / "__main__.py"
    # After the vault is declared, with an apply still pending: nothing of it may reach the next stack.
    main.write_text("print('printed by the program')\n" + main.read_text().replace(
        "\n# 3. ",
        "\nif pulumi.get_stack() == 'test':\n    vault.vault_uri.apply(lambda uri: uri)\n"
        "    raise RuntimeError('half-way through test')\n# 3. ", 1))
    return program


def test_a_failing_stack_is_reported_and_the_stacks_after_it_are_planned_as_if_alone(
    program_failing_for_two_stacks, single_plan_outputs
):
    result = run_plan("--stack", "qa,dev,test,prod", "--json", program_dir=program_failing_for_two_stacks)
    assert result.returncode == 1
    document = json.loads(result.stdout)
    assert sorted(document["stacks"]) == ["dev", "prod"]
    for stack in ("dev", "prod"):  # the copied program declares the same for them as the shipped one
        assert _as_single_output(document["stacks"][stack]) == single_plan_outputs[stack], stack
    [qa_problem] = document["problems"]["qa"]
    assert qa_problem.startswith("Pulumi.qa.yaml: databricks-platform:keyVaultSoftDeleteRetentionDays: ")
    [test_problem] = document["problems"]["test"]
    assert test_problem.startswith("the program raised RuntimeError (at __main__.py:")
    assert test_problem.endswith(": half-way through test")
    # What the program prints goes to stderr, never into the JSON on stdout.
    printed = [line for line in result.stderr.splitlines() if line == "printed by the program"]
    assert len(printed) == 4, "each stack's program starts (qa's stops at its config)"
    problems = [line for line in result.stderr.splitlines() if line != "printed by the program"]
    assert problems == [f"qa: {qa_problem}", f"test: {test_problem}"]


@pytest.mark.parametrize(
    "value",
    ["../dev", "dev/x", "sub\\dev", "..", "/etc/passwd", "dev test", " dev", "dev\n", "Dev", "d", "toolongst",
     "1dev", "dev-eu", "", "dev,", "dev,,test", "all,dev", "dev,dev"],
)
def test_a_stack_value_that_is_not_a_stage_list_is_refused_with_the_allowed_form(value):
    result = run_plan("--stack", value)
    assert result.returncode == 1 and result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines and all(line.startswith("--stack ") for line in lines), result.stderr
    assert "Traceback" not in result.stderr
    if value in ("all,dev", "dev,dev"):
        assert "stands alone" in result.stderr or "listed twice" in result.stderr
    else:
        assert "2-7 lowercase letters or digits, starting with a letter" in result.stderr


def test_a_huge_stack_value_is_not_echoed_whole():
    result = run_plan("--stack", "x" * 100_000)
    assert result.returncode == 1
    assert len(result.stderr) < 400 and len(result.stderr.splitlines()) == 1


@pytest.mark.parametrize("arguments, expected", [
    (["--against", ""], "--against needs a git ref"),
    (["--against", "  "], "--against needs a git ref"),
    (["--format", "markdown"], "--format chooses the output of --against"),
    (["--json", "--format", "markdown"], "--json prints plans; it does not combine"),
    (["--json", "--against", "HEAD"], "--json prints plans; it does not combine"),
    (["--policy-config", "x.json"], "--policy-config needs --policy"),
], ids=["empty-ref", "blank-ref", "markdown-without-against", "json-and-markdown", "json-and-against",
        "policy-config-alone"])
def test_options_that_would_be_ignored_are_a_usage_error_not_a_plain_plan(arguments, expected):
    # A pipeline whose target-branch variable is empty must fail, not post a plan where a diff was asked for.
    result = run_plan("--stack", "dev", *arguments)
    assert result.returncode == 2, result.stdout[:200]
    assert expected in result.stderr and result.stdout == "" and "Traceback" not in result.stderr


def test_every_conflicting_option_is_reported_in_one_run():
    result = run_plan("--stack", "dev", "--json", "--format", "markdown", "--policy", "--against", "")
    assert result.returncode == 2
    for expected in ("--against needs a git ref", "--json prints plans", "--policy checks the plans themselves"):
        assert expected in result.stderr


def test_a_missing_stack_value_is_a_usage_error():
    result = run_plan("--stack")
    assert result.returncode == 2 and "--stack" in result.stderr and "Traceback" not in result.stderr


def test_stack_files_that_are_a_directory_or_not_utf8_give_one_line_naming_the_file(tmp_path):
    program = copy_program(tmp_path / "program")
    (program / "Pulumi.dev.yaml").unlink()
    (program / "Pulumi.dev.yaml").mkdir()
    (program / "Pulumi.test.yaml").write_bytes(b"config:\n  databricks-platform:prefix: \xff\xfe\n")
    result = run_plan("--stack", "dev,test", program_dir=program)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    # The wording is core/safe_load.py's; here: one line per stack, naming its file, in its stack's section.
    dev_line, test_line = result.stderr.splitlines()
    assert dev_line.startswith("dev: Pulumi.dev.yaml: ") and "directory" in dev_line
    assert test_line.startswith("test: Pulumi.test.yaml:") and "UTF-8" in test_line
    assert result.stdout.count(": could not be planned\n") == 2


# Several stacks against a ref: one pull-request comment.


@pytest.fixture(scope="module")
def changed_repo(tmp_path_factory) -> Path:
    """Committed on main: dev, test, prod, uat and a broken stg. The working tree then leaves dev alone,
    changes test, removes prod, adds qa (test's config), breaks uat's config and fixes stg's."""
    repo = copy_program(tmp_path_factory.mktemp("history") / "repo")
    shutil.copy2(repo / "Pulumi.test.yaml", repo / "Pulumi.uat.yaml")
    (repo / "Pulumi.stg.yaml").write_text("config:\n  databricks-platform:keyVaultSkuu: standard\n")
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "base")
    test_file = repo / "Pulumi.test.yaml"
    shutil.copy2(test_file, repo / "Pulumi.qa.yaml")
    test_file.write_text(test_file.read_text() + "  databricks-platform:keyVaultSoftDeleteRetentionDays: 30\n")
    (repo / "Pulumi.prod.yaml").unlink()
    shutil.copy2(test_file, repo / "Pulumi.stg.yaml")
    uat = repo / "Pulumi.uat.yaml"
    uat.write_text(uat.read_text() + "  databricks-platform:keyVaultSoftDeleteRetentionDays: 900\n")
    return repo


@pytest.fixture(scope="module")
def all_against_main_markdown(changed_repo) -> subprocess.CompletedProcess[str]:
    return run_plan("--stack", "all", "--against", "main", "--format", "markdown", program_dir=changed_repo)


def _summary(markdown: str) -> dict[str, list[str]]:
    """The summary table (the first table of the comment): stack -> [to add, to change, to remove, notes]."""
    table = markdown.split("\n| Stack | To add | To change | To remove | |\n", 1)[1].split("\n\n", 1)[0]
    rows = re.findall(r"^\| `(\w+)` \| (.*) \|$", table, flags=re.MULTILINE)
    return {stack: [cell.strip() for cell in cells.split("|")] for stack, cells in rows}


def test_against_markdown_for_several_stacks_is_one_comment_with_a_marker_and_a_section_per_stack(
    all_against_main_markdown
):
    md = all_against_main_markdown.stdout
    assert md.splitlines()[0] == MARKER and md.count(MARKER) == 1
    assert md.count("## Offline plan against `main`") == 1
    sections = re.findall(r"^### Stack `(\w+)`", md, flags=re.MULTILINE)
    assert sections == ["dev", "prod", "qa", "stg", "test", "uat"]
    assert list(_summary(md)) == sections, "the summary table lists every stack once, in section order"


def test_against_summary_counts_a_new_stack_as_all_additions_and_a_removed_one_as_all_removals(
    all_against_main_markdown, single_plan_outputs
):
    summary = _summary(all_against_main_markdown.stdout)
    resources = {stack: len(json.loads(single_plan_outputs[stack])["resources"]) for stack in ("test", "prod")}
    assert summary["dev"][:3] == ["0", "0", "0"]
    assert summary["test"][:3] == ["0", "1", "0"]
    assert summary["qa"][:3] == [str(resources["test"]), "0", "0"] and "new in this change" in summary["qa"][3]
    assert summary["prod"][:3] == ["0", "0", str(resources["prod"])]
    assert "removed in this change" in summary["prod"][3]


def test_against_a_stack_that_fails_to_plan_is_reported_in_its_section_and_fails_the_run(
    all_against_main_markdown
):
    result = all_against_main_markdown
    assert result.returncode == 1
    assert "could not be planned" in _summary(result.stdout)["uat"][3]
    uat_section = result.stdout.split("### Stack `uat`", 1)[1]
    problem = "in the working tree: Pulumi.uat.yaml: databricks-platform:keyVaultSoftDeleteRetentionDays: "
    assert problem in uat_section
    # A stack that cannot be planned at the ref cannot be compared either; its problem names the ref.
    assert "could not be planned" in _summary(result.stdout)["stg"][3]
    stg_section = result.stdout.split("### Stack `stg`", 1)[1].split("### Stack `test`")[0]
    stg_problem = "at main: Pulumi.stg.yaml: databricks-platform:keyVaultSkuu: unknown key"
    assert stg_problem in stg_section
    assert [line.split(": ", 2)[:2] for line in result.stderr.splitlines()] == [
        ["stg", "at main"], ["uat", "in the working tree"]
    ]
    # The other stacks' sections are all there, changes included.
    assert "| ✏️ | `azure-native:keyvault:Vault` | `vault-vault` | `properties.softDeleteRetentionInDays` |" in (
        result.stdout.split("### Stack `test`", 1)[1].split("### Stack `uat`")[0]
    )


@pytest.fixture(scope="module")
def qa_dev_test_against_main_text(changed_repo) -> subprocess.CompletedProcess[str]:
    return run_plan("--stack", "qa,dev,test", "--against", "main", program_dir=changed_repo)


def test_against_text_for_a_stack_list_has_sections_in_its_order_each_equal_to_its_single_stack_diff(
    changed_repo, single_plan_outputs, qa_dev_test_against_main_text
):
    several = qa_dev_test_against_main_text
    single = run_plan("--stack", "qa", "--against", "main", program_dir=changed_repo)
    assert several.returncode == 0 and single.returncode == 0, several.stderr + single.stderr
    qa_section, dev_section, test_section = several.stdout.split("\n\n")
    # One stack prints what it always did: a stack new in this change is all additions.
    assert single.stdout.startswith("Offline plan diff of stack qa against main: ")
    added = int(single.stdout.split(": ", 1)[1].split(" to add")[0])
    assert added == len(json.loads(single_plan_outputs["test"])["resources"]) > 0  # qa has test's config
    assert "0 to change, 0 to remove" in single.stdout.splitlines()[0]
    assert qa_section + "\n" == single.stdout.replace(" against main: ", " against main (new in this change): ", 1)
    assert dev_section == "Offline plan diff of stack dev against main: 0 to add, 0 to change, 0 to remove\nNo changes."
    assert test_section.startswith("Offline plan diff of stack test against main: 0 to add, 1 to change, 0 to remove")
    assert "properties.softDeleteRetentionInDays: 90 => 30" in test_section


def test_against_where_a_fork_is_unsafe_plans_the_ref_in_a_fresh_interpreter_with_the_same_result(
    changed_repo, qa_dev_test_against_main_text
):
    # Off Linux the base ref is planned by `python -m offline_plan.worker`; forced here, the output must not change.
    arguments = ["--stack", "qa,dev,test", "--against", "main", "--dir", str(changed_repo)]
    code = ("import gc, sys; gc.disable(); from offline_plan import cli; cli._fork_is_safe = lambda: False; "
            f"sys.exit(cli.main({arguments!r}))")
    fresh = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    forked = qa_dev_test_against_main_text
    assert fresh.returncode == forked.returncode == 0, fresh.stderr + forked.stderr
    assert fresh.stdout == forked.stdout


def test_against_a_ref_that_does_not_exist_names_the_ref_in_one_line(changed_repo):
    result = run_plan("--stack", "dev,test", "--against", "no-such-branch", program_dir=changed_repo)
    assert result.returncode == 1 and result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith(f"--against no-such-branch: no such git ref (branch, tag or commit) in {changed_repo}")


def test_against_outside_a_git_repository_says_so(tmp_path):
    program = copy_program(tmp_path / "program")
    result = run_plan("--stack", "dev", "--against", "main", program_dir=program)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [f"--against main: {program} is not inside a git repository"]
