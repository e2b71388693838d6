"""Write the program's linked services into factory/linkedService/, with a deployed stage's values.

    pulumi stack output -s dev --json > dev-outputs.json
    python -m ops export-linked-services --outputs dev-outputs.json [--factory-dir factory]

ADF authors of the git-linked stage (dev) then use the same linked services as the program publishes into
test and prod, and nobody edits linked-service JSON by hand: the same files publish unchanged elsewhere
(the program puts its own definition, with that stage's values, in their place). The stage's values (vault
URI, workspace URL) exist only after deployment, so the command reads the stack output
``data_factory_linked_services`` instead of planning. Files are written as ADF Studio writes them (tab
indentation, no final newline) with a fixed key order, so exporting an unchanged stage changes no byte.
Exit status: 0 done, 2 with one line for a usage or outputs-file problem.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from core.factory.linked_services import OWNED_ANNOTATION
from core.safe_load import read_json_document
from ops.outputs import load_outputs
from ops.usage import USAGE, Parser, UsageError

OUTPUT_NAME = "data_factory_linked_services"
_FILE_SAFE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_ -]{0,139}$")
# ADF Studio's order of a linked service's keys; anything else follows, sorted.
_ORDER = {"": ("name", "type", "properties"), "properties": ("annotations", "type", "typeProperties")}


class ExportError(UsageError):
    """A usage or outputs-file problem: one line for the user, exit status 2."""


def studio_json(document: Any) -> str:
    """``document`` as ADF Studio writes a file: tabs, ``": "``, unescaped non-ASCII, no final newline."""
    return json.dumps(_ordered(document, ""), indent="\t", ensure_ascii=False)


def _ordered(value: Any, where: str) -> Any:
    if isinstance(value, dict):
        first = [key for key in _ORDER.get(where, ()) if key in value]
        rest = sorted(key for key in value if key not in first)
        return {key: _ordered(value[key], key if where == "" else f"{where}.{key}") for key in first + rest}
    if isinstance(value, list):
        return [_ordered(item, where) for item in value]
    return value


def _linked_services(outputs_file: Path) -> dict[str, dict]:
    outputs = load_outputs(outputs_file)
    if OUTPUT_NAME not in outputs:
        raise ExportError(f"{outputs_file}: no {OUTPUT_NAME!r} output; write the file with `pulumi stack output "
                          f"-s <stage> --json` after `pulumi up` of a stage this program deployed")
    services = outputs[OUTPUT_NAME]
    if not isinstance(services, dict) or not services:
        raise ExportError(f"{outputs_file}: {OUTPUT_NAME} must be an object of linked service name -> ADF JSON")
    for name, document in services.items():
        if not _FILE_SAFE_NAME.match(name):
            raise ExportError(f"{outputs_file}: {OUTPUT_NAME}.{name}: not a linked service name this program writes")
        properties = document.get("properties") if isinstance(document, dict) else None
        if (not isinstance(properties, dict) or document.get("name") != name
                or OWNED_ANNOTATION not in (properties.get("annotations") or [])):
            raise ExportError(f"{outputs_file}: {OUTPUT_NAME}.{name}: not a linked service of this program "
                              f"(needs name {name!r}, properties and the annotation {OWNED_ANNOTATION!r})")
        if "[secret]" in json.dumps(document):
            raise ExportError(f"{outputs_file}: {OUTPUT_NAME}.{name}: holds a masked secret; the program's linked "
                              "services hold Key Vault references only, so this is not its output")
    return services


def _exported_by_us(path: Path) -> bool:
    document = read_json_document(path, source=str(path), root=path.parent, problems=[])
    annotations = document.get("properties", {}).get("annotations") if isinstance(document, dict) else None
    return isinstance(annotations, list) and OWNED_ANNOTATION in annotations


def export(outputs_file: Path, factory_dir: Path) -> list[str]:
    """Write the files; return one line per file saying what happened."""
    services = _linked_services(outputs_file)
    if not factory_dir.is_dir():
        raise ExportError(f"{factory_dir}: no such directory; pass --factory-dir, the folder the dev factory's "
                          "git configuration names as rootFolder")
    folder = factory_dir / "linkedService"
    folder.mkdir(exist_ok=True)
    report = []
    for name in sorted(services):
        path = folder / f"{name}.json"
        text = studio_json(services[name])
        if path.is_file() and path.read_bytes() == text.encode("utf-8"):
            report.append(f"{path}: unchanged")
            continue
        path.write_text(text, encoding="utf-8")
        report.append(f"{path}: written")
    # A linked service the program no longer owns (renamed in config) would otherwise stay behind, marked.
    for path in sorted(folder.glob("*.json")):
        if path.stem not in services and _exported_by_us(path):
            path.unlink()
            report.append(f"{path}: removed (exported earlier; the program no longer owns {path.stem!r})")
    return report


def _parser() -> Parser:
    parser = Parser(
        prog="python -m ops export-linked-services",
        description="Write the program's Data Factory linked services, with a deployed stage's values, into "
        "factory/linkedService/ (ADF Studio's format), for the git-linked stage's authors.",
    )
    parser.add_argument("--outputs", type=Path, required=True,
                        help="file holding `pulumi stack output -s <stage> --json` of the deployed stage")
    parser.add_argument("--factory-dir", type=Path, default=Path("factory"),
                        help="the factory's git folder (default: factory)")
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
        lines = export(args.outputs, args.factory_dir)
    except UsageError as error:
        print(f"export-linked-services: {error}", file=sys.stderr)
        return USAGE
    except OSError as error:
        print(f"export-linked-services: {error.filename}: {error.strerror}", file=sys.stderr)
        return USAGE
    print("\n".join(lines))
    return 0
