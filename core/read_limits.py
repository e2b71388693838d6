"""The limits every reader of user files shares: the caps, text that is not text, problems per file.

``core.safe_load`` names the caps for callers. Each reader reports at most ``MAX_PROBLEMS_PER_FILE``
problems per file.
"""

from __future__ import annotations

from .messages import at_path

# Caps far above any real input (a stack file is a few KB, a job definition or an ADF pipeline a few
# hundred KB) and far below what hurts: the README lists them.
MAX_FILE_BYTES = 4 * 1024 * 1024
MAX_DEPTH = 64
MAX_VALUES = 100_000
MAX_PROBLEMS_PER_FILE = 10


def check_text(text: str, path: str, found: list[str]) -> None:
    """Append a problem to ``found`` when ``text`` holds an unpaired surrogate (JSON or YAML wrote one escaped)."""
    if not text.isascii():  # ASCII text cannot hold a surrogate
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            found.append(f"{at_path(path)}text with an unpaired surrogate escape (\\ud800-\\udfff) is not text")


def capped(found: list[str]) -> list[str]:
    """At most ``MAX_PROBLEMS_PER_FILE`` problems, then one line counting the rest."""
    if len(found) <= MAX_PROBLEMS_PER_FILE:
        return found
    return [*found[:MAX_PROBLEMS_PER_FILE], f"and {len(found) - MAX_PROBLEMS_PER_FILE} more problems like these"]
