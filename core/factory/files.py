"""Walking factory/ and reading each file: what is an object, what is recognised and ignored, what is refused."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.factory import kinds as k
from core.safe_load import read_json_document

ARM_TYPES = {
    "linkedService": "linkedservices", "dataset": "datasets", "dataflow": "dataflows", "pipeline": "pipelines",
    "trigger": "triggers", "integrationRuntime": "integrationruntimes", "credential": "credentials",
    "adfcdc": "adfcdcs",
}
# What ADF Studio may write at the top level of factory/<name>.json (the factory file).
_FACTORY_TOP_LEVEL = frozenset({"name", "properties", "location", "identity", "tags", "type"})


@dataclass
class ObjectFile:
    """One JSON file of factory/ and, once read, its document."""

    kind: k.Kind | None  # None: the factory file
    path: Path
    source: str
    document: dict[str, Any] = field(default_factory=dict)


class FolderReader:
    """Finds the object files of factory/ and reads them, collecting problems (each naming its file)."""

    def __init__(self, root: Path, relative_to: Path | None) -> None:
        self.root = root
        self.relative_to = relative_to
        self.problems: list[str] = []
        self.ignored: list[str] = []

    def show(self, path: Path) -> str:
        base = self.relative_to or self.root.parent
        try:
            return path.relative_to(base).as_posix()
        except ValueError:
            return path.as_posix()

    # -- walking the folder ----------------------------------------------------------------------------

    def walk(self) -> tuple[list[ObjectFile], list[Path]]:
        files: list[ObjectFile] = []
        factory_files: list[Path] = []
        if not self.root.is_dir():
            return files, factory_files
        for entry in sorted(self.root.iterdir()):
            shown = self.show(entry)
            if entry.name.startswith("."):
                continue  # .gitignore and other dotfiles: git's, not ADF's
            if not self._inside(entry, shown):
                continue
            if entry.is_dir():
                if entry.name in k.BY_FOLDER:
                    files += self._kind_folder(entry, k.BY_FOLDER[entry.name])
                elif entry.name == k.FACTORY_FOLDER:
                    factory_files += [file for file in self._json_files(entry, "factory file")]
                elif entry.name in k.REFUSED_FOLDERS:
                    for path in sorted(p for p in entry.rglob("*") if p.is_file() and not p.name.startswith(".")):
                        label = ("managed private endpoint" if "managedPrivateEndpoint" in path.parts
                                 else "managed virtual network")
                        self.problems.append(f"{self.show(path)}: {label}: {k.REFUSED_FOLDERS[entry.name]}")
                elif entry.name in k.IGNORED_ROOT_FOLDERS:
                    self.ignored.append(f"{shown}/: {k.IGNORED_ROOT_FOLDERS[entry.name]}")
                else:
                    self.problems.append(
                        f"{shown}/: unknown folder; factory/ holds ADF Studio's folders "
                        f"({', '.join(sorted([*k.BY_FOLDER, k.FACTORY_FOLDER]))}), "
                        f"{', '.join(sorted(k.REFUSED_FOLDERS))} (refused) and "
                        f"{', '.join(sorted(k.IGNORED_ROOT_FOLDERS))}"
                    )
            elif entry.name in k.IGNORED_ROOT_FILES:
                self.ignored.append(f"{shown}: {k.IGNORED_ROOT_FILES[entry.name]}")
            elif entry.suffix.lower() == ".md":
                self.ignored.append(f"{shown}: documentation")
            else:
                self.problems.append(
                    f"{shown}: unknown file; factory/ holds ADF objects in their folders, and "
                    f"{', '.join(sorted(k.IGNORED_ROOT_FILES))} or *.md, which are not published"
                )
        return files, factory_files

    def _inside(self, entry: Path, shown: str) -> bool:
        if entry.is_symlink() and not entry.resolve().is_relative_to(self.root.resolve()):
            self.problems.append(f"{shown}: is a symbolic link to {entry.resolve()}, outside {self.root.name}/")
            return False
        return True

    def _json_files(self, folder: Path, what: str) -> Iterable[Path]:
        for entry in sorted(folder.iterdir()):
            shown = self.show(entry)
            if entry.name.startswith(".") or not self._inside(entry, shown):
                continue
            if entry.is_dir():
                self.problems.append(f"{shown}/: ADF Studio writes no folders inside {folder.name}/ (a {what}'s "
                                     "folder in ADF Studio is its `folder` property); move its files up")
            elif entry.suffix != ".json":
                self.problems.append(f"{shown}: not a .json file; {folder.name}/ holds one {what} per .json file")
            else:
                yield entry

    def _kind_folder(self, folder: Path, kind: k.Kind) -> list[ObjectFile]:
        return [ObjectFile(kind, path, self.show(path)) for path in self._json_files(folder, kind.label)]

    # -- one file ---------------------------------------------------------------------------------------

    def read(self, file: ObjectFile, arm_type: str) -> bool:
        count = len(self.problems)
        document = read_json_document(file.path, source=file.source, root=self.root, problems=self.problems)
        if len(self.problems) > count:
            return False
        if not isinstance(document, dict):
            self.problems.append(f"{file.source}: expected an object with name and properties, as ADF Studio writes")
            return False
        problems = []
        name = document.get("name")
        if not isinstance(name, str) or not name:
            problems.append("name: required, the object's name (the file name without .json)")
        elif name != file.path.stem:
            problems.append(f"name: {name!r} does not match the file name {file.path.name!r}; ADF Studio names "
                            f"each file after its object: rename the file to {name}.json or fix the name")
        if not isinstance(document.get("properties"), dict):
            problems.append("properties: required, an object")
        declared = document.get("type")
        if declared is not None and (not isinstance(declared, str) or declared.lower() != arm_type.lower()):
            problems.append(f"type: {declared!r} is not {arm_type!r}; is this file in the right folder?")
        allowed = _FACTORY_TOP_LEVEL if file.kind is None else {"name", "properties", "type"}
        for key in sorted(set(document) - allowed):
            problems.append(f"{key}: unknown top-level key; ADF Studio writes {', '.join(sorted(allowed))}")
        self.problems += [f"{file.source}: {problem}" for problem in problems]
        file.document = document
        return not problems

