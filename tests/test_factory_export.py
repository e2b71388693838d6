"""`export-linked-services`: the program's linked services written into factory/ as ADF Studio writes files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.factory import OWNED_ANNOTATION
from ops.export_linked_services import main

VAULT = {"name": "ls_key_vault", "properties": {"annotations": [OWNED_ANNOTATION], "type": "AzureKeyVault",
                                               "typeProperties": {"baseUrl": "https://kv-dbp-dev.vault.azure.net/"}}}
DATABRICKS = {"name": "ls_databricks", "properties": {
    "annotations": [OWNED_ANNOTATION], "type": "AzureDatabricks",
    "typeProperties": {"domain": "https://adb-1.7.azuredatabricks.net", "newClusterVersion": "15.4.x-scala2.12",
                       "accessToken": {"type": "AzureKeyVaultSecret", "secretName": "databricks-pat",
                                       "store": {"referenceName": "ls_key_vault", "type": "LinkedServiceReference"}},
                       "newClusterNumOfWorker": "2"}}}


@pytest.fixture
def factory(tmp_path: Path) -> Path:
    folder = tmp_path / "factory"
    folder.mkdir()
    return folder


def outputs(tmp_path: Path, services: object, **extra: object) -> Path:
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps({"data_factory_name": "adf-dbp-dev", "data_factory_linked_services": services,
                                **extra}))
    return path


def run(*argv: str, capsys) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_files_are_written_as_adf_studio_writes_them(tmp_path, factory, capsys):
    source = outputs(tmp_path, {"ls_key_vault": VAULT, "ls_databricks": DATABRICKS})
    code, out, _ = run("--outputs", str(source), "--factory-dir", str(factory), capsys=capsys)
    assert code == 0
    assert out.splitlines() == [f"{factory}/linkedService/ls_databricks.json: written",
                                f"{factory}/linkedService/ls_key_vault.json: written"]
    text = (factory / "linkedService" / "ls_key_vault.json").read_text(encoding="utf-8")
    assert text == ('{\n\t"name": "ls_key_vault",\n\t"properties": {\n\t\t"annotations": [\n'
                    f'\t\t\t"{OWNED_ANNOTATION}"\n\t\t],\n\t\t"type": "AzureKeyVault",\n\t\t"typeProperties": {{\n'
                    '\t\t\t"baseUrl": "https://kv-dbp-dev.vault.azure.net/"\n\t\t}\n\t}\n}')
    written = json.loads((factory / "linkedService" / "ls_databricks.json").read_text(encoding="utf-8"))
    assert written == DATABRICKS


def test_exporting_an_unchanged_stage_again_changes_no_byte(tmp_path, factory, capsys):
    source = outputs(tmp_path, {"ls_key_vault": VAULT, "ls_databricks": DATABRICKS})
    run("--outputs", str(source), "--factory-dir", str(factory), capsys=capsys)
    path = factory / "linkedService" / "ls_databricks.json"
    before = (path.read_bytes(), path.stat().st_mtime_ns)
    code, out, _ = run("--outputs", str(source), "--factory-dir", str(factory), capsys=capsys)
    assert code == 0 and out.count(": unchanged") == 2
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before


def test_an_earlier_export_the_program_no_longer_owns_is_removed_and_authored_files_are_kept(tmp_path, factory, capsys):
    (factory / "linkedService").mkdir()
    renamed = {**VAULT, "name": "ls_old_vault"}
    (factory / "linkedService" / "ls_old_vault.json").write_text(json.dumps(renamed))
    authored = {"name": "ls_sql", "properties": {"type": "AzureSqlDatabase", "typeProperties": {}}}
    (factory / "linkedService" / "ls_sql.json").write_text(json.dumps(authored))
    code, out, _ = run("--outputs", str(outputs(tmp_path, {"ls_key_vault": VAULT})), "--factory-dir", str(factory),
                       capsys=capsys)
    assert code == 0
    assert f"{factory}/linkedService/ls_old_vault.json: removed" in out
    assert sorted(p.name for p in (factory / "linkedService").iterdir()) == ["ls_key_vault.json", "ls_sql.json"]


@pytest.mark.parametrize(("content", "expected"), [
    (None, "no such file (write it with `pulumi stack output --json"),
    ("{not json", "outputs.json:1:2: invalid JSON: Expecting property name"),
    (json.dumps({"key_vault_uri": "https://kv/"}), "no 'data_factory_linked_services' output"),
    (json.dumps({"data_factory_linked_services": {}}), "must be an object of linked service name -> ADF JSON"),
    (json.dumps({"data_factory_linked_services": {"../../etc/x": VAULT}}), "not a linked service name"),
    (json.dumps({"data_factory_linked_services": {"ls_key_vault": {**VAULT, "name": "other"}}}),
     "not a linked service of this program"),
    (json.dumps({"data_factory_linked_services": {"ls_x": {"name": "ls_x", "properties": {"type": "AzureKeyVault"}}}}),
     "not a linked service of this program"),
    (json.dumps({"data_factory_linked_services": {"ls_key_vault": {**VAULT, "properties": {
        **VAULT["properties"], "typeProperties": {"baseUrl": "[secret]"}}}}}), "holds a masked secret"),
], ids=["missing", "not-json", "no-output", "empty", "path", "wrong-name", "no-annotation", "secret"])
def test_an_outputs_file_problem_is_one_line_and_exit_status_2(tmp_path, factory, capsys, content, expected):
    source = tmp_path / "outputs.json"
    if content is not None:
        source.write_text(content)
    code, out, err = run("--outputs", str(source), "--factory-dir", str(factory), capsys=capsys)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and expected in err, err
    assert not (factory / "linkedService").exists(), "nothing is written from a bad outputs file"


def test_usage_problems_are_one_line_and_exit_status_2(tmp_path, capsys):
    code, _, err = run(capsys=capsys)
    assert code == 2 and err.strip().splitlines() == [
        "export-linked-services: the following arguments are required: --outputs "
        "(see python -m ops export-linked-services --help)"]
    code, _, err = run("--outputs", str(outputs(tmp_path, {"ls_key_vault": VAULT})), "--factory-dir",
                       str(tmp_path / "nowhere"), capsys=capsys)
    assert code == 2 and "nowhere: no such directory" in err and len(err.strip().splitlines()) == 1
