"""Notebooks under ``notebooks/``: found, read safely and mapped to workspace paths; references to them checked.

Pure logic, no Pulumi resources. ``notebooks/sales/01_ingest.py`` deploys to ``<root>/sales/01_ingest`` (the
extension decides the language), so with the default root ``/Shared`` the db-dsc-jobs paths keep working.
Every problem names its file; all problems of a run are raised together as one ``UserError``.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import stat
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from core.errors import UserError
from core.job_checks import NAME_RULE, text_problem
from core.messages import shown
from core.safe_json import parse_json

# Extension (lower case) -> (language, import format). Jupyter notebooks carry their language in their metadata.
NOTEBOOK_KINDS: Mapping[str, tuple[str | None, str]] = {
    ".py": ("PYTHON", "SOURCE"),
    ".sql": ("SQL", "SOURCE"),
    ".scala": ("SCALA", "SOURCE"),
    ".r": ("R", "SOURCE"),
    ".ipynb": (None, "JUPYTER"),
}
# The Workspace import API refuses larger objects (10 MB); refusing here names the file before any upload.
MAX_NOTEBOOK_BYTES = 10 * 1024 * 1024
# Documentation may sit next to the notebooks; it is not deployed.
IGNORED_SUFFIXES = (".md",)
# Azure Databricks also accepts workspace paths with the workspace file system prefix.
_WSFS_PREFIX = "/Workspace/"


@dataclass(frozen=True)
class NotebookFile:
    """One notebook file, read and checked, ready to become a ``databricks.Notebook``."""

    source: str  # file as the provider reads it: relative to the project directory, e.g. "notebooks/x/y.py"
    display: str  # file as shown to the user, e.g. "notebooks/x/y.py"
    workspace_path: str  # e.g. "/Shared/x/y"
    resource_name: str  # stable logical name from the path, e.g. "x-y"
    language: str | None  # PYTHON, SQL, SCALA or R; None for Jupyter (the notebook's metadata decides)
    format: str  # SOURCE or JUPYTER
    md5: str  # hex MD5 of the file's bytes: the provider's own change marker, so an edit is an update


def load_notebooks(notebooks_dir: Path, *, root: str, relative_to: Path | None = None) -> list[NotebookFile]:
    """Every notebook under ``notebooks_dir``, sorted by workspace path; raise ``UserError`` listing every
    problem in every file. A missing ``notebooks_dir`` holds no notebooks."""
    scan = scan_notebooks(notebooks_dir, root=root, relative_to=relative_to)
    if scan.problems:
        raise UserError(scan.problems)
    return scan.notebooks


@dataclass(frozen=True)
class NotebookScan:
    """What ``scan_notebooks`` found."""

    notebooks: list[NotebookFile]  # the notebooks without problems, sorted by workspace path
    problems: list[str]  # one line per problem, each naming its file
    claimed_paths: frozenset[str]  # workspace paths of every notebook file, with problems or not


def scan_notebooks(notebooks_dir: Path, *, root: str, relative_to: Path | None = None) -> NotebookScan:
    """Like ``load_notebooks``, but returns the problems instead of raising, with the notebooks that are fine.

    ``claimed_paths`` lets reference checks skip notebooks that exist but have problems of their own, so one
    broken file is reported once, not again by every job that runs it."""
    notebooks_dir = Path(notebooks_dir)
    if not notebooks_dir.is_dir():
        return NotebookScan([], [], frozenset())
    base = notebooks_dir.resolve()
    problems: list[str] = []
    notebooks: list[NotebookFile] = []
    by_workspace_path: dict[str, str] = {}
    by_resource_name: dict[str, str] = {}
    for path, relative in _candidate_files(notebooks_dir, problems, relative_to):
        display = _display(path, notebooks_dir, relative_to)
        kind = NOTEBOOK_KINDS.get(PurePosixPath(relative).suffix.lower())
        if kind is None:
            allowed = ", ".join(NOTEBOOK_KINDS)
            problems.append(f"{display}: not a notebook: notebooks/ holds {allowed} files "
                            "(Markdown files are ignored); move other files elsewhere")
            continue
        named = _path_problem(str(PurePosixPath(relative).with_suffix("")))
        if named is not None:
            problems.append(f"{display}: {named}; the file's path becomes the notebook's workspace path, so each "
                            f"directory and file name must be {NAME_RULE}; rename it")
            continue
        content = _read(path, base, display, problems)
        stem = str(PurePosixPath(relative).with_suffix(""))
        workspace_path = f"{root.rstrip('/')}/{stem}"
        if workspace_path in by_workspace_path:
            problems.append(f"{display}: deploys to {workspace_path}, as does {by_workspace_path[workspace_path]}; "
                            "a workspace path holds one notebook, so rename one of the files")
            continue
        by_workspace_path[workspace_path] = display
        resource_name = _resource_name(stem)
        if resource_name is None:
            problems.append(f"{display}: cannot derive a logical name from the file name; "
                            "use letters or digits in file and directory names")
        elif resource_name in by_resource_name:
            problems.append(f"{display}: logical name {resource_name!r} is also derived from "
                            f"{by_resource_name[resource_name]}; rename one of the files")
        else:
            by_resource_name[resource_name] = display
        if content is None or resource_name is None:
            continue
        language, notebook_format = kind
        if notebook_format == "JUPYTER" and not _is_jupyter(content, display, problems):
            continue
        notebooks.append(NotebookFile(
            source=_source(path, relative_to),
            display=display,
            workspace_path=workspace_path,
            resource_name=resource_name,
            language=language,
            format=notebook_format,
            md5=hashlib.md5(content, usedforsecurity=False).hexdigest(),
        ))
    notebooks.sort(key=lambda notebook: notebook.workspace_path)
    return NotebookScan(notebooks, problems, frozenset(by_workspace_path))


def check_notebook_references(
    references: Iterable[tuple[str, str]], deployed: Collection[str], external: Collection[str]
) -> list[str]:
    """One problem per reference to a notebook that is neither deployed nor external.

    ``references`` are ``(source, path)`` pairs, e.g. ``("jobs/daily_ingest.json", "/Shared/ingest/x")`` or
    ``("factory/pipeline/jit.json: activities[0]", "/Shared/jit/01_extract")``. ``deployed`` are the workspace
    paths of the deployed notebooks; ``external`` the ``externalNotebooks`` entries, each a notebook or a
    folder (every notebook under it). Paths starting with ``@`` are Data Factory expressions, known only when
    the pipeline runs: they are skipped. ``/Workspace/Shared/x`` and ``/Shared/x`` are the same notebook.
    """
    deployed_paths = {normalize_workspace_path(path) for path in deployed}
    external_paths = [normalize_workspace_path(path) for path in external]
    problems = []
    for source, path in references:
        if not isinstance(path, str) or path.startswith("@"):
            continue
        named = _path_problem(path)
        if named is not None:
            problems.append(f"{source}: notebook path {shown(path)}: {named}; each part of a workspace path is "
                            f"{NAME_RULE}")
            continue
        if not path.startswith("/"):
            problems.append(f"{source}: notebook path {shown(path)} must be an absolute workspace path, "
                            "e.g. /Shared/ingest/daily_erp_extract")
            continue
        normalized = normalize_workspace_path(path)
        if normalized in deployed_paths or any(_is_within(normalized, entry) for entry in external_paths):
            continue
        close = difflib.get_close_matches(normalized, sorted(deployed_paths), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        problems.append(f"{source}: notebook {shown(path)} is neither deployed from notebooks/ nor listed in "
                        f"externalNotebooks; {hint}add the notebook under notebooks/ (its path there, without "
                        "the extension, follows notebooksRoot) or list it in externalNotebooks")
    return problems


def job_notebook_references(source: str, settings: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(source, path)`` for every workspace notebook a job's tasks run.

    Tasks that take their notebook from git (``notebook_task.source: GIT``, or no source on a job with
    ``git_source``) name a path inside the repository, not the workspace: they are not references.
    """
    from_git = bool(settings.get("git_source"))
    return [(source, path) for path in _notebook_paths(settings, from_git)]


def normalize_workspace_path(path: str) -> str:
    """``/Workspace/Shared/x/`` -> ``/Shared/x``: the form paths are compared in."""
    if path.startswith(_WSFS_PREFIX):
        path = path[len(_WSFS_PREFIX) - 1:]
    return path.rstrip("/") or "/"


def _notebook_paths(value: Any, from_git: bool) -> Iterator[str]:
    if isinstance(value, Mapping):
        task = value.get("notebook_task")
        if isinstance(task, Mapping) and isinstance(task.get("notebook_path"), str):
            source = task.get("source") or ("GIT" if from_git else "WORKSPACE")
            if source != "GIT":
                yield task["notebook_path"]
        for key, item in value.items():
            if key != "notebook_task":
                yield from _notebook_paths(item, from_git)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _notebook_paths(item, from_git)


def _is_within(path: str, entry: str) -> bool:
    return path == entry or path.startswith(entry.rstrip("/") + "/")


def _candidate_files(
    notebooks_dir: Path, problems: list[str], relative_to: Path | None
) -> list[tuple[Path, str]]:
    """(file, path relative to notebooks_dir) for every entry that may be a notebook, sorted.

    Dot-files, dot-directories, ``__pycache__`` and Markdown are skipped. Directory symlinks are not
    followed (they are reported): a notebook's workspace path must come from where it really is.
    """
    found = []
    for directory, subdirectories, names in os.walk(notebooks_dir):
        kept = []
        for name in sorted(subdirectories):
            if name.startswith(".") or name == "__pycache__":
                continue
            if Path(directory, name).is_symlink():
                problems.append(f"{_display(Path(directory, name), notebooks_dir, relative_to)}: is a symbolic "
                                "link to a directory, which is not followed; move the notebooks into notebooks/")
                continue
            kept.append(name)
        subdirectories[:] = kept
        for name in names:
            if name.startswith(".") or name.lower().endswith(IGNORED_SUFFIXES):
                continue
            path = Path(directory, name)
            found.append((path, path.relative_to(notebooks_dir).as_posix()))
    return sorted(found, key=lambda item: item[1])


def _read(path: Path, base: Path, display: str, problems: list[str]) -> bytes | None:
    """The file's bytes, or None with the problem added: a regular file inside notebooks/, capped, UTF-8."""
    try:
        if path.is_symlink():
            target = path.resolve(strict=True)
            if not target.is_relative_to(base):
                problems.append(f"{display}: is a symbolic link to a file outside notebooks/; "
                                "copy the notebook into notebooks/ instead")
                return None
        info = path.stat()
    except FileNotFoundError:
        what = "is a symbolic link to nothing (the target does not exist)" if path.is_symlink() else "disappeared"
        problems.append(f"{display}: {what}")
        return None
    except (OSError, RuntimeError) as error:  # RuntimeError: a symlink loop
        problems.append(f"{display}: cannot be read: {getattr(error, 'strerror', None) or error}")
        return None
    if not stat.S_ISREG(info.st_mode):
        problems.append(f"{display}: is not a regular file; notebooks/ holds notebook files only")
        return None
    if info.st_size > MAX_NOTEBOOK_BYTES:
        problems.append(f"{display}: is {info.st_size} bytes; a notebook may be at most {MAX_NOTEBOOK_BYTES} bytes "
                        "(10 MiB, the Workspace import limit)")
        return None
    try:
        with path.open("rb") as stream:
            content = stream.read(MAX_NOTEBOOK_BYTES + 1)
    except OSError as error:
        problems.append(f"{display}: cannot be read: {error.strerror or error}")
        return None
    if len(content) > MAX_NOTEBOOK_BYTES:  # grew after stat
        problems.append(f"{display}: is larger than {MAX_NOTEBOOK_BYTES} bytes (10 MiB, the Workspace import limit)")
        return None
    if not content.strip():
        problems.append(f"{display}: is empty; a notebook needs at least one cell")
        return None
    try:
        content.decode("utf-8")
    except UnicodeDecodeError as error:
        problems.append(f"{display}: is not UTF-8 text (byte 0x{content[error.start]:02x} at offset {error.start}); "
                        "save it as UTF-8")
        return None
    return content


def _is_jupyter(content: bytes, display: str, problems: list[str]) -> bool:
    """Read strictly (core.safe_json): no NaN, no duplicate keys, bounded nesting and digits, one problem per
    defect naming the file; then the shape of a Jupyter notebook (nbformat 4: a 'cells' list)."""
    found: list[str] = []
    document = parse_json(content.decode("utf-8-sig"), source=display, problems=found)
    if found:
        problems.extend(f"{problem}; a .ipynb file must be a Jupyter notebook (JSON)" for problem in found)
        return False
    if not isinstance(document, dict) or not isinstance(document.get("cells"), list):
        problems.append(f"{display}: is JSON but not a Jupyter notebook (an object with a 'cells' list)")
        return False
    version = document.get("nbformat")
    if version is not None and (isinstance(version, bool) or not isinstance(version, int) or version < 4):
        problems.append(f"{display}: nbformat {shown(version)} is not a Jupyter notebook format Databricks imports "
                        "(nbformat 4); save it with a current Jupyter")
        return False
    return True


def _path_problem(relative: str) -> str | None:
    """What is wrong with a notebook's path (inside notebooks/, or in the workspace) as a workspace path, or
    None. A control character or a space at either end of a name makes a notebook nobody can type, and one
    that looks like another in the UI."""
    for part in PurePosixPath(relative).parts:
        problem = text_problem(part)
        if problem:
            return f"{shown(part)} {problem}"
    return None


def _resource_name(stem: str) -> str | None:
    """``sales/01_Ingest POS`` -> ``sales-01-ingest-pos``: stable, lower case, letters, digits and dashes."""
    slug = "".join(char if char.isascii() and char.isalnum() else "-" for char in stem.lower())
    slug = "-".join(part for part in slug.split("-") if part)
    return slug or None


def _source(path: Path, relative_to: Path | None) -> str:
    """The path the provider opens. Relative to the project directory (where Pulumi starts providers), so
    state and plans are the same on every machine; absolute only for a directory outside the project."""
    if relative_to is not None:
        try:
            return path.absolute().relative_to(Path(relative_to).absolute()).as_posix()
        except ValueError:
            pass
    return path.absolute().as_posix()


def _display(path: Path, notebooks_dir: Path, relative_to: Path | None) -> str:
    """The file as shown in a message; quoted when it holds a newline or another unprintable character, so
    that a problem stays one line."""
    text = None
    if relative_to is not None:
        try:
            text = path.absolute().relative_to(Path(relative_to).absolute()).as_posix()
        except ValueError:
            pass
    if text is None:
        text = (Path(notebooks_dir.name) / path.relative_to(notebooks_dir)).as_posix()
    return text if text.isprintable() else repr(text)
