"""Markdown that stays well-formed when it is cut to fit a pull-request comment (pure functions).

A comment holds several sections (the offline plan, one `pulumi preview` per stage). A section that is too
long is cut in the middle: its head (the title, the summary table) and its tail (`pulumi preview` prints its
"Resources: …" summary last) are kept. A cut must never leave a code fence or a `<details>` element open,
or every later section would render inside it; so the cut closes what is open where the head ends and
opens it again where the tail starts. Sections share the comment's room by need: a short section is
never cut to make room that a long one cannot use.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")
_DETAILS_OPEN = re.compile(r"<details\b[^>]*>", re.IGNORECASE)
_DETAILS_CLOSE = re.compile(r"</details\s*>", re.IGNORECASE)
MAX_LINE_CHARS = 2_000
"""A longer line (a JSON value in a diff) is shortened: a cut works on lines, and one line must not eat it all."""
MIN_SHARE = 1_000
"""No section is cut below this many characters while the comment has room for it."""


@dataclass(frozen=True)
class State:
    """What is open after a line: `<details>` elements (outermost first), then at most one code fence."""

    details: tuple[str, ...] = ()
    """The opening line of each open `<details>`, kept to reopen it after a cut."""
    fence: str | None = None
    """The characters that opened the fence the line is inside (e.g. ``` or ~~~~), or None."""

    def closers(self) -> list[str]:
        return ([self.fence] if self.fence else []) + ["</details>"] * len(self.details)

    def openers(self) -> list[str]:
        reopened = ["<details><summary>… (continued)</summary>", ""] * len(self.details)
        return reopened + ([self.fence] if self.fence else [])


def _step(state: State, line: str) -> tuple[State, str]:
    """The state after ``line``, and the line as it is kept (a stray `</details>` is shown, not obeyed)."""
    fence = _FENCE.match(line)
    if state.fence is not None:
        closes = (fence is not None and fence.group(2).strip() == ""
                  and fence.group(1)[0] == state.fence[0] and len(fence.group(1)) >= len(state.fence))
        return (State(state.details, None) if closes else state), line
    if fence is not None and not (fence.group(1)[0] == "`" and "`" in fence.group(2)):
        return State(state.details, fence.group(1)), line
    details = list(state.details)
    kept = line
    # Opening and closing tags in the order they appear on the line (`<details><summary>x</summary>` opens one).
    for tag in sorted([*_DETAILS_OPEN.finditer(line), *_DETAILS_CLOSE.finditer(line)], key=lambda m: m.start()):
        if tag.group(0).startswith("</"):
            if details:
                details.pop()
            else:
                kept = kept.replace(tag.group(0), "&lt;/details&gt;", 1)
        else:
            details.append(line.strip())
    return State(tuple(details), None), kept


def _lines(text: str) -> list[str]:
    lines = []
    for line in text.split("\n"):
        if len(line) > MAX_LINE_CHARS:
            line = line[:MAX_LINE_CHARS] + f"… ({len(line):,} characters on this line)"
        lines.append(line)
    return lines


def scan(text: str) -> tuple[list[str], list[State]]:
    """The lines of ``text`` as kept, and the state after each line."""
    state, kept, states = State(), [], []
    for line in _lines(text):
        state, line = _step(state, line)
        kept.append(line)
        states.append(state)
    return kept, states


def balanced(text: str) -> str:
    """``text`` with whatever it leaves open closed at its end (and stray closing tags shown as text)."""
    lines, states = scan(text)
    end = states[-1] if states else State()
    return "\n".join(lines + end.closers())


def is_well_formed(text: str) -> bool:
    """True when every fence and `<details>` the text opens is closed and no `</details>` closes nothing."""
    state = State()
    for line in text.split("\n"):
        state, kept = _step(state, line)
        if kept != line:
            return False
    return state == State()


def _length(lines: list[str]) -> int:
    return sum(len(line) + 1 for line in lines)


def fit(text: str, limit: int, note: str) -> str:
    """``text`` made well-formed and at most ``limit`` characters: whole if it fits, else its head and its tail
    joined by ``note`` (a line; ``{shown}`` and ``{total}`` are filled with character counts)."""
    whole = balanced(text)
    if len(whole) <= limit:
        return whole
    lines, states = scan(text)
    total = len(text)
    room = limit - len(note) - 40
    while True:
        head_room = max(room // 2, 0)
        head = 0
        while head < len(lines) and _length(lines[: head + 1]) <= head_room:
            head += 1
        tail_room = max(room - _length(lines[:head]), 0)
        tail = len(lines)
        while tail > head and _length(lines[tail - 1 :]) <= tail_room:
            tail -= 1
        before = states[head - 1] if head else State()
        kept = lines[:head] + before.closers() + ["", "{note}", ""]
        if tail < len(lines):
            # The tail starts inside whatever was open before it: open that again, then close what it leaves.
            kept += states[tail - 1].openers() + lines[tail:] + states[-1].closers()
        shown = _length(lines[:head]) + _length(lines[tail:])
        body = "\n".join(kept).replace("{note}", note.format(shown=f"{shown:,}", total=f"{total:,}"))
        if len(body) <= limit or (head == 0 and tail == len(lines)):
            return body if len(body) <= limit else note.format(shown="0", total=f"{total:,}")[:limit]
        room -= len(body) - limit


def shares(needs: Mapping[str, int], room: int) -> dict[str, int]:
    """Each section's share of ``room`` characters: what it needs if it can have it, else an equal part of what
    the shorter sections leave (max-min fairness), never below ``MIN_SHARE``."""
    given: dict[str, int] = {}
    left = room
    waiting = sorted(needs, key=lambda name: needs[name])
    while waiting:
        fair = max(left // len(waiting), MIN_SHARE)
        name = waiting[0]
        if needs[name] <= fair:
            given[name] = needs[name]
            left -= needs[name]
            waiting.pop(0)
            continue
        for name in waiting:
            given[name] = fair
        break
    return {name: given[name] for name in needs}
