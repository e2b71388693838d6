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
from core.messages import key_path, shown
from core.safe_load import read_bytes, read_json_document
from ops.outputs import read_outputs, source_of
from ops.usage import USAGE, Parser, UsageError, one_line_problem

PROG = "python -m ops export-linked-services"
OUTPUT_NAME = "data_factory_linked_services"
MAX_USAGE_LINE = 4000
"""The usage error line is cut here, whatever the number of problems (each is cut at 1,000 characters)."""
_FILE_SAFE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_ -]{0,139}")
MAX_PROBLEMS_SHOWN = 10
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


def _linked_services(outputs_file: Path, problems: list[str]) -> dict[str, dict] | None:
    """The stage's linked services by name, or None with every problem of the file appended as one."""
    outputs = read_outputs(outputs_file, problems)
    if outputs is None:
        return None
    source = source_of(outputs_file)
    if OUTPUT_NAME not in outputs:
        problems.append(f"{source}: no {OUTPUT_NAME!r} output; write the file with `pulumi stack output -s <stage> "
                        "--json` after `pulumi up` of a stage this program deployed")
        return None
    services = outputs[OUTPUT_NAME]
    if not isinstance(services, dict) or not services:
        problems.append(f"{source}: {OUTPUT_NAME} must be an object of linked service name -> ADF JSON")
        return None
    found = []
    for name, document in services.items():
        where = key_path(OUTPUT_NAME, name)
        if not _FILE_SAFE_NAME.fullmatch(name):
            found.append(f"{where}: not a linked service name this program writes (letters, digits, _, - and "
                         "spaces, at most 140)")
            continue
        properties = document.get("properties") if isinstance(document, dict) else None
        annotations = properties.get("annotations") if isinstance(properties, dict) else None
        if (not isinstance(properties, dict) or document.get("name") != name
                or not isinstance(annotations, list) or OWNED_ANNOTATION not in annotations):
            found.append(f"{where}: not a linked service of this program (needs name {shown(name)}, properties "
                         f"and the annotation {OWNED_ANNOTATION!r})")
        elif "[secret]" in json.dumps(document):
            found.append(f"{where}: holds a masked secret; the program's linked services hold Key Vault "
                         "references only, so this is not its output")
    if found:
        problems.append(f"{source}: " + "; ".join(_capped(found)))
        return None
    return services


def _capped(found: list[str]) -> list[str]:
    if len(found) <= MAX_PROBLEMS_SHOWN:
        return found
    return [*found[:MAX_PROBLEMS_SHOWN], f"and {len(found) - MAX_PROBLEMS_SHOWN:,} more problems like these"]


def _linked_service_folder(factory_dir: Path, problems: list[str]) -> Path | None:
    """factory/linkedService, when factory/ is a directory and linkedService, if there, a real one in it."""
    if not factory_dir.is_dir():
        problems.append(f"{source_of(factory_dir)}: no such directory; pass --factory-dir, the folder the dev "
                        "factory's git configuration names as rootFolder")
        return None
    folder = factory_dir / "linkedService"
    if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
        problems.append(f"{source_of(folder)}: is a symbolic link or not a directory; nothing is written through it")
        return None
    return folder


def _exported_by_us(path: Path) -> bool:
    document = read_json_document(path, source=str(path), root=path.parent, problems=[])
    annotations = document.get("properties", {}).get("annotations") if isinstance(document, dict) else None
    return isinstance(annotations, list) and OWNED_ANNOTATION in annotations


def _unchanged(path: Path, text: str) -> bool:
    # Read safely: the folder is a git checkout anyone may have put a FIFO or a huge file into.
    current = read_bytes(path, source=str(path), root=path.parent, problems=[])
    return current == text.encode("utf-8")


def check(outputs_file: Path | None, factory_dir: Path | None, problems: list[str]
          ) -> tuple[dict[str, dict], Path] | None:
    """(linked services, folder to write) or None with every problem of the outputs file and the folder."""
    services = _linked_services(outputs_file, problems) if outputs_file is not None else None
    folder = _linked_service_folder(factory_dir, problems) if factory_dir is not None else None
    if services is None or folder is None:
        return None
    # Writing through a link would overwrite whatever it points at, outside the factory's folder.
    linked = [f"{source_of(path)}: is a symbolic link or not a regular file; it is not overwritten"
              for path in (folder / f"{name}.json" for name in sorted(services))
              if path.is_symlink() or (path.exists() and not path.is_file())]
    problems.extend(linked)
    return None if linked else (services, folder)


def export(outputs_file: Path, factory_dir: Path) -> list[str]:
    """Write the files; return one line per file saying what happened. ExportError (one line) listing every
    problem with the outputs file and the folder when nothing can be written."""
    problems: list[str] = []
    checked = check(outputs_file, factory_dir, problems)
    if checked is None:
        raise ExportError("; ".join(problems))
    services, folder = checked
    folder.mkdir(exist_ok=True)
    report = []
    for name in sorted(services):
        path = folder / f"{name}.json"
        text = studio_json(services[name])
        if path.is_file() and _unchanged(path, text):
            report.append(f"{path}: unchanged")
            continue
        path.write_text(text, encoding="utf-8")
        report.append(f"{path}: written")
    # A linked service the program no longer owns (renamed in config) would otherwise stay behind, marked.
    for path in sorted(folder.glob("*.json")):
        if path.stem not in services and not path.is_symlink() and _exported_by_us(path):
            path.unlink()
            report.append(f"{path}: removed (exported earlier; the program no longer owns {shown(path.stem)})")
    return report


def _parser() -> Parser:
    parser = Parser(
        prog=PROG,
        description="Write the program's Data Factory linked services, with a deployed stage's values, into "
        "factory/linkedService/ (ADF Studio's format), for the git-linked stage's authors.",
    )
    parser.add_argument("--outputs", type=Path, required=True,
                        help="file holding `pulumi stack output -s <stage> --json` of the deployed stage")
    parser.add_argument("--factory-dir", type=Path, default=Path("factory"),
                        help="the factory's git folder (default: factory)")
    return parser


def _paths_given(argv: list[str]) -> tuple[Path | None, Path | None]:
    """--outputs and --factory-dir as written, read leniently once the command line was refused, so that their
    problems are reported with it."""
    lenient = Parser(prog=PROG, add_help=False, allow_abbrev=False)
    lenient.add_argument("--outputs", type=Path)
    lenient.add_argument("--factory-dir", type=Path, default=Path("factory"))
    try:
        given = lenient.parse_known_args(argv)[0]
    except UsageError:  # an option without its value: nothing more to check
        return None, None
    return given.outputs, given.factory_dir


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        try:
            args = _parser().parse_args(argv)
        except UsageError as error:
            problems = [str(error)]
            check(*_paths_given(argv), problems)
            raise ExportError("; ".join(problems)) from None
        lines = export(args.outputs, args.factory_dir)
    except UsageError as error:
        print(f"export-linked-services: {one_line_problem(str(error), MAX_USAGE_LINE)}", file=sys.stderr)
        return USAGE
    except OSError as error:
        print(f"export-linked-services: {error.filename}: {error.strerror}", file=sys.stderr)
        return USAGE
    print("\n".join(lines))
    return 0
