"""Templates end promptly, in bounded memory, with one message naming the file, whatever they hold.

Each hostile template is rendered under a memory ceiling (the address space this process may add is capped
at 1 GiB while it renders) and a watchdog (a run past 120 s fails instead of hanging the suite): a limit
that only held after the damage would show up here as "ran out of memory" or as a watchdog failure.
"""

from __future__ import annotations

import contextlib
import resource
import signal
from pathlib import Path

import jinja2
import jinja2.sandbox
import pytest

from core.template_sandbox import (
    MAX_COUNT,
    MAX_NESTING,
    MAX_STEPS,
    MAX_TREE_DEPTH,
    MAX_VALUE_SIZE,
    BoundedEnvironment,
    TemplateLimit,
    text_size,
)
from tests.test_jobs_render import REPO, custom, problems, render, write

HEADROOM_BYTES = 1 << 30
WATCHDOG_SECONDS = 120


@contextlib.contextmanager
def bounded_process():
    """Cap the memory this process may add and stop a run that does not end, for the duration."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    with open("/proc/self/statm") as statm:
        in_use = int(statm.read().split()[0]) * resource.getpagesize()
    ceiling = in_use + HEADROOM_BYTES if hard == resource.RLIM_INFINITY else min(in_use + HEADROOM_BYTES, hard)

    def stop(signum, frame):
        raise AssertionError(f"the render did not end within {WATCHDOG_SECONDS} s")

    previous = signal.signal(signal.SIGALRM, stop)
    resource.setrlimit(resource.RLIMIT_AS, (ceiling, hard))
    signal.alarm(WATCHDOG_SECONDS)
    try:
        yield
    finally:
        signal.alarm(0)
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
        signal.signal(signal.SIGALRM, previous)


def hostile(root: Path, template: str) -> list[str]:
    """Problems of a run holding the template (jobs/custom.yaml) next to a broken definition (jobs/typo.json)."""
    files = {**custom(template), "jobs/typo.json": "{"}
    write(root, files)
    with bounded_process():
        return problems(root, {})


def the_template_problem(found: list[str]) -> str:
    """The one problem of jobs/custom.yaml, after checking the broken neighbour was reported too."""
    assert any(problem.startswith("jobs/typo.json:1:2: invalid JSON") for problem in found), found
    (problem,) = [problem for problem in found if problem.startswith("jobs/custom.yaml")]
    assert "\n" not in problem and len(problem) < 600
    assert "ran out of memory" not in problem, problem
    return problem


STEPS = f"runs more than {MAX_STEPS:,} steps"
TOO_BIG = f"one value in a template is at most {MAX_VALUE_SIZE:,}"
COUNT = f"widths and counts in templates are at most {MAX_COUNT:,}"

RUNAWAY = {
    "nested loops printing nothing": (
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}{\"name\": \"x\"}", STEPS),
    "a macro calling itself twice": (
        "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(60) }}", STEPS),
    "a loop over a long text": ('{% for c in "x" * 1000000 %}{% endfor %}', STEPS),
    "a join in a loop, output discarded": (
        "{% for i in range(100000) %}{% set x = range(100000) | join %}{% endfor %}", "makes more than"),
    "a list grown one item at a time": (
        "{% set ns = namespace(l=[]) %}{% for i in range(100000) %}{% set ns.l = ns.l + [i] %}{% endfor %}",
        "makes more than"),
}


@pytest.mark.parametrize(("template", "message"), RUNAWAY.values(), ids=RUNAWAY.keys())
def test_a_template_that_would_run_forever_stops_at_the_step_budget_naming_file_and_line(tmp_path, template,
                                                                                         message):
    problem = the_template_problem(hostile(tmp_path, template))
    assert problem.startswith("jobs/custom.yaml: templates/custom.json.j2:1: ") and message in problem


HUGE = {
    "a constant repeated (folded at compile time)": ('{{ "x" * 3000000000 }}', "'*' would make 3,000,000,000"),
    "a definition value repeated": ("{{ job.name * 1000000000 }}", "'*' would make 10,000,000,000"),
    "a list repeated": ("{{ [1] * 3000000000 }}", TOO_BIG),
    "a power": ("{{ 10 ** 10 ** 10 }}", "integers in templates are at most 256 bits"),
    "a product of large integers": ("{{ 2 ** 200 * 2 ** 200 }}", "integers in templates are at most 256 bits"),
    "a printf width": ('{{ "%999999999d" % 1 }}', COUNT),
    "a printf star width": ('{{ "%*d" % (999999999, 1) }}', COUNT),
    "a printf key repeated": ('{{ ("%(a)s" * 100000) % {"a": "x" * 1000000} }}', TOO_BIG),
    "a format width": ('{{ "{:>999999999}".format(1) }}', COUNT),
    "a format field repeated": ('{{ ("{0}" * 100000).format("x" * 100000) }}', TOO_BIG),
    "the center filter": ('{{ "x" | center(3000000000) }}', COUNT),
    "the indent filter": ('{{ ("a\\n" * 400000) | indent(100000) }}', TOO_BIG),
    "the wordwrap filter": ('{{ ("a " * 400000) | wordwrap(1, wrapstring="x" * 1000) }}', TOO_BIG),
    "the replace filter": ('{{ ("x" * 1000000) | replace("x", "x" * 1000000) }}', TOO_BIG),
    "the join filter with a long separator": ('{{ range(100000) | map("string") | join("," * 100000) }}', TOO_BIG),
    "the batch filter": ("{{ [1] | batch(1000000000, 0) | list }}", COUNT),
    "the slice filter": ("{{ [1] | slice(1000000000) | list }}", COUNT),
    "the tojson filter indenting": ("{{ (range(100000) | list) | tojson(indent=100000) }}", TOO_BIG),
    "the format filter": ('{{ "%999999999s" | format("x") }}', COUNT),
    "a filter mapped over a list": ('{{ ["x"] | map("center", 1000000000) | list }}', COUNT),
    "str.ljust": ('{{ "x".ljust(999999999) }}', COUNT),
    "str.expandtabs": ('{{ ("\\t" * 100000).expandtabs(100000) }}', TOO_BIG),
    "str.replace": ('{{ ("x" * 1000000).replace("x", "yy") }}', TOO_BIG),
    "str.join": ('{{ ("," * 100000).join(range(100000) | map("string")) }}', TOO_BIG),
    "bytes.center": ('{{ "a".encode().center(1000000000) }}', COUNT),
    "int.to_bytes": ('{{ (1).to_bytes(1000000000, "big") }}', COUNT),
    "a text doubled in a loop with ~": (
        '{% set ns = namespace(s="xx") %}{% for i in range(100) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}', TOO_BIG),
    "a million references to a long text, printed": (
        '{% set b = "x" * 1000000 %}{{ [b] * 1000000 }}', TOO_BIG),
    "a million references to a long text, joined": (
        '{% set b = "x" * 1000000 %}{{ ([b] * 1000000) | join }}', TOO_BIG),
    "a million references to a long text, concatenated": (
        '{% set b = "x" * 1000000 %}{{ ([b] * 1000000) ~ "" }}', TOO_BIG),
    "a mapping of a long text under many keys": ('{{ {}.fromkeys(range(100000), "x" * 1000000) }}', TOO_BIG),
}


@pytest.mark.parametrize(("template", "message"), HUGE.values(), ids=HUGE.keys())
def test_a_template_making_a_huge_value_is_refused_before_the_memory_is_taken(tmp_path, template, message):
    problem = the_template_problem(hostile(tmp_path, template))
    assert problem.startswith("jobs/custom.yaml: templates/custom.json.j2:") and message in problem, problem


UNCOMPILABLE = {
    "3000 nested parentheses": ("{{ " + "(" * 3000 + "1" + ")" * 3000 + " }}",
                                f"brackets nested more than {MAX_NESTING} deep"),
    "3000 nested ifs": ("{% if 1 %}" * 3000 + "{% endif %}" * 3000, f"blocks nested more than {MAX_NESTING} deep"),
    "25 nested fors": ("{% for i in [1] %}" * 25 + "{% endfor %}" * 25, "({% for %} inside 16 others)"),
    "a block set inside 16 blocks": ("{% with %}" * 16 + "{% set x %}1{% endset %}" + "{% endwith %}" * 16,
                                     "({% set %} inside 16 others)"),
    "a 5000-digit number": ("{{ 1" + "0" * 5000 + " }}", "a number literal of 5,001 characters"),
    "a chain of 500 filters": ("{{ x" + " | string" * 500 + " }}", f"nested more than {MAX_TREE_DEPTH} levels"),
    "500 chained conditions": ("{{ " + "1 if x else " * 500 + "2 }}", f"nested more than {MAX_TREE_DEPTH} levels"),
    "3000 nots": ("{{ " + "not " * 3000 + "x }}", "nested too deeply for Jinja's parser"),
}


@pytest.mark.parametrize(("template", "message"), UNCOMPILABLE.values(), ids=UNCOMPILABLE.keys())
def test_a_template_that_cannot_be_compiled_is_named_with_its_line_and_other_files_still_reported(tmp_path, template,
                                                                                                 message):
    problem = the_template_problem(hostile(tmp_path, template))
    assert problem.startswith("jobs/custom.yaml: templates/custom.json.j2:1: cannot be compiled: "), problem
    assert message in problem


def test_an_included_template_that_cannot_be_compiled_is_named_not_its_includer(tmp_path):
    files = {**custom('{% include "deep.j2" %}'), "templates/deep.j2": "\n{{ " + "(" * 100 + "1" + ")" * 100 + " }}"}
    found = problems(tmp_path, files)
    assert found == ["jobs/custom.yaml: templates/deep.j2:2: cannot be compiled: brackets nested more than "
                     f"{MAX_NESTING} deep; split the expression with {{% set %}}"]


def test_a_template_within_the_limits_still_renders(tmp_path):
    template = ('{% set ns = namespace(tasks=[]) %}'
                '{% for i in range(200) %}{% set ns.tasks = ns.tasks + ["t%03d" | format(i)] %}{% endfor %}'
                '{"name": {{ (job.name ~ "-" ~ ("%s" % stage)) | tojson }}, '
                '"description": {{ "{:>20}".format("x" * 3) | tojson }}, "tasks": ['
                '{% for key in ns.tasks %}{"task_key": {{ key | tojson }}, '
                '"notebook_task": {"notebook_path": "/Shared/x"}}{{ "," if not loop.last }}{% endfor %}]}')
    (job,) = render(write(tmp_path, custom(template)))
    assert job.settings["name"] == "custom-job-dev" and job.settings["description"] == " " * 17 + "xxx"
    assert [task["task_key"] for task in job.settings["tasks"]] == [f"t{i:03d}" for i in range(200)]


def test_the_same_runaway_template_fails_with_the_same_message_every_time(tmp_path):
    template = RUNAWAY["a macro calling itself twice"][0]
    first = the_template_problem(hostile(tmp_path / "a", template))
    assert the_template_problem(hostile(tmp_path / "b", template)) == first


def test_the_shipped_templates_render_exactly_as_in_jinjas_own_sandbox():
    """The budget's hooks change what a template may cost, never what it renders."""
    bounded = BoundedEnvironment(loader=jinja2.FileSystemLoader(REPO / "templates"), undefined=jinja2.StrictUndefined,
                                 keep_trailing_newline=True)
    plain = jinja2.sandbox.SandboxedEnvironment(loader=jinja2.FileSystemLoader(REPO / "templates"),
                                                undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    job = {"name": "n", "description": "d", "workers": 2, "notebookpath": "/x", "max_concurrent_runs": 2,
           "timeout_seconds": 5, "schedule": {"quartz_cron_expression": "0 0 * * * ?", "timezone_id": "UTC"},
           "tasks": [{"key": "a", "notebook": "/a", "parameters": {"p": "v"}, "max_retries": 1},
                     {"key": "b", "notebook": "/b", "depends_on": ["a"]}]}
    context = {"job": job, "parameters": {"x": "1"}, "stage": "dev", "pool": lambda name=None: "pool",
               "vars": {"spark_version": "s", "schedule_pause_status": "PAUSED"}}
    names = sorted(path.name for path in (REPO / "templates").glob("*.j2"))
    assert names
    for name in names:
        expected = plain.get_template(name).render(context)
        assert bounded.render_bounded(bounded.get_template(name), context, 1 << 20) == expected, name


def test_random_and_lipsum_are_gone_so_a_plan_is_the_same_on_every_run(tmp_path):
    found = problems(tmp_path, {**custom("{{ [1, 2] | random }}"), "jobs/other.yaml": "template: other.j2\nname: o\n",
                                "templates/other.j2": "{{ lipsum() }}"})
    assert "jobs/custom.yaml: templates/custom.json.j2:1: Jinja syntax error: No filter named 'random'." in found
    assert "jobs/other.yaml: templates/other.j2:1: undefined: 'lipsum' is undefined" in found


def test_templates_cannot_mutate_the_definition_they_are_given(tmp_path):
    problem = problems(tmp_path, custom('{{ job.update({"name": "other"}) }}'))[0]
    assert "SecurityError" in problem and "'update'" in problem


def test_a_value_referring_to_itself_is_measured_in_bounded_steps():
    namespace = jinja2.utils.Namespace()
    namespace["self"] = namespace
    nested = [["x" * 10] * 1000] * 1000
    assert text_size(nested)[0] > MAX_VALUE_SIZE
    assert text_size(namespace)[0] > MAX_VALUE_SIZE  # stops at the limit instead of looping
    sample = ["ab", {"c": 1, "d": [None, 2.5, True]}]
    size, depth = text_size(sample)
    assert len(str(sample)) <= size <= 2 * len(str(sample)) and depth == 3


def test_outside_a_render_only_the_value_limits_apply():
    environment = BoundedEnvironment()
    with pytest.raises(TemplateLimit, match="would make 3,000,000,000"):
        environment.call_binop(None, "*", "x", 3_000_000_000)
    environment.template_step(10**9)  # no budget outside render_bounded
