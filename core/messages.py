"""How a problem names what the user wrote: a value (capped), a key or file name, a key path.

Shared by every reader of user files (see ``core.safe_load``) and by every message that echoes a value
(``core.errors`` re-exports ``shown``). It imports nothing from ``core``.
"""

from __future__ import annotations

import re
import reprlib
from typing import Any

# Longest value echoed in a message: a 2 MB bad value names itself by its start and its length.
SHOWN_CHARACTERS = 80
_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = SHOWN_CHARACTERS
_REPR.maxlevel = 2
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = _REPR.maxset = 4
_REPR.maxlong = 40


def shown(value: Any, limit: int = SHOWN_CHARACTERS) -> str:
    """``repr(value)`` for a message, never longer than about ``limit`` characters.

    A long string keeps its first characters and says its length: ``'aaaa…' (2,097,152 characters)``.
    """
    if isinstance(value, str):
        if len(value) <= limit:
            return repr(value)
        head = repr(value[:limit])
        return f"{head[:-1]}…{head[-1]} ({len(value):,} characters)"
    text = _REPR.repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


def shown_name(name: str, limit: int = SHOWN_CHARACTERS) -> str:
    """A key or file name for a message: as written when it is short printable text, else ``shown``."""
    return name if len(name) <= limit and name.isprintable() and name.strip() == name and name else shown(name)


def key_path(path: str, key: Any) -> str:
    """``tasks[0]`` + ``notebook_task`` → ``tasks[0].notebook_task``; odd keys are quoted: ``tags['a b']``."""
    if isinstance(key, int) and not isinstance(key, bool):
        return f"{path}[{key}]"
    text = str(key)
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_:.-]{0,79}", text) and text.isascii():
        return f"{path}.{text}" if path else text
    return f"{path}[{shown(key)}]"


def short_path(path: str) -> str:
    """A key path for a message: a path 64 levels deep keeps its start and its end."""
    return path if len(path) <= 80 else f"{path[:40]}…{path[-30:]}"


def at_path(path: str) -> str:
    """``path: `` to start a problem with, nothing at the top of a document."""
    return f"{path}: " if path else ""


def in_path(path: str) -> str:
    """`` in path`` to end a problem with, nothing at the top of a document."""
    return f" in {path}" if path else ""
