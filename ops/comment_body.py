"""The text of the one pull-request comment: a run header and named sections, each naming its commit.

    <!-- databricks-platform:pr-comment -->
    <!-- run commit=<sha> build=<id> -->
    **Plan of `abc1234`** (build 123):
    <status>
    <!-- /run -->
    <!-- section:offline-plan commit=<sha> build=<id> -->
    _From `abc1234`, build 123._                     (or the out-of-date notice; regenerated every time)

    <!-- text -->
    <the section's Markdown>
    <!-- /section:offline-plan -->

The header names the newest build that wrote to the comment and the commit it built. A section made from
another commit is marked out of date, so a push whose tests fail, or whose preview stops early, never
leaves an older plan looking current. Pure functions: no network, no environment.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from ops.comment_markdown import MIN_SHARE, fit, shares

MARKER = "<!-- databricks-platform:pr-comment -->"
# Azure DevOps refuses comments much over 150,000 characters; stay well below.
MAX_COMMENT_CHARS = 120_000
MAX_SECTIONS = 16
SECTION_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
COMMIT = re.compile(r"[0-9a-f]{7,64}")
_ATTRIBUTES = r"((?: [a-z]+=[0-9a-f]*)*)"
_RUN = re.compile(r"<!-- run" + _ATTRIBUTES + r" -->\n(.*?)\n<!-- /run -->", re.DOTALL)
_SECTION = re.compile(
    r"<!-- section:([a-z0-9-]+)" + _ATTRIBUTES + r" -->\n.*?<!-- text -->\n(.*?)\n<!-- /section:\1 -->", re.DOTALL
)
# Our own control comments inside a section's text are defused (still invisible HTML comments).
_CONTROL = re.compile(r"<!--(\s*)(/?(?:section:|run\b|text\b))")
_CUT_NOTE = ("_… cut here: {shown} of this section's {total} characters are shown, its beginning and its end. "
             "The whole section is in {where}._")


@dataclass(frozen=True)
class Build:
    """The build that writes: its id (increasing within an organisation) and the commit it built."""

    commit: str = ""
    """Full or abbreviated commit id, lower-case hex; empty when unknown."""
    build_id: int | None = None
    url: str = ""
    """The build's results page, where its summary and artifacts hold every section whole."""

    @property
    def short(self) -> str:
        return self.commit[:7] if self.commit else "an unknown commit"

    def newer_than(self, other: Build) -> bool:
        if self.build_id is None or other.build_id is None:
            return True
        return self.build_id >= other.build_id


@dataclass
class Section:
    text: str
    made_by: Build


@dataclass
class Comment:
    run: Build = field(default_factory=Build)
    status: str = ""
    sections: dict[str, Section] = field(default_factory=dict)


def _attributes(text: str) -> dict[str, str]:
    return dict(pair.split("=", 1) for pair in text.split())


def _build_of(attributes: dict[str, str], url: str) -> Build:
    build = attributes.get("build", "")
    return Build(attributes.get("commit", ""), int(build) if build.isdigit() else None, url)


def parse(body: str | None, *, build_url: str = "") -> Comment:
    """The comment this command wrote (None: no comment yet). ``build_url`` turns a build id into its page."""
    comment = Comment()
    if not body:
        return comment
    run = _RUN.search(body)
    if run:
        attributes = _attributes(run.group(1))
        comment.run = _build_of(attributes, _url(build_url, attributes.get("build", "")))
        lines = run.group(2).split("\n")
        comment.status = lines[1] if len(lines) > 1 else ""
    for match in _SECTION.finditer(body):
        attributes = _attributes(match.group(2))
        made_by = _build_of(attributes, _url(build_url, attributes.get("build", "")))
        comment.sections[match.group(1)] = Section(match.group(3), made_by)
    return comment


def _url(template: str, build_id: str) -> str:
    return template.format(build_id=build_id) if template and build_id else ""


def update(comment: Comment, build: Build, sections: Iterable[tuple[str, str]], status: str | None) -> Comment:
    """``comment`` with ``sections`` (name, Markdown) written by ``build``; the header moves to ``build`` unless
    a newer build already wrote (a slow old build then only replaces its own sections, which stay out of date)."""
    updated = replace(comment, sections=dict(comment.sections))
    for name, text in sections:
        updated.sections[name] = Section(_CONTROL.sub(r"<!--\1~\2", text.rstrip("\n")), build)
    if build.newer_than(comment.run):
        if (build.commit, build.build_id) != (comment.run.commit, comment.run.build_id):
            updated.status = "in progress"
        updated.run = build
        if status is not None:
            updated.status = status
    return updated


def _provenance(section: Section, run: Build) -> str:
    where = f"[build {section.made_by.build_id}]({section.made_by.url})" if section.made_by.url else (
        f"build {section.made_by.build_id}" if section.made_by.build_id is not None else "an earlier build")
    if section.made_by.commit and section.made_by.commit == run.commit:
        return f"_From `{section.made_by.short}`, {where}._"
    return (f"> ⚠️ **Out of date**: made from `{section.made_by.short}` by {where}; the pull request is now at "
            f"`{run.short}`, and its build has not replaced this section (see the status above).")


def _header(comment: Comment) -> str:
    build = comment.run
    where = f"[build {build.build_id}]({build.url})" if build.url else (
        f"build {build.build_id}" if build.build_id is not None else "this build")
    # Two lines: the second is the status, read back by parse().
    return f"**Plan of `{build.short}`** ({where}):\n{comment.status or 'in progress'}"


def render(comment: Comment) -> str:
    """The comment's text, within ``MAX_COMMENT_CHARS``: every section well-formed, long ones cut by need."""
    run_attributes = _render_attributes(comment.run)
    head = f"{MARKER}\n<!-- run{run_attributes} -->\n{_header(comment)}\n<!-- /run -->"
    frames = {}
    for name, section in comment.sections.items():
        opening = f"<!-- section:{name}{_render_attributes(section.made_by)} -->"
        provenance = _provenance(section, comment.run)
        frames[name] = (f"{opening}\n{provenance}\n\n<!-- text -->\n", f"\n<!-- /section:{name} -->")
    overhead = len(head) + sum(len(a) + len(b) + 1 for a, b in frames.values()) + 2
    room = max(MAX_COMMENT_CHARS - overhead, MIN_SHARE * max(len(frames), 1))
    share = shares({name: len(section.text) for name, section in comment.sections.items()}, room)
    where = (f"the summary and the artifacts of [build {comment.run.build_id}]({comment.run.url})"
             if comment.run.url else "the build's summary and artifacts")
    parts = [head]
    for name, section in comment.sections.items():
        note = _CUT_NOTE.replace("{where}", where if section.made_by == comment.run else "the build that made it")
        opening, closing = frames[name]
        parts.append(opening + fit(section.text, share[name], note) + closing)
    return "\n".join(parts) + "\n"


def _render_attributes(build: Build) -> str:
    pairs = []
    if build.commit:
        pairs.append(f" commit={build.commit}")
    if build.build_id is not None:
        pairs.append(f" build={build.build_id}")
    return "".join(pairs)
