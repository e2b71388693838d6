"""`python -m ops pr-comment`: one pull-request comment per PR, sections updated in place, against a fake."""

from __future__ import annotations

import subprocess
import sys

import pytest

from ops.pr_comment import MARKER, MAX_COMMENT_CHARS, merge_section, sections
from tests.conftest import REPO
from tests.fakes.azure_devops import FakeAzureDevOps
from tests.fakes.server import Reply


@pytest.fixture
def devops(tls_material):
    with FakeAzureDevOps(tls_material) as fake:
        yield fake


def pr_comment(devops: FakeAzureDevOps, tmp_path, section: str, text: str, **environ: str):
    markdown = tmp_path / f"{section}.md"
    markdown.write_text(text, encoding="utf-8")
    env = {"PATH": "/usr/bin:/bin", "REQUESTS_CA_BUNDLE": str(devops.ca_bundle), "NO_PROXY": "127.0.0.1",
           **devops.environ(**environ)}
    return subprocess.run(
        [sys.executable, "-m", "ops", "pr-comment", "--section", section, "--file", str(markdown)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60, check=False,
    )


def test_the_first_push_creates_one_comment_with_a_marker_and_the_section(devops, tmp_path):
    result = pr_comment(devops, tmp_path, "offline-plan", "### Offline plan\n\n**1** to add")
    assert result.returncode == 0, result.stderr
    [thread] = devops.threads
    [comment] = thread.comments
    assert comment.content.startswith(MARKER)
    assert sections(comment.content) == {"offline-plan": "### Offline plan\n\n**1** to add"}
    assert thread.status == 1, "a new thread is active unless asked otherwise"


def test_a_new_push_updates_the_same_comment_instead_of_adding_one(devops, tmp_path):
    assert pr_comment(devops, tmp_path, "offline-plan", "first push").returncode == 0
    result = pr_comment(devops, tmp_path, "offline-plan", "second push")
    assert result.returncode == 0, result.stderr
    assert "updated section offline-plan" in result.stdout
    [thread] = devops.threads
    assert sections(thread.comments[0].content) == {"offline-plan": "second push"}
    assert [method for method, _, _ in devops.requests].count("POST") == 1


def test_preview_sections_are_added_to_the_same_comment_without_touching_the_plan(devops, tmp_path):
    assert pr_comment(devops, tmp_path, "offline-plan", "plan of every stage").returncode == 0
    assert pr_comment(devops, tmp_path, "preview-dev", "dev preview").returncode == 0
    assert pr_comment(devops, tmp_path, "preview-test", "test preview").returncode == 0
    assert pr_comment(devops, tmp_path, "preview-dev", "dev preview, second push").returncode == 0
    [thread] = devops.threads
    assert sections(thread.comments[0].content) == {
        "offline-plan": "plan of every stage",
        "preview-dev": "dev preview, second push",
        "preview-test": "test preview",
    }


def test_comments_written_by_people_are_never_edited(devops, tmp_path):
    reviewer = devops.add_thread("Looks good, but why is purge protection off?")
    assert pr_comment(devops, tmp_path, "offline-plan", "plan").returncode == 0
    assert reviewer.comments[0].content == "Looks good, but why is purge protection off?"
    assert len(devops.threads) == 2


def test_throttling_on_reading_the_threads_is_waited_out(devops, tmp_path):
    devops.inject("GET", Reply.json(429, {"message": "Too many requests"}, **{"Retry-After": "1"}))
    result = pr_comment(devops, tmp_path, "offline-plan", "plan")
    assert result.returncode == 0, result.stderr
    assert [status for method, _, status in devops.requests if method == "GET"] == [429, 200]


def test_a_refused_token_fails_with_what_to_grant_and_never_prints_the_token(devops, tmp_path):
    result = pr_comment(devops, tmp_path, "offline-plan", "plan", SYSTEM_ACCESSTOKEN="not-the-build-token")
    assert result.returncode == 1
    assert "Contribute to pull requests" in result.stderr and "Traceback" not in result.stderr
    assert "not-the-build-token" not in result.stderr + result.stdout
    assert devops.token not in result.stderr + result.stdout


def test_a_server_error_on_posting_fails_with_status_and_message(devops, tmp_path):
    devops.inject("POST", Reply.json(500, {"message": "TF400898: An internal error occurred."}))
    result = pr_comment(devops, tmp_path, "offline-plan", "plan")
    assert result.returncode == 1
    assert "HTTP 500" in result.stderr and "TF400898" in result.stderr
    assert devops.threads == [], "a failed post is not retried: it could post the comment twice"


def test_outside_a_pull_request_build_it_says_which_variables_are_missing(devops, tmp_path):
    result = pr_comment(devops, tmp_path, "offline-plan", "plan", SYSTEM_PULLREQUEST_PULLREQUESTID="")
    assert result.returncode == 2
    assert "SYSTEM_PULLREQUEST_PULLREQUESTID" in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("section", ["Offline Plan", "../x", "", "a" * 80])
def test_a_section_name_that_could_break_the_markers_is_refused(devops, tmp_path, section):
    markdown = tmp_path / "x.md"
    markdown.write_text("x")
    result = subprocess.run(
        [sys.executable, "-m", "ops", "pr-comment", "--section", section, "--file", str(markdown)],
        cwd=REPO, env={"PATH": "/usr/bin:/bin", **devops.environ()}, capture_output=True, text=True, timeout=60,
        check=False,
    )
    assert result.returncode == 2 and "--section" in result.stderr
    assert devops.requests == []


def test_an_oversized_section_is_cut_with_a_note_and_the_comment_stays_within_the_limit():
    body = merge_section(None, "offline-plan", "x" * (MAX_COMMENT_CHARS * 2))
    body = merge_section(body, "preview-dev", "short")
    assert len(body) <= MAX_COMMENT_CHARS
    assert "cut here" in sections(body)["offline-plan"]
    assert sections(body)["preview-dev"] == "short"


def test_markers_inside_a_section_cannot_swallow_the_next_section():
    body = merge_section(None, "offline-plan", "a plan that mentions <!-- section:preview-dev --> in passing")
    body = merge_section(body, "preview-dev", "dev")
    assert sections(body)["preview-dev"] == "dev"
