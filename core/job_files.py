"""Finding and reading the files of ``jobs/`` and ``templates/``, through ``core.safe_load``.

Definitions and templates are regular files inside their directory: a symbolic link out of ``jobs/`` or
``templates/`` is refused by name and nothing of its target is read or shown; a FIFO, a device, a huge
or non-UTF-8 file is refused before it can hang or flood anything.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jinja2

from core.messages import shown
from core.safe_json import parse_json
from core.safe_load import read_text
from core.safe_yaml import parse_yaml

DEFINITION_SUFFIXES = (".json", ".yaml", ".yml")
# A template is a few KB; far beyond that is not a template.
MAX_TEMPLATE_BYTES = 1024 * 1024


class UnreadableTemplate(Exception):
    """A template (or a file it includes) that is not a regular UTF-8 file inside templates/."""


def definition_files(jobs_dir: Path, display: Callable[[Path, Path], str], problems: list[str]) -> list[Path]:
    """Definition files under ``jobs_dir``, recursively; other files (README.md) and dot-files are ignored.

    A directory link into ``jobs_dir`` is followed once; one leading out of it is refused by name (its
    files would otherwise vanish silently, or be read from anywhere).
    """
    if not jobs_dir.is_dir():
        return []
    root = jobs_dir.resolve()
    found = []
    for directory, names in _walk(jobs_dir, root, display, problems):
        found += [directory / name for name in names
                  if not name.startswith(".") and name.lower().endswith(DEFINITION_SUFFIXES)]
    return sorted(found, key=lambda path: path.relative_to(jobs_dir).as_posix())


def _walk(jobs_dir: Path, root: Path, display: Callable[[Path, Path], str], problems: list[str]
          ) -> Iterator[tuple[Path, list[str]]]:
    pending, visited = [jobs_dir], {root}
    while pending:
        directory = pending.pop()
        try:
            entries = sorted(os.scandir(directory), key=lambda entry: entry.name)
        except OSError as error:
            problems.append(f"{display(directory, jobs_dir)}/: cannot be listed: {error.strerror}")
            continue
        files = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            try:
                is_directory = entry.is_dir()  # follows a link
            except OSError:
                is_directory = False
            if not is_directory:
                files.append(entry.name)
                continue
            try:
                real = Path(entry.path).resolve(strict=True)
            except (OSError, RuntimeError):
                problems.append(f"{display(Path(entry.path), jobs_dir)}/: cannot be resolved (a symbolic link "
                                "loop?); its files are not read")
                continue
            if not real.is_relative_to(root):
                problems.append(f"{display(Path(entry.path), jobs_dir)}/: is a symbolic link to a "
                                f"directory outside {jobs_dir.name}/; its files are not read")
            elif real not in visited:  # a link back up the tree is walked once
                visited.add(real)
                pending.append(Path(entry.path))
        yield directory, files


def load_definition(path: Path, source: str, jobs_dir: Path, problems: list[str]) -> dict | None:
    """One definition (JSON by its suffix, else YAML) as a mapping, or None with its problems added."""
    count = len(problems)
    text = read_text(path, source=source, root=jobs_dir, problems=problems)
    if text is None:
        return None
    parse = parse_json if path.suffix.lower() == ".json" else parse_yaml
    definition = parse(text, source=source, problems=problems)
    if len(problems) > count:
        return None
    if not isinstance(definition, dict):
        kind = "an empty file" if definition is None else json_kind(definition)
        problems.append(f"{source}: a job definition must be a mapping of keys (name, template, ...), "
                        f"got {kind}")
        return None
    return definition


class SafeTemplateLoader(jinja2.BaseLoader):
    """Jinja's file loader, reading through ``safe_load.read_text``: templates (and what they include) are
    regular files inside ``templates/``, never a link out of it, a FIFO or a huge file."""

    def __init__(self, directory: Path, display: Callable[[Path], str]):
        self.directory = directory
        self.display = display

    def get_source(self, environment: jinja2.Environment, template: str) -> tuple[str, str, Callable[[], bool]]:
        path = self.directory.joinpath(*jinja2.loaders.split_template_path(template))  # refuses '..'
        if not path.exists() and not path.is_symlink():
            raise jinja2.TemplateNotFound(template)
        problems: list[str] = []
        text = read_text(path, source=self.display(path), root=self.directory, problems=problems,
                         max_bytes=MAX_TEMPLATE_BYTES)
        if text is None:
            raise UnreadableTemplate(problems[0])
        return text, os.path.normpath(path), lambda: True


def json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"the number {shown(value)}"
    if isinstance(value, str):
        return f"the string {shown(value)}"
    return "a list" if isinstance(value, list) else type(value).__name__
