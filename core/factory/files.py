"""Walking factory/ and reading each file: what is an object, what is recognised and ignored, what is refused."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import shown
from core.factory import kinds as k
from core.safe_load import read_json_document

ARM_TYPES = {
    "linkedService": "linkedservices", "dataset": "datasets", "dataflow": "dataflows", "pipeline": "pipelines",
    "trigger": "triggers", "integrationRuntime": "integrationRuntimes", "credential": "credentials",
    "adfcdc": "adfcdcs", "managedVirtualNetwork": "managedVirtualNetworks",
    "managedPrivateEndpoint": "managedVirtualNetworks/managedPrivateEndpoints",
}
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# What ADF Studio may write at the top level of factory/<name>.json (the factory file).
_FACTORY_TOP_LEVEL = frozenset({"name", "properties", "location", "identity", "tags", "type"})


@dataclass
class ObjectFile:
    """One JSON file of factory/ and, once read, its document."""

    kind: k.Kind | None  # None: the factory file
    path: Path
    source: str
    document: dict[str, Any] = field(default_factory=dict)
    parent: str | None = None
    """The name of the object whose folder holds this one (a managed private endpoint's network)."""


class FolderReader:
    """Finds the object files of factory/ and reads them, collecting problems (each naming its file)."""

    def __init__(self, root: Path, relative_to: Path | None) -> None:
        self.root = root
        self.relative_to = relative_to
        self.problems: list[str] = []
        self.ignored: list[str] = []

    def show(self, path: Path) -> str:
        """``path`` for a message: relative, and on one line whatever characters its name holds."""
        base = self.relative_to or self.root.parent
        try:
            text = path.relative_to(base).as_posix()
        except ValueError:
            text = path.as_posix()
        return _CONTROL.sub(lambda match: match.group().encode("unicode_escape").decode(), text)

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
                if entry.name in k.ROOT_FOLDERS:
                    files += self._kind_folder(entry, k.ROOT_FOLDERS[entry.name])
                elif entry.name == k.FACTORY_FOLDER:
                    factory_files += [file for file in self._json_files(entry, "factory file")]
                elif entry.name in k.IGNORED_ROOT_FOLDERS:
                    self.ignored.append(f"{shown}/: {k.IGNORED_ROOT_FOLDERS[entry.name]}")
                else:
                    self.problems.append(
                        f"{shown}/: unknown folder; factory/ holds ADF Studio's folders "
                        f"({', '.join(sorted([*k.ROOT_FOLDERS, k.FACTORY_FOLDER]))}) and "
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
        if not entry.is_symlink():
            return True
        try:
            target = entry.resolve(strict=False)
        except (OSError, RuntimeError):  # RuntimeError: a loop of links (before Python 3.13)
            self.problems.append(f"{shown}: is a symbolic link that cannot be resolved (a loop of links?)")
            return False
        if not target.is_relative_to(self.root.resolve()):
            self.problems.append(f"{shown}: is a symbolic link to {target}, outside {self.root.name}/")
            return False
        return True

    def _json_files(self, folder: Path, what: str, nested: bool = False) -> Iterable[Path]:
        """The .json files of ``folder``, and with ``nested`` its sub-folders (an object's own folder)."""
        for entry in sorted(folder.iterdir()):
            shown = self.show(entry)
            if entry.name.startswith(".") or not self._inside(entry, shown):
                continue
            if entry.is_dir() and nested:
                yield entry
            elif entry.is_dir():
                self.problems.append(f"{shown}/: ADF Studio writes no folders inside {folder.name}/ (a {what}'s "
                                     "folder in ADF Studio is its `folder` property); move its files up")
            elif entry.suffix != ".json":
                self.problems.append(f"{shown}: not a .json file; {folder.name}/ holds one {what} per .json file")
            else:
                yield entry

    def _kind_folder(self, folder: Path, kind: k.Kind) -> list[ObjectFile]:
        children = {child.folder: child for child in k.KINDS if child.parent == kind.folder}
        files = []
        for path in self._json_files(folder, kind.label, nested=bool(children)):
            if path.is_dir():
                files += self._child_files(path, children)
            else:
                files.append(ObjectFile(kind, path, self.show(path)))
        return files

    def _child_files(self, parent: Path, children: dict[str, k.Kind]) -> list[ObjectFile]:
        """``<kind folder>/<object name>/``: the folders of the objects inside that object (its endpoints)."""
        files = []
        for entry in sorted(parent.iterdir()):
            shown = self.show(entry)
            if entry.name.startswith(".") or not self._inside(entry, shown):
                continue
            if entry.is_dir() and entry.name in children:
                kind = children[entry.name]
                files += [ObjectFile(kind, path, self.show(path), parent=parent.name)
                          for path in self._json_files(entry, kind.label)]
            else:
                self.problems.append(f"{shown}: {parent.parent.name}/{parent.name}/ holds only "
                                     f"{', '.join(f'{name}/' for name in sorted(children))}, as ADF Studio writes it")
        return files

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
            problems.append(f"name: {shown(name)} does not match the file name {shown(file.path.name)}; ADF Studio "
                            f"names each file after its object: rename the file to {shown(name + '.json')} or fix "
                            "the name")
        elif file.kind is not None and (wrong := k.name_problem(file.kind, name)):
            # Reported, but the object is still read: what references it is not also reported as missing.
            self.problems.append(f"{file.source}: name: {shown(name)} {wrong}")
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

