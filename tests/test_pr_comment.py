"""`python -m ops pr-comment`: one comment per pull request, sections named by commit, against a loopback fake."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ops.comment_body import MAX_COMMENT_CHARS, Build, parse, render, update
from ops.comment_markdown import balanced, fit, is_well_formed
from tests.conftest import REPO
from tests.fakes.azure_devops import DEFINITION_ID, FakeAzureDevOps
from tests.fakes.server import Reply

COMMIT_A, COMMIT_B = "a" * 40, "b" * 40


@pytest.fixture
def devops(tls_material):
    with FakeAzureDevOps(tls_material) as fake:
        yield fake


def run(devops: FakeAzureDevOps, *arguments: str, **environ: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "REQUESTS_CA_BUNDLE": str(devops.ca_bundle), "NO_PROXY": "127.0.0.1",
           **devops.environ(**environ)}
    return subprocess.run([sys.executable, "-m", "ops", "pr-comment", *arguments], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60, check=False)


def pr_comment(devops, tmp_path, sections: dict[str, str], *extra: str, **environ: str):
    arguments = []
    for name, text in sections.items():
        markdown = tmp_path / f"{name}.md"
        markdown.write_text(text, encoding="utf-8")
        arguments += ["--section", name, "--file", str(markdown)]
    return run(devops, *arguments, *extra, **environ)


def comment_text(devops: FakeAzureDevOps) -> str:
    [thread] = [t for t in devops.threads if t.properties]
    return thread.comments[0].content


def section_texts(devops: FakeAzureDevOps) -> dict[str, str]:
    return {name: section.text for name, section in parse(comment_text(devops)).sections.items()}


# -- one comment, kept up to date ---------------------------------------------------------------------


def test_the_first_push_creates_one_comment_naming_the_commit_its_section_was_made_from(devops, tmp_path):
    result = pr_comment(devops, tmp_path, {"offline-plan": "### Offline plan\n\n**1** to add"},
                        SYSTEM_PULLREQUEST_SOURCECOMMITID=COMMIT_A)
    assert result.returncode == 0, result.stderr
    [thread] = devops.threads
    assert thread.status == 1, "a new thread is active unless asked otherwise"
    assert section_texts(devops) == {"offline-plan": "### Offline plan\n\n**1** to add"}
    text = comment_text(devops)
    assert f"_From `{COMMIT_A[:7]}`, [build 100](" in text and "_build/results?buildId=100" in text


def test_a_new_push_updates_the_same_comment_instead_of_adding_one(devops, tmp_path):
    assert pr_comment(devops, tmp_path, {"offline-plan": "first push"}).returncode == 0
    result = pr_comment(devops, tmp_path, {"offline-plan": "second push"}, BUILD_BUILDID="101")
    assert result.returncode == 0, result.stderr
    assert "updated offline-plan" in result.stdout
    assert len(devops.threads) == 1 and section_texts(devops) == {"offline-plan": "second push"}
    assert [method for method, _, _ in devops.requests].count("POST") == 1


def test_several_sections_are_written_in_one_update_in_the_order_given(devops, tmp_path):
    assert pr_comment(devops, tmp_path, {"offline-plan": "plan"}).returncode == 0
    result = pr_comment(devops, tmp_path, {"preview-dev": "d", "preview-test": "t", "preview-prod": "p"})
    assert result.returncode == 0, result.stderr
    assert list(section_texts(devops)) == ["offline-plan", "preview-dev", "preview-test", "preview-prod"]
    assert [method for method, _, _ in devops.requests] == ["GET", "POST", "GET", "PATCH"]


def test_comments_written_by_people_are_never_edited_even_when_they_quote_the_marker(devops, tmp_path):
    reviewer = devops.add_thread("Looks good, but why is purge protection off?")
    quoting = devops.add_thread("<!-- databricks-platform:pr-comment -->\nI pasted the bot's comment here")
    assert pr_comment(devops, tmp_path, {"offline-plan": "plan"}).returncode == 0
    assert pr_comment(devops, tmp_path, {"offline-plan": "plan 2"}).returncode == 0
    assert reviewer.comments[0].content == "Looks good, but why is purge protection off?"
    assert quoting.comments[0].content.endswith("I pasted the bot's comment here")
    assert len(devops.threads) == 3 and section_texts(devops) == {"offline-plan": "plan 2"}


def test_another_pipelines_comment_on_the_same_pull_request_is_left_alone(devops, tmp_path):
    other = devops.add_thread("<!-- databricks-platform:pr-comment -->\nother pipeline",
                              author="Contoso Build Service (contoso)",
                              properties={"databricks-platform.pr-comment": "99"})
    assert pr_comment(devops, tmp_path, {"offline-plan": "plan"}).returncode == 0
    assert other.comments[0].content.endswith("other pipeline")
    mine = [t for t in devops.threads if t.properties.get("databricks-platform.pr-comment") == DEFINITION_ID]
    assert len(mine) == 1 and len(devops.threads) == 2


# -- never stale without saying so --------------------------------------------------------------------


def test_a_new_commit_marks_every_older_section_out_of_date_until_its_own_replaces_it(devops, tmp_path):
    old = {"SYSTEM_PULLREQUEST_SOURCECOMMITID": COMMIT_A, "BUILD_BUILDID": "100"}
    new = {"SYSTEM_PULLREQUEST_SOURCECOMMITID": COMMIT_B, "BUILD_BUILDID": "101"}
    assert pr_comment(devops, tmp_path, {"offline-plan": "old plan", "preview-dev": "old dev"}, **old).returncode == 0
    # The next push's build starts: its tests may fail, so nothing of commit A may look current any more.
    assert run(devops, "--run-status", "running", **new).returncode == 0
    stale = comment_text(devops)
    assert stale.count("**Out of date**: made from `aaaaaaa`") == 2 and f"**Plan of `{COMMIT_B[:7]}`**" in stale
    assert pr_comment(devops, tmp_path, {"offline-plan": "new plan"}, "--run-status", "tests passed",
                      **new).returncode == 0
    comment = parse(comment_text(devops))
    assert comment.status == "tests passed"
    assert comment.sections["offline-plan"].made_by.commit == COMMIT_B
    assert comment.sections["preview-dev"].made_by.commit == COMMIT_A
    text = comment_text(devops)
    assert text.count("**Out of date**") == 1 and "made from `aaaaaaa`" in text.split("section:preview-dev")[1]


def test_a_slow_older_build_never_takes_the_header_back_from_a_newer_one(devops, tmp_path):
    new = {"SYSTEM_PULLREQUEST_SOURCECOMMITID": COMMIT_B, "BUILD_BUILDID": "101"}
    old = {"SYSTEM_PULLREQUEST_SOURCECOMMITID": COMMIT_A, "BUILD_BUILDID": "100"}
    assert pr_comment(devops, tmp_path, {"offline-plan": "new plan"}, "--run-status", "tests passed",
                      **new).returncode == 0
    assert pr_comment(devops, tmp_path, {"preview-dev": "old dev"}, "--run-status", "previews done",
                      **old).returncode == 0
    comment = parse(comment_text(devops))
    assert comment.run.commit == COMMIT_B and comment.status == "tests passed"
    assert "**Out of date**: made from `aaaaaaa`" in comment_text(devops)


# -- Azure DevOps failing -----------------------------------------------------------------------------


def test_throttling_on_reading_the_threads_is_waited_out(devops, tmp_path):
    devops.inject("GET", Reply.json(429, {"message": "Too many requests"}, **{"Retry-After": "1"}))
    result = pr_comment(devops, tmp_path, {"offline-plan": "plan"})
    assert result.returncode == 0, result.stderr
    assert [status for method, _, status in devops.requests if method == "GET"] == [429, 200]


def test_a_refused_token_fails_with_what_to_grant_and_never_prints_the_token(devops, tmp_path):
    result = pr_comment(devops, tmp_path, {"offline-plan": "plan"}, SYSTEM_ACCESSTOKEN="not-the-build-token")
    assert result.returncode == 1
    assert "Contribute to pull requests" in result.stderr and "Traceback" not in result.stderr
    assert "not-the-build-token" not in result.stderr + result.stdout
    assert devops.token not in result.stderr + result.stdout


def test_a_server_error_on_posting_fails_with_status_and_message(devops, tmp_path):
    devops.inject("POST", Reply.json(500, {"message": "TF400898: An internal error occurred."}))
    result = pr_comment(devops, tmp_path, {"offline-plan": "plan"})
    assert result.returncode == 1
    assert "HTTP 500" in result.stderr and "TF400898" in result.stderr
    assert devops.threads == [], "a failed post is not retried: it could post the comment twice"


# -- usage problems: one line each, all at once, nothing posted, exit 2 --------------------------------


def test_outside_a_pull_request_build_it_says_which_variables_are_missing(devops, tmp_path):
    result = pr_comment(devops, tmp_path, {"offline-plan": "plan"}, SYSTEM_PULLREQUEST_PULLREQUESTID="")
    assert result.returncode == 2
    assert "SYSTEM_PULLREQUEST_PULLREQUESTID" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_every_usage_problem_is_reported_at_once_on_its_own_line_and_nothing_is_posted(devops, tmp_path):
    result = run(devops, "--section", "Offline Plan", "--file", str(tmp_path / "missing.md"),
                 "--run-status", "two\nlines")
    assert result.returncode == 2 and devops.requests == []
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 3, lines
    assert "--section 'Offline Plan'" in lines[0] and "missing.md" in lines[1] and "file not found" in lines[1]
    assert "--run-status" in lines[2] and "Traceback" not in result.stderr


def test_an_unknown_option_or_a_missing_value_is_one_line_not_argparse_usage(devops):
    for arguments in (["--sektion", "x"], ["--section"]):
        result = run(devops, *arguments)
        assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert result.stderr.startswith("python -m ops pr-comment: error:")


def test_a_fifo_or_a_device_given_as_the_file_is_refused_at_once_without_reading_it(devops, tmp_path):
    fifo = tmp_path / "plan.md"
    os.mkfifo(fifo)
    for path in (str(fifo), "/dev/zero"):
        result = run(devops, "--section", "offline-plan", "--file", path)
        assert result.returncode == 2 and "not a regular file" in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and devops.requests == []


def test_sections_and_files_must_pair_up(devops, tmp_path):
    markdown = tmp_path / "x.md"
    markdown.write_text("x")
    result = run(devops, "--section", "a", "--section", "b", "--file", str(markdown))
    assert result.returncode == 2 and "one --file per --section" in result.stderr and devops.requests == []


@pytest.mark.parametrize("section", ["Offline Plan", "../x", "", "a" * 80, "-x"])
def test_a_section_name_that_could_break_the_markers_is_refused(devops, tmp_path, section):
    markdown = tmp_path / "x.md"
    markdown.write_text("x")
    result = run(devops, "--section", section, "--file", str(markdown))
    assert result.returncode == 2 and "--section" in result.stderr
    assert devops.requests == []


# -- the comment's text: well-formed, within the limit, the summary kept --------------------------------


def preview(stage: str, lines: int) -> str:
    body = "\n".join(f"    ~ azure-native:databricks:Job job-{i} [diff: ~settings]" for i in range(lines))
    return (f"### pulumi preview: stack `{stage}`\n\n<details><summary>Output</summary>\n\n````\n{body}\n"
            f"Resources:\n    ~ {lines} to update\n    12 unchanged\n````\n\n</details>")


def rendered(sections: dict[str, str]) -> str:
    build = Build(COMMIT_A, 7, "https://dev.azure.com/contoso/p/_build/results?buildId=7")
    return render(update(parse(None), build, sections.items(), "tests passed"))


def test_long_previews_are_cut_well_formed_and_keep_their_summary_and_the_sections_after_them():
    text = rendered({"offline-plan": "### Offline plan\n\n**2** to add", "preview-dev": preview("dev", 5000),
                     "preview-test": preview("test", 5000), "preview-prod": "### pulumi preview: stack `prod`"})
    assert len(text) <= MAX_COMMENT_CHARS
    comment = parse(text)
    assert list(comment.sections) == ["offline-plan", "preview-dev", "preview-test", "preview-prod"]
    for name, section in comment.sections.items():
        assert is_well_formed(section.text), f"{name} leaves a fence or <details> open"
    for stage in ("dev", "test"):
        cut = comment.sections[f"preview-{stage}"].text
        assert "~ 5000 to update" in cut and "cut here" in cut
        assert cut.startswith(f"### pulumi preview: stack `{stage}`")
        assert "buildId=7" in cut, "the note says where the whole section is"
    assert comment.sections["preview-prod"].text == "### pulumi preview: stack `prod`"


def test_room_goes_to_the_sections_that_need_it_a_short_plan_is_never_cut():
    plan = "### Offline plan\n\n" + "| a | b |\n" * 300
    text = rendered({"offline-plan": plan, "preview-dev": preview("dev", 5000), "preview-test": preview("test", 20)})
    comment = parse(text)
    assert comment.sections["offline-plan"].text == plan.rstrip("\n")
    assert comment.sections["preview-test"].text == preview("test", 20)
    assert len(comment.sections["preview-dev"].text) > 0.8 * MAX_COMMENT_CHARS


def test_markers_inside_a_section_cannot_swallow_the_next_section():
    text = rendered({"offline-plan": "mentions <!-- /section:offline-plan --> and <!-- text --> in passing",
                     "preview-dev": "dev"})
    assert parse(text).sections["preview-dev"].text == "dev"
    assert "in passing" in parse(text).sections["offline-plan"].text


LINES = st.sampled_from(["```", "````", "~~~", "```text", "<details><summary>x</summary>", "</details>",
                         "<details>", "plain text", "    ~ update", "`inline`", "", "x" * 300])


@settings(max_examples=300, deadline=None)
@given(st.lists(LINES, max_size=80), st.integers(min_value=300, max_value=6000))
def test_a_cut_never_leaves_markdown_open_and_never_exceeds_its_share(lines, limit):
    text = "\n".join(lines)
    out = fit(text, limit, "_cut: {shown} of {total}_")
    assert len(out) <= limit
    assert is_well_formed(out), out


@settings(max_examples=200, deadline=None)
@given(st.lists(LINES, min_size=1, max_size=60))
def test_a_section_that_fits_is_kept_as_written_once_balanced(lines):
    text = balanced("\n".join(lines))
    assert is_well_formed(text), "balancing closes every fence and <details> and shows stray closing tags"
    assert fit(text, 100_000, "_cut_") == text
