"""The offline plan: its JSON contract, determinism, secret masking and the --against diff."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import copy_program, plan_json, run_plan


@pytest.fixture(scope="module")
def dev_plan_output() -> str:
    result = run_plan("--stack", "dev", "--json")
    assert result.returncode == 0, result.stderr
    return result.stdout


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


def test_two_runs_of_the_same_stack_are_byte_identical(dev_plan_output):
    again = run_plan("--stack", "dev", "--json")
    assert again.stdout == dev_plan_output


def test_text_plan_nests_resources_under_their_components():
    result = run_plan("--stack", "test")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    component = lines.index("+ databricks-platform:security:KeyVault  vault")
    assert lines[component + 1].startswith("    + azure-native:")
    assert "not what exists in Azure" in result.stdout, "the plan must say what it cannot show"


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
    result = run_plan("--stack", "test", "--against", "main", program_dir=repo)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith("Offline plan diff of stack test against main: 0 to add, 1 to change, 1 to remove")
    assert "- azure-native:authorization:RoleAssignment  vault-factory-secrets-user" in out
    assert "~ azure-native:keyvault:Vault  vault-vault" in out
    assert "properties.softDeleteRetentionInDays: 90 => 30" in out


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


def test_against_an_unchanged_tree_reports_no_changes(repo_with_history):
    result = run_plan("--stack", "dev", "--against", "main", program_dir=repo_with_history)
    assert result.returncode == 0, result.stderr
    assert result.stdout.rstrip().endswith("No changes.")


def test_against_a_ref_that_does_not_exist_is_a_one_line_error(repo_with_history):
    result = run_plan("--stack", "dev", "--against", "no-such-branch", program_dir=repo_with_history)
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_a_stack_new_in_this_change_is_all_additions(repo_with_history):
    repo = repo_with_history
    (repo / "Pulumi.qa.yaml").write_text("config: {}\n")
    result = run_plan("--stack", "qa", "--against", "main", program_dir=repo)
    assert result.returncode == 0, result.stderr
    assert "0 to change, 0 to remove" in result.stdout.splitlines()[0]
    added = int(result.stdout.split(": ", 1)[1].split(" to add")[0])
    assert added == len(plan_json("qa", program_dir=repo)["resources"]) > 0
