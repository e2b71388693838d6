"""The offline plan, run as a user runs it, on hostile stack files and definitions (issue 9, items 6-10).

Whatever the input, the plan ends promptly with exit status 1 and one line per problem naming the file
(and key), never a traceback, a crash (exit 139), an out-of-memory kill or a hang.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, copy_program
from tests.fakes.tls import throwaway_private_key_pem

BIG = "x" * 2_000_000


def plan(program: Path, stack: str = "test", env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {name: value for name, value in os.environ.items() if not name.startswith("PULUMI_CONFIG")}
    return subprocess.run([sys.executable, "-m", "offline_plan", "--stack", stack, "--json", "--dir", str(program)],
                          cwd=REPO, capture_output=True, text=True, timeout=180, check=False,
                          env={**environment, **(env or {})})


def assert_refused(result: subprocess.CompletedProcess[str]) -> list[str]:
    assert result.returncode == 1, (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert all(line.startswith(("Pulumi.", "jobs/", "templates/")) for line in lines), lines
    assert all(len(line) < 2100 for line in lines), [len(line) for line in lines]
    return lines


@pytest.mark.parametrize(("stack_file", "expected"), [
    ("config:\n  databricks-platform:tags: " + "[" * 100_000 + "]" * 100_000 + "\n",
     "Pulumi.test.yaml:2:91: config.databricks-platform:tags[0]"),
    ("a: &a [lol,lol,lol,lol,lol,lol,lol,lol,lol]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 9) + "]\n" for i in range(8))
     + "config: {}\n", "the document expands to more than 100,000 values"),
    ("config:\n  databricks-platform:tags: &t {a: *t}\n", "(a recursive alias)"),
    ("config:\n  databricks-platform:prefix: !!binary aGVsbG8=\n",
     "config.databricks-platform:prefix: the tag !!binary"),
    ("config:\n  7: x\n", "Pulumi.test.yaml:2:3: config: the key '7', which YAML reads as a number"),
    ("config:\n  databricks-platform:prefix: abc\n  databricks-platform:prefix: abd\n",
     "Pulumi.test.yaml:3:3: invalid YAML: duplicate key 'databricks-platform:prefix' in config"),
    ("config:\n  databricks-platform:keyVaultSoftDeleteRetentionDays: .nan\n",
     "Pulumi.test.yaml: databricks-platform:keyVaultSoftDeleteRetentionDays: '.nan' is not a finite number"),
    ("config:\n  databricks-platform:instancePools:\n    - {name: a, nodeType: n, maxCapacity: .inf}\n",
     "Pulumi.test.yaml:3:43: config.databricks-platform:instancePools[0].maxCapacity: '.inf' is not a finite number"),
    (b"config:\n  databricks-platform:prefix: \xc3\x28\n", "Pulumi.test.yaml:2:31: not UTF-8 text (byte 0xc3)"),
    (None, "Pulumi.test.yaml: is a directory, not a regular file"),
])
def test_a_hostile_stack_file_is_one_line_naming_file_and_key(tmp_path, stack_file, expected):
    program = copy_program(tmp_path / "program", stacks=())
    target = program / "Pulumi.test.yaml"
    if stack_file is None:
        target.mkdir()
    elif isinstance(stack_file, bytes):
        target.write_bytes(stack_file)
    else:
        target.write_text(stack_file)
    [line] = assert_refused(plan(program))
    assert expected in line


def test_every_unreadable_key_and_value_of_a_stack_file_is_reported_in_one_run(tmp_path):
    # Problems local to one key or value do not stop the reading: the user fixes the file once, not per line.
    program = copy_program(tmp_path / "program", stacks=())
    (program / "Pulumi.test.yaml").write_text(
        "config:\n"
        "  databricks-platform:prefix: dbp\n"
        "  1: x\n"
        "  2: y\n"
        "  databricks-platform:prefix: dbq\n"
        "  databricks-platform:tags: {a: !!binary aGVsbG8=, b: ok}\n"
        "  databricks-platform:location: [x, !!set {a}]\n"
    )
    lines = assert_refused(plan(program))
    assert [line.split(": ", 1)[0] for line in lines] == [
        "Pulumi.test.yaml:3:3", "Pulumi.test.yaml:4:3", "Pulumi.test.yaml:5:3", "Pulumi.test.yaml:6:33",
        "Pulumi.test.yaml:7:37"], lines
    assert "the key '1'" in lines[0] and "the key '2'" in lines[1] and "duplicate key" in lines[2]
    assert "the tag !!binary" in lines[3] and "location[1]: the tag !!set" in lines[4]


def test_config_and_job_problems_of_every_kind_are_reported_together_in_one_run(tmp_path):
    program = copy_program(tmp_path / "program", stacks=())
    (program / "Pulumi.test.yaml").write_text(
        "config:\n"
        "  databricks-platfrom:keyVaultPurgeProtection: true\n"
        "  Databricks-Platform:prefix: abc\n"
        '  databricks-platform:prefix: "dbp\\n"\n'
        "  databricks-platform:tags: {Stage: prod}\n"
        '  databricks-platform:keyVaultAllowedIpRanges: ["203.0.113.5/24", "2001:db8::/32"]\n'
        f"  databricks-platform:location: {BIG}\n"
    )
    jobs = program / "jobs"
    os.mkfifo(jobs / "pipe.json")
    (jobs / "zero.yaml").symlink_to("/dev/zero")
    (program / "templates" / "null.json.j2").write_text("null")
    (jobs / "null.yaml").write_text("template: null.json.j2\nname: renders-null\n")
    (program / "templates" / "keys.json.j2").write_text(
        '{"name": "k", "tasks": [{"task_key": ["a"], "notebook_task": {"notebook_path": "/x"}}]}')
    (jobs / "keys.yaml").write_text("template: keys.json.j2\nname: list-keys\n")
    pipeline = jobs / "sales_pipeline.yaml"
    pipeline.write_text(pipeline.read_text().replace("workers: 3", "workers: 4"))
    lines = assert_refused(plan(program))
    expected = [
        "Pulumi.test.yaml: databricks-platfrom:keyVaultPurgeProtection: namespace databricks-platfrom is not this "
        "project's, so nothing would read this setting; did you mean 'databricks-platform:keyVaultPurgeProtection'?",
        "Pulumi.test.yaml: Databricks-Platform:prefix: namespace Databricks-Platform is not this project's",
        "Pulumi.test.yaml: databricks-platform:prefix: must be 2-8 lowercase letters or digits, starting with a "
        "letter (got 'dbp\\n')",
        "Pulumi.test.yaml: databricks-platform:tags: tag 'Stage' is set by the program on every resource",
        "Pulumi.test.yaml: databricks-platform:keyVaultAllowedIpRanges[0]: has host bits set; did you mean "
        "'203.0.113.0/24'?",
        "Pulumi.test.yaml: databricks-platform:keyVaultAllowedIpRanges[1]: Key Vault's firewall accepts IPv4",
        "Pulumi.test.yaml: databricks-platform:location: String should have at most 1024 characters (got 'xxx",
        "jobs/pipe.json: is a FIFO (named pipe), not a regular file; it is not read",
        "jobs/zero.yaml: is (or passes through) a symbolic link to a path outside jobs/",
        "jobs/null.yaml: templates/null.json.j2 rendered null, not a job",
        "jobs/keys.yaml: tasks[0].task_key: expected a string, got a list",
        "jobs/sales_pipeline.yaml: job_clusters[0] ('shared').new_cluster: needs 5 instances of pool 'general' "
        "(4 workers (num_workers) + the driver), but the pool's maxCapacity is 4",
    ]
    for start in expected:
        assert sum(line.startswith(start) for line in lines) == 1, (start, lines)
    assert len(lines) == len(expected), lines


def test_content_outside_the_project_is_never_read_into_a_message(tmp_path):
    outside = tmp_path / "home"
    outside.mkdir()
    key = throwaway_private_key_pem()
    (outside / "id_rsa").write_text(key)
    (outside / "notes.yaml").write_text("password: hunter2-SECRET\n  [broken\n")
    program = copy_program(tmp_path / "program")
    (program / "templates" / "stolen.json.j2").symlink_to(outside / "id_rsa")
    (program / "jobs" / "stolen.yaml").write_text("template: stolen.json.j2\nname: stolen\n")
    (program / "jobs" / "notes.yaml").symlink_to(outside / "notes.yaml")
    result = plan(program)
    lines = assert_refused(result)
    key_body = key.splitlines()[1]
    assert "PRIVATE KEY" not in result.stderr and "hunter2" not in result.stderr and key_body not in result.stderr
    assert any(line.startswith("jobs/stolen.yaml: templates/stolen.json.j2: is (or passes through) a symbolic link")
               for line in lines), lines
    assert any(line.startswith("jobs/notes.yaml: is (or passes through) a symbolic link") for line in lines), lines


def test_pulumi_config_left_in_a_shell_neither_leaks_into_the_plan_nor_is_blamed_on_the_stack_file(tmp_path):
    program = copy_program(tmp_path / "program")
    clean = plan(program)
    assert clean.returncode == 0, clean.stderr
    for leftover in ('{"databricks-platform:bogusKey": "1", "databricks-platform:jobsDefaultPool": "gpu"}',
                     "{not json"):
        result = plan(program, env={"PULUMI_CONFIG": leftover,
                                    "PULUMI_CONFIG_DATABRICKS_PLATFORM_KEYVAULTPURGEPROTECTION": "false"})
        assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
        assert result.stdout == clean.stdout, "a PULUMI_CONFIG variable changed the plan"
        assert result.stderr.startswith("offline plan: ignoring PULUMI_CONFIG, PULUMI_CONFIG_DATABRICKS_PLATFORM_"
                                        "KEYVAULTPURGEPROTECTION from the environment")
        assert "Pulumi.test.yaml" not in result.stderr.split("; ")[0]


@pytest.mark.parametrize("prop", ["workspace_resource_id", "tenant_id", "client_id"])
@pytest.mark.parametrize("tail", ["\n", "\nx", " ", "\x00"])
def test_the_pat_provider_validates_the_whole_input_not_a_prefix(prop, tail):
    from dynamic_providers.databricks_pat import DatabricksPatProvider

    inputs = {"workspace_url": "https://adb-1.1.azuredatabricks.net",
              "workspace_resource_id": "/subscriptions/s/resourceGroups/g/providers/Microsoft.Databricks/workspaces/w",
              "tenant_id": "00000000-0000-0000-0000-000000000000", "client_id": "00000000-0000-0000-0000-000000000001"}
    assert DatabricksPatProvider().check({}, inputs).failures == []
    result = DatabricksPatProvider().check({}, {**inputs, prop: inputs[prop] + tail})
    assert [failure.property for failure in result.failures] == [prop]
