"""What `python -m ops smoke` and `python -m ops export-linked-services` do with hostile inputs: the outputs
file, the job and pipeline names in it, and the command line.

Each bad input ends at once with exit status 2 and one printable line that names the file and key, reports
every problem of the invocation together, escapes what it echoes and never echoes a huge value whole. None
of these reach a server: the commands stop before anything starts (the environment names a credential that
could be used, so that only the problem under test is reported).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.factory import OWNED_ANNOTATION
from core.messages import shown
from ops.outputs import MAX_KNOWN_SHOWN, job_target, pipeline_target, read_outputs

REPO = Path(__file__).resolve().parent.parent
FACTORY_ID = (f"/subscriptions/{uuid.uuid4()}/resourceGroups/rg-dp-test/providers/Microsoft.DataFactory"
              "/factories/adf-dp-test")
OUTPUTS = {
    "workspace_url": "https://adb-1.2.azuredatabricks.net",
    "job_ids": {"smoke": "4242", "nightly": "99"},
    "data_factory_id": FACTORY_ID,
    "data_factory_pipelines": ["smoke"],
}
# A usable credential set-up (nothing is requested with it: every case stops before a run starts).
ENVIRON = {"AZURE_TENANT_ID": str(uuid.uuid4()), "AZURE_CLIENT_ID": str(uuid.uuid4()),
           "AZURE_CLIENT_SECRET": "not-used-in-these-tests"}
MAX_LINE = 5000
"""No usage line is longer: a problem is cut at 1,000 characters and the line at 4,000 (plus the prefix)."""


def outputs_file(directory: Path, content: Any = None, **overrides: Any) -> Path:
    path = directory / f"outputs-{uuid.uuid4().hex[:8]}.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        document = {**OUTPUTS, **overrides} if content is None else content
        path.write_text(json.dumps(document), encoding="utf-8")
    return path


def smoke(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """ops.smoke.main() in this process (the same code path as `python -m ops smoke`)."""
    from ops.smoke import main

    code = main(list(argv), environ=ENVIRON)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def command(*argv: str, limit: float = 60) -> subprocess.CompletedProcess[str]:
    """`python -m ops ...` as a user runs it; ``limit`` only guards the test run against a hang."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AZURE_", "DATABRICKS_"))}
    env.update(ENVIRON)
    return subprocess.run([sys.executable, "-m", "ops", *argv], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=limit, check=False)


def assert_one_clean_line(stderr: str) -> str:
    """The usage error is one line of printable text, bounded, without a traceback."""
    assert "Traceback" not in stderr, stderr
    assert stderr.endswith("\n") and stderr.count("\n") == 1, stderr[:2000]
    line = stderr[:-1]
    assert line.isprintable(), f"control characters in the error line: {line[:300]!r}"
    assert len(line) <= MAX_LINE, f"a {len(line):,}-character error line"
    return line


# -- B: the outputs file is read safely ---------------------------------------------------------------


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "outputs.fifo"
    os.mkfifo(path)
    return path


@pytest.mark.parametrize("what", [("smoke", "--job", "smoke"), ("export-linked-services",)])
def test_a_fifo_without_a_writer_as_outputs_file_is_refused_at_once_not_waited_on(fifo, what):
    # Read as before, the command would wait forever for a writer and the 60 s guard would fail the test.
    result = command(*what, "--outputs", str(fifo))
    assert result.returncode == 2, result.stderr
    line = assert_one_clean_line(result.stderr)
    assert f"{fifo}: is a FIFO (named pipe), not a regular file" in line


@pytest.mark.parametrize("what", [("smoke", "--job", "smoke"), ("export-linked-services",)])
def test_dev_zero_as_outputs_file_is_refused_without_reading_it(what):
    result = command(*what, "--outputs", "/dev/zero")
    assert result.returncode == 2, result.stderr
    assert "/dev/zero: is a character device, not a regular file" in assert_one_clean_line(result.stderr)


def test_an_outputs_file_beyond_the_size_cap_is_refused_without_being_parsed(tmp_path, capsys):
    path = tmp_path / "huge.json"
    with path.open("wb") as handle:  # sparse: 17 MiB that costs no disk
        handle.truncate(17 * 1024 * 1024)
    code, out, err = smoke(capsys, "--outputs", str(path), "--job", "smoke")
    assert code == 2 and out == ""
    assert f"{path}: larger than 16 MiB" in assert_one_clean_line(err)


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "utf-16-le", "utf-32"])
def test_outputs_written_with_a_bom_or_in_utf16_or_utf32_are_read(tmp_path, encoding):
    # PowerShell 5's `>` writes UTF-16 with a BOM, PowerShell 7's Out-File may write a UTF-8 BOM.
    path = tmp_path / "outputs.json"
    path.write_bytes(json.dumps(OUTPUTS, ensure_ascii=False).encode(encoding))
    problems: list[str] = []
    assert read_outputs(path, problems) == OUTPUTS and problems == []


def test_a_file_that_is_not_utf8_names_the_line_and_column_of_the_bad_byte(tmp_path, capsys):
    path = outputs_file(tmp_path, b'{\n  "job_ids": {"sm\xe9ke": "1"}}')
    code, _, err = smoke(capsys, "--outputs", str(path), "--job", "smoke")
    assert code == 2 and f"{path}:2:18: not UTF-8 text (byte 0xe9)" in assert_one_clean_line(err)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=st.binary(max_size=300) | st.text(max_size=200).map(lambda text: text.encode("utf-8")))
def test_arbitrary_bytes_as_outputs_file_give_a_value_or_one_printable_line(tmp_path, capsys, content):
    path = tmp_path / "outputs.json"
    path.write_bytes(content)
    code, out, err = smoke(capsys, "--outputs", str(path), "--job", "smoke")
    # Whatever the bytes, the command stops before starting a run: no job 'smoke' with a workspace can be in them
    # unless they are valid outputs, which 300 bytes of noise are not.
    assert code == 2 and out == ""
    assert_one_clean_line(err)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(job_ids=JSON_VALUES, name=st.text(max_size=30), pipelines=JSON_VALUES, factory_id=JSON_VALUES)
def test_any_json_in_the_keys_the_commands_read_gives_a_target_or_one_printable_problem(
    job_ids, name, pipelines, factory_id
):
    outputs = {**OUTPUTS, "job_ids": job_ids, "data_factory_pipelines": pipelines, "data_factory_id": factory_id}
    for resolve in (job_target, pipeline_target):
        problems: list[str] = []
        target = resolve(Path("outputs.json"), outputs, name, problems)
        assert (target is None) == (len(problems) == 1), problems
        assert all(problem.isprintable() and len(problem) < 4000 for problem in problems), problems


# -- C: job ids ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "job_id",
    ["1" * 5000, "9223372036854775808", "0", "-5", " 42", "4_2", "42\n", "٤٢", "", "1e3", 0, -5, 4.2, True,
     None, [42], {"id": 42}],
    ids=["5000-digits", "beyond-int64", "zero", "negative-text", "space", "underscore", "newline",
         "arabic-digits", "empty", "exponent", "zero-number", "negative", "fraction", "boolean", "null", "list",
         "object"],
)
def test_a_job_id_that_is_not_a_databricks_job_id_is_a_usage_error_naming_the_key(tmp_path, capsys, job_id):
    path = outputs_file(tmp_path, job_ids={"smoke": job_id})
    code, out, err = smoke(capsys, "--outputs", str(path), "--job", "smoke")
    assert code == 2 and out == ""
    line = assert_one_clean_line(err)
    assert f"{path}: job_ids.smoke must be a Databricks job id, got " in line
    assert "a whole number from 1 to 9223372036854775807" in line


def test_a_job_id_written_as_a_json_number_of_5000_digits_is_refused_naming_the_key(tmp_path, capsys):
    path = outputs_file(tmp_path, ('{"workspace_url": "https://adb-1.azuredatabricks.net", '
                                   '"job_ids": {"smoke": ' + "7" * 5000 + "}}").encode())
    code, _, err = smoke(capsys, "--outputs", str(path), "--job", "smoke")
    assert code == 2
    line = assert_one_clean_line(err)
    assert f"{path}: job_ids.smoke is a number of 5,000 digits" in line and "Databricks job id" in line
    assert "unexpected" not in line


@pytest.mark.parametrize(("job_id", "expected"), [("9223372036854775807", 2**63 - 1), (17, 17), ("0042", 42)])
def test_a_job_id_within_range_is_taken_as_text_or_number(job_id, expected):
    problems: list[str] = []
    target = job_target(Path("o.json"), {**OUTPUTS, "job_ids": {"smoke": job_id}}, "smoke", problems)
    assert problems == [] and target is not None and target.job_id == expected


# -- D: names are escaped, cut and listed with a cap ------------------------------------------------------


def test_a_two_megabyte_job_name_is_not_echoed_whole_in_the_known_jobs(tmp_path, capsys):
    huge = "j" * 2_000_000
    path = outputs_file(tmp_path, job_ids={huge: "1", "nightly": "2"})
    code, _, err = smoke(capsys, "--outputs", str(path), "--job", "smoke")
    assert code == 2
    line = assert_one_clean_line(err)
    assert "no job 'smoke' in job_ids; known jobs: " in line and "(2,000,000 characters)" in line


def test_a_two_megabyte_pipeline_name_is_refused_by_index_and_not_echoed_whole(tmp_path, capsys):
    path = outputs_file(tmp_path, data_factory_pipelines=["p" * 2_000_000, "load"])
    code, _, err = smoke(capsys, "--outputs", str(path), "--pipeline", "smoke")
    assert code == 2
    line = assert_one_clean_line(err)
    assert "'data_factory_pipelines' must be a list of distinct pipeline names: [0] 'ppp" in line
    assert "(2,000,000 characters)" in line and "a pipeline name has 1 to 260" in line


@pytest.mark.parametrize("key", ["evil\nnext line", "\x1b[31mred\x1b[0m", "tab\tbed", "bell\x07"])
def test_a_job_name_with_a_newline_or_an_escape_sequence_is_shown_escaped(tmp_path, capsys, key):
    path = outputs_file(tmp_path, job_ids={key: "1"})
    code, _, err = smoke(capsys, "--outputs", str(path), "--job", "smoke")
    assert code == 2
    line = assert_one_clean_line(err)
    assert repr(key) in line, line


def test_an_escape_sequence_in_the_job_argument_is_shown_escaped(tmp_path, capsys):
    code, _, err = smoke(capsys, "--outputs", str(outputs_file(tmp_path)), "--job", "\x1b]0;pwned\x07smoke\n")
    assert code == 2
    assert r"no job '\x1b]0;pwned\x07smoke\n' in job_ids" in assert_one_clean_line(err)


def test_two_hundred_thousand_jobs_give_a_short_line_that_says_how_many_more(tmp_path, capsys):
    jobs = {f"job-{index:06d}": str(index + 1) for index in range(200_000)}
    code, _, err = smoke(capsys, "--outputs", str(outputs_file(tmp_path, job_ids=jobs)), "--job", "smoke")
    assert code == 2
    line = assert_one_clean_line(err)
    assert "known jobs (200,000): job-000000, job-000001" in line
    assert f"… and {200_000 - MAX_KNOWN_SHOWN:,} more" in line


def test_the_known_list_keeps_its_end_with_long_names_and_a_second_problem(tmp_path, capsys):
    jobs = {f"{index:02d}-" + "n" * 100: str(index + 1) for index in range(25)}
    path = outputs_file(tmp_path, job_ids=jobs, workspace_url="http://plain")
    code, _, err = smoke(capsys, "--outputs", str(path), "--job", "smoke")
    assert code == 2
    line = assert_one_clean_line(err)
    assert "'workspace_url' must be an https URL" in line
    assert "known jobs (25): '00-nnn" in line
    assert re.search(r", … and \d+ more$", line), "the list of known jobs was cut off"


def test_an_unknown_job_among_many_suggests_the_closest_names_first(tmp_path, capsys):
    jobs = {f"job-{index:03d}": str(index + 1) for index in range(50)} | {"nightly": "900"}
    code, _, err = smoke(capsys, "--outputs", str(outputs_file(tmp_path, job_ids=jobs)), "--job", "nightyl")
    assert code == 2
    assert "no job 'nightyl' in job_ids; did you mean 'nightly'? known jobs (51): nightly, job-000" in err


def test_a_url_with_a_newline_is_refused_and_shown_escaped(tmp_path, capsys):
    path = outputs_file(tmp_path, workspace_url="https://adb-1.azuredatabricks.net\n\x1b[2J")
    code, _, err = smoke(capsys, "--outputs", str(path), "--job", "smoke")
    assert code == 2
    assert r"'workspace_url' must be an https URL, got 'https://adb-1.azuredatabricks.net\n\x1b[2J'" in (
        assert_one_clean_line(err)
    )


def test_a_path_with_control_characters_is_shown_escaped(tmp_path, capsys):
    code, _, err = smoke(capsys, "--outputs", str(tmp_path / "out\x1b[31m.json"), "--job", "smoke")
    assert code == 2
    assert r"out\x1b[31m.json' : no such file" not in err  # quoted once, as repr writes it
    assert r"out\x1b[31m.json': no such file" in assert_one_clean_line(err)


def test_a_huge_command_line_value_is_cut_in_the_usage_line(tmp_path, capsys):
    code, _, err = smoke(capsys, "--outputs", str(outputs_file(tmp_path)), "--job", "smoke",
                         "--credential", "x" * 100_000)
    assert code == 2
    line = assert_one_clean_line(err)
    assert "argument --credential: invalid choice" in line and "characters in all" in line


# -- F: values sent to a server have the exact shape Azure gives them ----------------------------------------

WORKSPACE_ID = (f"/subscriptions/{uuid.uuid4()}/resourceGroups/rg-dp-test/providers/Microsoft.Databricks"
                "/workspaces/dbw-dp-test")
WORKSPACE_ID_SHAPE = ("'workspace_resource_id': expected an Azure Databricks workspace resource id '/subscriptions/"
                      "<subscription id>/resourceGroups/<group>/providers/Microsoft.Databricks/workspaces/<name>'")


@pytest.mark.parametrize(
    ("resource_id", "why"),
    [
        ("garbage\r\nX-Evil: 1", "a line break"),
        ("garbage", ""),
        ("", ""),
        (WORKSPACE_ID + "\n", "a line break"),
        (" " + WORKSPACE_ID, "holds a space"),
        (WORKSPACE_ID.replace("Microsoft.Databricks/workspaces", "Microsoft.Storage/storageAccounts"),
         "this is the id of a Microsoft.Storage/storageAccounts"),
        (WORKSPACE_ID.replace(WORKSPACE_ID.split("/")[2], "s-1"), "its subscription id is not a GUID"),
        (WORKSPACE_ID.replace("rg-dp-test", "rg."), "its resource group is not"),
        (WORKSPACE_ID.replace("dbw-dp-test", "dbw\x1b[2J"), "a control character"),
        (WORKSPACE_ID.replace("dbw-dp-test", "dbw.test"), "its name is not 3 to 64 letters"),
    ],
    ids=["header-injection", "garbage", "empty", "trailing-newline", "leading-space", "other-type", "subscription",
         "group", "name-with-escape", "name-with-period"],
)
def test_a_workspace_resource_id_that_is_not_a_workspaces_arm_id_is_a_usage_error_naming_the_key(
    tmp_path, capsys, resource_id, why
):
    path = outputs_file(tmp_path, workspace_resource_id=resource_id)
    code, out, err = smoke(capsys, "--outputs", str(path), "--job", "smoke")
    assert code == 2 and out == ""
    line = assert_one_clean_line(err)
    assert f"{path}: {WORKSPACE_ID_SHAPE}" in line and why in line
    assert line.endswith(f", got {shown(resource_id)}"), "the value is echoed escaped and cut"


def test_a_workspace_resource_id_of_the_right_shape_is_taken_as_written(tmp_path):
    problems: list[str] = []
    target = job_target(Path("o.json"), {**OUTPUTS, "workspace_resource_id": WORKSPACE_ID}, "smoke", problems)
    assert problems == [] and target is not None and target.workspace_resource_id == WORKSPACE_ID


@pytest.mark.parametrize(
    "url",
    ["https://adb-1.azuredatabricks.net/some/path", "https://adb-1.azuredatabricks.net?o=1",
     "https://user:pw@adb-1.azuredatabricks.net", "https://adb-1.azuredatabricks.net:99999",
     "https://adb-1.azuredatabricks.net\n", " https://adb-1.azuredatabricks.net", "https://adb 1.net",
     "https://adb-1.azuredatabricks.net#job/1", "ftp://adb-1.azuredatabricks.net"],
    ids=["path", "query", "credentials", "port", "trailing-newline", "leading-space", "space", "fragment", "ftp"],
)
def test_a_workspace_url_that_is_not_an_https_origin_is_a_usage_error_naming_the_key(tmp_path, capsys, url):
    path = outputs_file(tmp_path, workspace_url=url)
    code, _, err = smoke(capsys, "--outputs", str(path), "--job", "smoke")
    assert code == 2
    line = assert_one_clean_line(err)
    assert f"{path}: 'workspace_url' must be an https URL, got {url!a}; a workspace URL is https://<host>" in line


@pytest.mark.parametrize(
    "host", ["https://login.microsoftonline.us\n", "login microsoftonline us", "https://login.example/tenant",
             "http://login.microsoftonline.us", "login.microsoftonline.us\r\nX: 1", 5],
    ids=["trailing-newline", "spaces", "path", "http", "header-injection", "number"],
)
def test_an_authority_host_that_is_not_a_host_is_a_usage_error_naming_the_key(tmp_path, capsys, host):
    for what in (("--job", "smoke"), ("--pipeline", "smoke")):
        path = outputs_file(tmp_path, azure_authority_host=host)
        code, _, err = smoke(capsys, "--outputs", str(path), *what)
        assert code == 2
        assert f"{path}: 'azure_authority_host' must be an Entra ID authority host" in assert_one_clean_line(err)


@pytest.mark.parametrize("host", ["", "login.microsoftonline.us", "https://login.microsoftonline.us/",
                                  "https://127.0.0.1:8443"])
def test_an_authority_host_as_azure_identity_takes_it_is_accepted(host):
    problems: list[str] = []
    assert job_target(Path("o.json"), {**OUTPUTS, "azure_authority_host": host}, "smoke", problems) is not None
    assert problems == []


def test_a_factory_id_with_a_trailing_newline_is_a_usage_error_naming_the_key(tmp_path, capsys):
    path = outputs_file(tmp_path, data_factory_id=FACTORY_ID + "\n")
    code, _, err = smoke(capsys, "--outputs", str(path), "--pipeline", "smoke")
    assert code == 2
    line = assert_one_clean_line(err)
    assert f"{path}: 'data_factory_id': expected a Data Factory resource id" in line
    assert "this one holds a space, a line break or a control character" in line


def test_every_bad_item_and_every_duplicate_of_the_pipeline_list_is_named_by_index(tmp_path, capsys):
    path = outputs_file(tmp_path, data_factory_pipelines=["pl_a", "pl_a", "PL_A", 5, None, "smoke", "a/b"])
    code, _, err = smoke(capsys, "--outputs", str(path), "--pipeline", "smoke")
    assert code == 2
    line = assert_one_clean_line(err)
    assert f"{path}: 'data_factory_pipelines' must be a list of distinct pipeline names: " in line
    problems = line.split("distinct pipeline names: ", 1)[1].split("; ")
    assert problems == [
        "[1] 'pl_a' is listed before at [0]",
        "[2] 'PL_A' is listed before as 'pl_a' at [0] (ADF names are case-insensitive)",
        "[3] is 5, not a name",
        "[4] is null, not a name",
        "[6] 'a/b' is not a valid pipeline name: ADF wants one that starts with a letter, digit or _, and has "
        "none of < > * # . % & : \\ + ? /",
    ]
    assert "got a list" not in line


def test_a_pipeline_list_of_many_bad_items_names_the_first_ten_and_counts_the_rest(tmp_path, capsys):
    path = outputs_file(tmp_path, data_factory_pipelines=["smoke", *range(1000)])
    code, _, err = smoke(capsys, "--outputs", str(path), "--pipeline", "smoke")
    assert code == 2
    line = assert_one_clean_line(err)
    assert "[1] is 0, not a name" in line and "[10] is 9, not a name" in line and "[11]" not in line
    assert line.endswith("… and 990 more")


# -- E: every problem of one invocation, together ---------------------------------------------------------


def test_a_bad_argument_and_a_bad_outputs_file_are_reported_together(fifo, capsys):
    code, _, err = smoke(capsys, "--outputs", str(fifo), "--job", "smoke", "--timeout", "0")
    assert code == 2
    line = assert_one_clean_line(err)
    assert "argument --timeout: expected a number of seconds greater than 0" in line
    assert f"{fifo}: is a FIFO (named pipe)" in line


def test_a_bad_argument_and_an_unknown_job_are_reported_together(tmp_path, capsys):
    code, _, err = smoke(capsys, "--outputs", str(outputs_file(tmp_path)), "--job", "smokee", "--colour")
    assert code == 2
    line = assert_one_clean_line(err)
    assert "unrecognized arguments: --colour" in line and "no job 'smokee' in job_ids" in line


def test_every_bad_option_value_is_reported_together(tmp_path, capsys):
    code, out, err = smoke(capsys, "--outputs", str(outputs_file(tmp_path)), "--job", "smoke",
                           "--poll-interval", "-1", "--timeout", "0")
    assert code == 2 and out == ""
    line = assert_one_clean_line(err)
    assert "argument --timeout: expected a number of seconds greater than 0 and at most 604800, got '0'" in line
    assert "argument --poll-interval: expected a number of seconds greater than 0 and at most 3600, got '-1'" in line


def test_a_missing_option_bad_values_and_an_unknown_job_are_reported_together(tmp_path, capsys):
    from ops.smoke import main

    code = main(["--outputs", str(outputs_file(tmp_path)), "--timeout", "nan", "--credential", "password",
                 "--poll-interval", "soon"], environ={})
    line = assert_one_clean_line(capsys.readouterr().err)
    assert code == 2
    problems = line.split("error: ", 1)[1].split("; ")
    assert problems[0].startswith("one of the arguments --job --pipeline is required")
    assert [problem.split(":")[0] for problem in problems[1:]] == [
        "argument --timeout", "argument --poll-interval", "argument --credential"
    ]
    assert "invalid choice: 'password' (choose from environment, managed_identity, azure_cli)" in line


def test_an_option_without_its_value_still_reports_the_credential_set_up(tmp_path, capsys):
    from ops.smoke import main

    code = main(["--outputs", str(outputs_file(tmp_path)), "--job", "smoke", "--timeout"], environ={})
    line = assert_one_clean_line(capsys.readouterr().err)
    assert code == 2
    assert "argument --timeout: expected one argument" in line
    assert "needs the deploying identity's --tenant-id or AZURE_TENANT_ID" in line


def test_a_credential_problem_and_an_outputs_problem_are_reported_together(tmp_path, capsys):
    from ops.smoke import main

    path = outputs_file(tmp_path, workspace_url=None)
    code = main(["--outputs", str(path), "--job", "smoke"], environ={"DEPLOYER_CREDENTIAL": "keyring"})
    err = capsys.readouterr().err
    assert code == 2
    line = assert_one_clean_line(err)
    assert "'workspace_url' must be an https URL, got null" in line
    assert "DEPLOYER_CREDENTIAL='keyring' is not a credential kind" in line


def test_export_reports_a_bad_argument_the_outputs_file_and_the_folder_together(fifo, tmp_path):
    result = command("export-linked-services", "--outputs", str(fifo), "--factory-dir", str(tmp_path / "nowhere"),
                     "--colour")
    assert result.returncode == 2
    line = assert_one_clean_line(result.stderr)
    assert "unrecognized arguments: --colour" in line and "is a FIFO (named pipe)" in line
    assert "nowhere: no such directory" in line


# -- export-linked-services: the linked services it writes ------------------------------------------------

VAULT = {"name": "ls_key_vault", "properties": {"annotations": [OWNED_ANNOTATION], "type": "AzureKeyVault",
                                               "typeProperties": {"baseUrl": "https://kv-dbp-dev.vault.azure.net/"}}}


def export(tmp_path: Path, services: Any, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str, Path]:
    from ops.export_linked_services import main

    factory = tmp_path / "factory"
    factory.mkdir(exist_ok=True)
    source = outputs_file(tmp_path, {"data_factory_linked_services": services})
    code = main(["--outputs", str(source), "--factory-dir", str(factory)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err, factory


def test_export_refuses_a_linked_service_name_with_a_trailing_newline(tmp_path, capsys):
    code, out, err, factory = export(tmp_path, {"ls_key_vault\n": {**VAULT, "name": "ls_key_vault\n"}}, capsys)
    assert code == 2 and out == ""
    assert r"data_factory_linked_services['ls_key_vault\n']: not a linked service name" in assert_one_clean_line(err)
    assert not (factory / "linkedService").exists()


def test_export_never_writes_through_a_symbolic_link_out_of_the_factory_folder(tmp_path, capsys):
    outside = tmp_path / "outside.txt"
    outside.write_text("keep me")
    (tmp_path / "factory" / "linkedService").mkdir(parents=True)
    (tmp_path / "factory" / "linkedService" / "ls_key_vault.json").symlink_to(outside)
    code, _, err, _ = export(tmp_path, {"ls_key_vault": VAULT}, capsys)
    assert code == 2
    assert "ls_key_vault.json: is a symbolic link or not a regular file; it is not overwritten" in (
        assert_one_clean_line(err)
    )
    assert outside.read_text() == "keep me"


def test_export_is_not_held_by_a_fifo_in_the_linked_service_folder(tmp_path, capsys):
    folder = tmp_path / "factory" / "linkedService"
    folder.mkdir(parents=True)
    os.mkfifo(folder / "ls_authored.json")  # read to see whether an earlier export wrote it
    os.mkfifo(folder / "ls_key_vault.json")  # where the export would write
    code, _, err, _ = export(tmp_path, {"ls_key_vault": VAULT}, capsys)
    assert code == 2 and "ls_key_vault.json: is a symbolic link or not a regular file" in err
    os.unlink(folder / "ls_key_vault.json")
    code, out, _, _ = export(tmp_path, {"ls_key_vault": VAULT}, capsys)
    assert code == 0 and "ls_key_vault.json: written" in out
    assert (folder / "ls_authored.json").exists(), "a file the program did not write is kept"
