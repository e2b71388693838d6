"""A Jinja2 sandbox whose templates end promptly, in bounded memory, whatever they hold.

Jinja's own ``SandboxedEnvironment`` keeps templates away from Python internals and caps ``range()``, but a
template can still hang (nested loops, a macro that calls itself twice), exhaust memory (``"x" * 3000000000``,
``"x" | center(3000000000)``, a string doubled in a loop) or crash the compiler (3,000 nested parentheses).
``BoundedEnvironment`` closes each class with Jinja's documented hooks:

- compile: the template's source is checked before Jinja parses it (nesting of blocks and brackets, length of
  number literals), and its syntax tree before Python compiles it (depth), so neither recursion nor Python's
  static limits are reached; operators and filters that could blow up refuse at compile time too (Jinja folds
  constant expressions while compiling, so ``{{ "x" * 3000000000 }}`` would otherwise run right there);
- values: ``*``, ``**``, ``%`` and ``+`` are intercepted (``intercepted_binops``/``call_binop``), every
  filter is wrapped and every call goes through ``call``: each checks, *before* computing, that the result
  stays under ``MAX_VALUE_SIZE`` characters (or list items) and integers under ``MAX_INTEGER_BITS``; widths and
  counts (``center(n)``, ``batch(n)``, ``"{:n}"``) are capped like ``range()``; ``~`` and ``{{ }}`` measure
  what they turn into text (a list of a million references to one long string is small until printed);
- work: the generated code counts a step each time a block body runs (loop iteration, if branch, macro
  call) and each filter or call counts the items it touches. ``MAX_STEPS`` and ``MAX_PRODUCED`` bound a
  render's time and memory; the count is deterministic (the same template fails the same way on every
  machine), and works without threads or signals, in whichever thread renders.

Templates cannot mutate lists or dicts (``ImmutableSandboxedEnvironment``), and ``random``/``lipsum`` are
gone: a job's settings must be the same on every run.
"""

from __future__ import annotations

import functools
import inspect
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import jinja2
import jinja2.nodes
import jinja2.sandbox
from jinja2.compiler import CodeGenerator, CompilerExit, Frame, optimizeconst
from jinja2.utils import Namespace
from markupsafe import EscapeFormatter, Markup

# A job renders to a few KB; these sit far above any real template and far below what hurts.
MAX_VALUE_SIZE = 1_000_000  # characters of one text, items of one list or mapping
MAX_INTEGER_BITS = 256
MAX_COUNT = jinja2.sandbox.MAX_RANGE  # widths and counts a filter or method makes, as range() is capped
MAX_STEPS = 250_000  # block bodies run, filters and functions called, items they touch
MAX_PRODUCED = 16_000_000  # characters and items made in all, by one render
MAX_NESTING = 16  # nested blocks ({% for %}, {% if %}, ...) and nested brackets inside one tag
MAX_TREE_DEPTH = 64  # depth of the template's syntax tree (e.g. a chain of filters)
MAX_NUMBER_CHARACTERS = 40  # a number literal; Python refuses integers of more than 4,300 digits

# Tags that open a block closed by {% end<tag> %}. {% set x %}...{% endset %} opens one too; {% set x = 1 %} not.
_BLOCK_TAGS = frozenset({"for", "if", "macro", "call", "filter", "with", "block", "autoescape", "trans"})
_OPENING_BRACKETS, _CLOSING_BRACKETS = frozenset("([{"), frozenset(")]}")
_DROPPED_FILTERS = ("random",)  # a different job on every run
_DROPPED_GLOBALS = ("lipsum",)  # random text


class TemplateLimit(Exception):
    """A template went past one of this module's limits; the message says which and what to change."""


class TemplateTooComplex(jinja2.TemplateSyntaxError):
    """A template whose source is refused before it is compiled (nested too deeply, a huge number literal)."""


# --- measuring values ----------------------------------------------------------------------------------


def text_size(value: Any, limit: int = MAX_VALUE_SIZE) -> tuple[int, int]:
    """(characters, depth): about how long ``str(value)`` is and how deeply it nests, measured without making
    the text. The walk stops once the size passes ``limit``, so it costs at most ``limit`` steps and little
    memory, even for a list of a million references to one long text or a value that refers to itself (every
    step adds at least one character)."""
    size, deepest = 0, 0
    pending: list[tuple[Iterator[Any], int]] = [(iter((value,)), 0)]
    while pending and size <= limit:
        items, depth = pending[-1]
        item = next(items, _END)
        if item is _END:
            pending.pop()
            continue
        deepest = max(deepest, depth)
        quotes = 2 if depth else 0  # a text inside a container is shown quoted
        if isinstance(item, str):
            size += len(item) + quotes
        elif isinstance(item, bytes | bytearray):
            size += 4 * len(item) + 3  # repr escapes a byte to at most \xNN
        elif isinstance(item, bool) or item is None:
            size += 5
        elif isinstance(item, int):
            size += item.bit_length() // 3 + 2
        elif isinstance(item, float):
            size += 24
        elif isinstance(item, Mapping):
            size += 2 + 4 * len(item)
            pending.append((_pairs(item), depth + 1))
        elif isinstance(item, Namespace):
            attributes = getattr(item, "_Namespace__attrs", {})  # what its repr shows
            size += 13 + 4 * len(attributes)
            pending.append((_pairs(attributes), depth + 1))
        elif isinstance(item, list | tuple | set | frozenset) or _is_view(item):
            size += 2 + 2 * len(item)
            pending.append((iter(item), depth + 1))
        else:
            size += 64  # the repr of an object: its type and address
    return size, deepest


_END = object()


def _pairs(mapping: Mapping) -> Iterator[Any]:
    for key, value in mapping.items():
        yield key
        yield value


def _is_view(item: Any) -> bool:
    return type(item).__name__ in ("dict_keys", "dict_values", "dict_items")


def _length(value: Any) -> int | None:
    """Characters of a text, items of a container; None for what has no length (numbers, generators)."""
    if isinstance(value, str | bytes | bytearray | list | tuple | dict | set | frozenset):
        return len(value)
    return None


def _count(value: Any, what: str) -> int:
    """A width or count argument, checked against MAX_COUNT (anything else is left to the function)."""
    if isinstance(value, int) and not isinstance(value, bool) and value > MAX_COUNT:
        raise TemplateLimit(f"{what} of {_number(value)}: widths and counts in templates are at most "
                            f"{MAX_COUNT:,} (as range() is)")
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _number(value: int) -> str:
    return f"{value:,}" if value.bit_length() <= 64 else f"a {value.bit_length()}-bit number"


def _too_big(what: str, size: int) -> TemplateLimit:
    return TemplateLimit(f"{what} would make {size:,} characters or items; one value in a template is at most "
                         f"{MAX_VALUE_SIZE:,}")


def _check_size(what: str, size: int) -> None:
    if size > MAX_VALUE_SIZE:
        raise _too_big(what, size)


# --- printf-style formatting (``%`` and the ``format`` filter) ------------------------------------------

_PERCENT_SPEC = re.compile(r"%(?:\((?P<key>[^)]*)\))?[#0\- +]*(?P<width>\*|\d+)?(?:\.(?P<precision>\*|\d+))?"
                           r"[hlL]?(?P<kind>.?)", re.DOTALL)


def check_percent(text: Any, arguments: Any) -> None:
    """``text % arguments`` stays under MAX_VALUE_SIZE: widths and precisions are capped and each conversion
    counts the text of the argument it takes (``%(a)s`` repeated takes ``a`` each time)."""
    if isinstance(text, bytes | bytearray):
        text = bytes(text).decode("latin-1")
    if not isinstance(text, str):
        return
    positional = list(arguments) if isinstance(arguments, tuple) else [arguments]
    mapping = arguments if isinstance(arguments, Mapping) else None
    size, index = len(text), 0
    for spec in _PERCENT_SPEC.finditer(text):
        if spec["kind"] == "%":
            continue
        for part in ("width", "precision"):
            if spec[part] == "*":
                star = positional[index] if index < len(positional) else 0
                index += 1
                size += _count(star, f"'%' {part}")
            elif spec[part]:
                size += _count(int(spec[part]) if len(spec[part]) < 12 else MAX_COUNT + 1, f"'%' {part}")
        if spec["key"] is not None and mapping is not None:
            argument = mapping.get(spec["key"], "")
        else:
            argument = positional[index] if index < len(positional) else ""
            index += 1
        size += text_size(argument)[0]
        _check_size("'%' formatting", size)


class _BoundedFormatterMixin:
    """``str.format``: each field's spec numbers are capped and the text made so far is counted."""

    made = 0

    def format_field(self, value: Any, format_spec: str) -> Any:
        for digits in re.findall(r"\d+", format_spec):
            _count(int(digits) if len(digits) < 12 else MAX_COUNT + 1, "a width or precision in str.format")
        _check_size("str.format", self.made + text_size(value)[0])
        result = super().format_field(value, format_spec)
        self.made += len(result)
        _check_size("str.format", self.made)
        return result


class _BoundedFormatter(_BoundedFormatterMixin, jinja2.sandbox.SandboxedFormatter):
    pass


class _BoundedEscapeFormatter(_BoundedFormatterMixin, jinja2.sandbox.SandboxedEscapeFormatter):
    pass


# --- filters -------------------------------------------------------------------------------------------


def _estimate_replace(text: Any, old: Any, new: Any, count: Any = -1) -> None:
    if not isinstance(old, str | bytes) or not isinstance(new, str | bytes) or not isinstance(text, str | bytes):
        return
    if type(old) is not type(text) or type(new) is not type(text):
        return
    hits = text.count(old) if old else len(text) + 1
    if isinstance(count, int) and not isinstance(count, bool) and count >= 0:
        hits = min(hits, count)
    _check_size("replace()", len(text) + hits * max(0, len(new) - len(old)))


def _estimate_join(parts: list, separator: Any) -> None:
    separator_size = text_size(separator)[0] if separator else 0
    _check_size("join", text_size(parts)[0] + separator_size * len(parts))


# Filters whose result can be far larger than their input, or that take an iterable to measure first.
_CHECKED_FILTERS = frozenset({"center", "indent", "wordwrap", "replace", "join", "format", "tojson", "pprint",
                              "batch", "slice", "sum"})


def _filter_checks(name: str, bound: inspect.BoundArguments, env: BoundedEnvironment) -> None:
    """What a filter is about to make, estimated from its arguments, for the filters whose result can be far
    larger than what they are given."""
    arguments = bound.arguments
    value = arguments.get("value", arguments.get("s"))
    if name == "center":
        _count(arguments.get("width", 80), "center() width")
    elif name == "indent":
        width = arguments.get("width", 4)
        indent = len(width) if isinstance(width, str) else _count(width, "indent() width")
        lines = str(value).count("\n") + 1 if isinstance(value, str) else 1
        _check_size("indent()", text_size(value)[0] + lines * indent)
    elif name == "wordwrap":
        wrapstring = arguments.get("wrapstring") or "\n"
        text = text_size(value)[0]
        width = arguments.get("width", 79)
        lines = text // max(width, 1) + 1 if isinstance(width, int) else text
        _check_size("wordwrap()", text + min(lines, text) * len(str(wrapstring)))
    elif name == "replace":
        _estimate_replace(value, arguments.get("old"), arguments.get("new"), arguments.get("count", -1))
    elif name == "join":
        _estimate_join(value, arguments.get("d", ""))
    elif name == "format":
        check_percent(value, arguments.get("kwargs") or arguments.get("args", ()))
    elif name == "tojson":
        indent = arguments.get("indent")
        step = len(indent) if isinstance(indent, str) else _count(indent, "tojson() indent")
        size, depth = text_size(value)
        _check_size("tojson()", size * (1 + depth * step))
    elif name == "pprint":
        size, depth = text_size(value)
        _check_size("pprint()", size * (1 + depth))
    elif name == "batch":
        _count(arguments.get("linecount"), "batch() size")
    elif name == "slice":
        _count(arguments.get("slices"), "slice() count")
    elif name == "sum":
        start = arguments.get("start", 0)
        if not isinstance(start, int | float):
            # Adding lists makes a new list per item: the work grows with items times total length.
            items = arguments["iterable"]
            total = (_length(start) or 0) + sum(_length(item) or 1 for item in items)
            _check_size("sum()", total)
            env.spend(steps=len(items) * max(total, 1) // 8)


def _materialized(name: str, bound: inspect.BoundArguments) -> None:
    """Turn the iterable a filter will join or add up into a list first, so its size can be measured."""
    key = {"join": "value", "sum": "iterable"}.get(name)
    if key and key in bound.arguments:
        bound.arguments[key] = listed(bound.arguments[key], f"the input of the {name} filter")


def listed(items: Any, what: str) -> Any:
    """An iterable as a list (a list, tuple or text as it is), refused once it passes MAX_VALUE_SIZE items."""
    if isinstance(items, list | tuple | str | bytes):
        return items
    result: list = []
    for item in items:
        result.append(item)
        if len(result) > MAX_VALUE_SIZE:
            raise _too_big(what, len(result))
    return result


def _bounded_filter(name: str, function: Callable, env: BoundedEnvironment) -> Callable:
    try:
        signature: inspect.Signature | None = inspect.signature(function)
    except (TypeError, ValueError):
        signature = None
    # Filters marked pass_context/pass_eval_context/pass_environment get that first. Jinja's async variants
    # (e.g. slice) show the signature of their sync function, which may not name it: bind without it then.
    passes_first = getattr(function, "jinja_pass_arg", None) is not None
    names = list(signature.parameters) if signature is not None else []
    binds_first = passes_first and bool(names) and names[0] in ("context", "eval_ctx", "environment", "env")
    checked = signature is not None and name in _CHECKED_FILTERS

    @functools.wraps(function)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        lead, rest = (args[:1], args[1:]) if passes_first else ((), args)
        value = rest[0] if rest else None
        size = text_size(value)[0]
        env.spend(steps=1 + min(size, MAX_VALUE_SIZE) // 8)
        _check_size(f"the input of the {name} filter", size)
        if checked:
            try:
                bound = signature.bind(*args, **kwargs) if binds_first else signature.bind(*rest, **kwargs)
            except TypeError:
                bound = None  # the filter reports its own wrong arguments
            if bound is not None:
                _materialized(name, bound)
                _filter_checks(name, bound, env)
                args = bound.args if binds_first else (*lead, *bound.args)
                kwargs = bound.kwargs
        result = function(*args, **kwargs)
        env.made(result, f"the {name} filter")
        return result

    return bounded


# --- method calls ----------------------------------------------------------------------------------------


def _check_call(function: Any, args: tuple, kwargs: Mapping[str, Any]) -> tuple[tuple, Mapping[str, Any]]:
    """Before a builtin method runs: estimates for the methods whose result can be far larger than their input."""
    owner, name = getattr(function, "__self__", None), getattr(function, "__name__", "")
    if isinstance(owner, str | bytes | bytearray):
        first = args[0] if args else None
        if name in ("center", "ljust", "rjust", "zfill"):
            _count(first, f"{name}() width")
        elif name == "expandtabs":
            tab = _count(kwargs.get("tabsize", first if args else 8), "expandtabs() tab size")
            _check_size("expandtabs()", len(owner) + owner.count("\t" if isinstance(owner, str) else b"\t") * tab)
        elif name == "replace" and len(args) >= 2:
            _estimate_replace(owner, args[0], args[1], args[2] if len(args) > 2 else kwargs.get("count", -1))
        elif name == "join" and args:
            parts = listed(args[0], "the input of join()")
            _estimate_join(parts, owner)
            args = (parts, *args[1:])
        elif name == "translate" and isinstance(first, Mapping):
            longest = max((len(value) for value in first.values() if isinstance(value, str | bytes)), default=1)
            _check_size("translate()", len(owner) * max(longest, 1))
    elif isinstance(owner, int) and name == "to_bytes":
        _count(kwargs.get("length", args[0] if args else 1), "to_bytes() length")
    return args, kwargs


# --- the generated code ------------------------------------------------------------------------------------


class _BudgetedCodeGenerator(CodeGenerator):
    """Jinja's code generator, plus a step at the top of every block body and a measured ``~``."""

    def blockvisit(self, nodes: Iterable[jinja2.nodes.Node], frame: Frame) -> None:
        nodes = list(nodes)
        # Literal text in the body is made each time the body runs: count it with the step.
        literal = sum(len(child.data) for node in nodes if isinstance(node, jinja2.nodes.Output)
                      for child in node.nodes if isinstance(child, jinja2.nodes.TemplateData))
        try:
            self.writeline(f"environment.template_step({literal})")
            for node in nodes:
                self.visit(node, frame)
        except CompilerExit:
            pass

    @optimizeconst
    def visit_Concat(self, node: jinja2.nodes.Concat, frame: Frame) -> None:
        if frame.eval_ctx.volatile:
            join = "(markup_join if context.eval_ctx.volatile else str_join)"
        elif frame.eval_ctx.autoescape:
            join = "markup_join"
        else:
            join = "str_join"
        self.write(f"environment.bounded_concat({join}, (")
        for argument in node.nodes:
            self.visit(argument, frame)
            self.write(", ")
        self.write("))")


# --- the environment -----------------------------------------------------------------------------------------


class _Budget:
    def __init__(self) -> None:
        self.steps = 0
        self.produced = 0


class BoundedEnvironment(jinja2.sandbox.ImmutableSandboxedEnvironment):
    """An immutable Jinja sandbox with bounded compile, values and work (see the module docstring). Render with
    ``render_bounded``; outside it (e.g. while Jinja folds constants at compile time) only the value limits
    apply."""

    intercepted_binops = frozenset({"*", "**", "%", "+"})
    code_generator_class = _BudgetedCodeGenerator

    def __init__(self, **options: Any) -> None:
        super().__init__(finalize=self._output, **options)
        for name in _DROPPED_FILTERS:
            self.filters.pop(name, None)
        for name in _DROPPED_GLOBALS:
            self.globals.pop(name, None)
        self.filters = {name: _bounded_filter(name, function, self) for name, function in self.filters.items()}
        self._budget: _Budget | None = None

    # compile ------------------------------------------------------------------------------------------------

    def compile(self, source: Any, name: str | None = None, filename: str | None = None, raw: bool = False,
                defer_init: bool = False) -> Any:
        """Check the source and its syntax tree before Jinja and Python compile them (includes come here too)."""
        if isinstance(source, str):
            check_source(self, source, name, filename)
            try:
                source = self.parse(source, name, filename)
            except RecursionError:
                raise TemplateTooComplex("nested too deeply for Jinja's parser; simplify the expression", 1,
                                         name, filename) from None
        if isinstance(source, jinja2.nodes.Template):
            check_tree_depth(source, name, filename)
        return super().compile(source, name, filename, raw, defer_init)

    # render -----------------------------------------------------------------------------------------------

    def render_bounded(self, template: jinja2.Template, context: Mapping[str, Any], max_output: int) -> str:
        """Render within the budget; raise ``TemplateLimit`` once the output passes ``max_output`` characters,
        the steps MAX_STEPS or what the render makes MAX_PRODUCED."""
        previous, self._budget = self._budget, _Budget()
        try:
            chunks, size = [], 0
            for chunk in template.generate(context):
                size += len(chunk)
                if size > max_output:
                    raise TemplateLimit(f"renders more than {max_output // (1024 * 1024)} MiB for one job; a loop "
                                        "that never ends?")
                chunks.append(chunk)
            return "".join(chunks)
        finally:
            self._budget = previous

    def spend(self, *, steps: int = 0, produced: int = 0) -> None:
        budget = self._budget
        if budget is None:
            return
        budget.steps += steps
        budget.produced += produced
        if budget.steps > MAX_STEPS:
            raise TemplateLimit(f"runs more than {MAX_STEPS:,} steps (loop iterations, blocks, macro and filter "
                                "calls) for one job; a loop that never ends, or loops nested too deeply?")
        if budget.produced > MAX_PRODUCED:
            raise TemplateLimit(f"makes more than {MAX_PRODUCED:,} characters and list items in all for one job; "
                                "a value copied in a loop?")

    def made(self, result: Any, what: str) -> None:
        """Count a value a filter, call or operator made, and refuse it when it is too large."""
        size = _length(result)
        if size is not None:
            _check_size(what, size)
        self.spend(steps=1, produced=size or 1)

    # hooks called by the generated code ----------------------------------------------------------------------

    def template_step(self, literal: int) -> None:
        self.spend(steps=1, produced=literal)

    def bounded_concat(self, join: Callable[[Iterable[Any]], str], parts: tuple) -> str:
        size = sum(text_size(part)[0] for part in parts)
        _check_size("'~'", size)
        self.spend(steps=1 + len(parts), produced=size)
        return join(parts)

    def _output(self, value: Any) -> Any:
        """Every ``{{ ... }}`` (Jinja's finalize): what is about to become text is measured first."""
        if not isinstance(value, str | int | float | type(None)):
            size = text_size(value)[0]
            _check_size("{{ ... }}", size)
            self.spend(steps=1 + size // 8, produced=size)
        elif isinstance(value, str):
            self.spend(steps=1, produced=len(value))
        return value

    def call_binop(self, context: jinja2.runtime.Context, operator: str, left: Any, right: Any) -> Any:
        check_binop(operator, left, right)
        result = self.binop_table[operator](left, right)
        self.made(result, f"'{operator}'")
        return result

    def call(self, context: jinja2.runtime.Context, function: Any, /, *args: Any, **kwargs: Any) -> Any:
        args, kwargs = _check_call(function, args, kwargs)
        result = super().call(context, function, *args, **kwargs)
        self.made(result, f"{getattr(function, '__name__', 'a call')}()")
        return result

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """Jinja's sandboxed ``str.format``/``format_map``, with a formatter that counts what it makes."""
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        text: str = value.__self__
        is_format_map = value.__name__ == "format_map"

        def bounded_format(*args: Any, **kwargs: Any) -> str:
            if is_format_map:
                if kwargs or len(args) != 1:
                    raise TypeError("format_map() takes exactly one argument")
                args, kwargs = (), args[0]
            formatter: jinja2.sandbox.SandboxedFormatter
            if isinstance(text, Markup):
                formatter = _BoundedEscapeFormatter(self, escape=text.escape)
            else:
                formatter = _BoundedFormatter(self)
            return type(text)(formatter.vformat(text, args, kwargs))

        return functools.update_wrapper(bounded_format, value)


assert issubclass(_BoundedEscapeFormatter, EscapeFormatter)


def check_binop(operator: str, left: Any, right: Any) -> None:
    """Refuse ``left <operator> right`` before Python computes it, when the result would be too large."""
    if operator == "%":
        if isinstance(left, str | bytes | bytearray):
            check_percent(left, right)
        return
    left_int, right_int = _is_int(left), _is_int(right)
    if left_int and right_int:
        if operator == "*":
            bits = left.bit_length() + right.bit_length()
        elif operator == "**":
            base, exponent = abs(left), right
            bits = exponent * math.log2(base) if base > 1 and exponent > 0 else 0
        else:
            bits = max(left.bit_length(), right.bit_length()) + 1
        if bits > MAX_INTEGER_BITS:
            raise TemplateLimit(f"'{operator}' would make an integer of about {bits:,.0f} bits; integers in "
                                f"templates are at most {MAX_INTEGER_BITS} bits")
        return
    if operator == "*":
        sequence, times = (left, right) if right_int else (right, left) if left_int else (None, 0)
        length = _length(sequence)
        if length is not None and times > 0:
            _check_size("'*'", length * times)
    elif operator == "+":
        left_length, right_length = _length(left), _length(right)
        if left_length is not None and right_length is not None:
            _check_size("'+'", left_length + right_length)


def _is_int(value: Any) -> bool:
    return isinstance(value, int)  # bool too: True * "x" repeats


# --- checks on the source and the syntax tree -----------------------------------------------------------------


def check_source(env: jinja2.Environment, source: str, name: str | None, filename: str | None) -> None:
    """Refuse, with its line, what would make Jinja's parser or Python's compiler fail badly: blocks or brackets
    nested deeper than MAX_NESTING and number literals longer than MAX_NUMBER_CHARACTERS. Uses Jinja's own
    lexer, which reads the source in one pass without recursion."""
    blocks: list[str] = []
    brackets = 0
    tag: list[tuple[str, str]] | None = None  # tokens of the {% ... %} being read
    for line, kind, value in env.lex(source, name, filename):
        if kind in ("integer", "float") and len(value) > MAX_NUMBER_CHARACTERS:
            raise TemplateTooComplex(f"a number literal of {len(value):,} characters; templates take numbers "
                                     f"of at most {MAX_NUMBER_CHARACTERS}", line, name, filename)
        if kind == "operator" and value in _OPENING_BRACKETS:
            brackets += 1
            if brackets > MAX_NESTING:
                raise TemplateTooComplex(f"brackets nested more than {MAX_NESTING} deep; split the expression "
                                         "with {% set %}", line, name, filename)
        elif kind == "operator" and value in _CLOSING_BRACKETS:
            brackets = max(brackets - 1, 0)
        elif kind == "block_begin":
            tag = []
        elif kind == "block_end" and tag is not None:
            _follow_blocks(tag, blocks, line, name, filename)
            tag = None
        elif tag is not None and kind != "whitespace":
            tag.append((kind, value))
        if kind in ("variable_end", "block_end"):
            brackets = 0


def _follow_blocks(tag: list[tuple[str, str]], blocks: list[str], line: int, name: str | None,
                   filename: str | None) -> None:
    if not tag or tag[0][0] != "name":
        return
    word = tag[0][1]
    opens = word in _BLOCK_TAGS or (word == "set" and ("operator", "=") not in tag)
    if opens:
        blocks.append(word)
        if len(blocks) > MAX_NESTING:
            raise TemplateTooComplex(f"blocks nested more than {MAX_NESTING} deep ({{% {word} %}} inside "
                                     f"{len(blocks) - 1} others); move the inner part into a macro or an "
                                     "included template", line, name, filename)
    elif word.startswith("end") and blocks:
        blocks.pop()


def check_tree_depth(template: jinja2.nodes.Template, name: str | None, filename: str | None) -> None:
    """Refuse a syntax tree deeper than MAX_TREE_DEPTH (a chain of hundreds of filters or operators) before the
    code generator recurses into it; walked without recursion."""
    pending: list[tuple[jinja2.nodes.Node, int]] = [(template, 0)]
    while pending:
        node, depth = pending.pop()
        if depth > MAX_TREE_DEPTH:
            raise TemplateTooComplex(f"an expression or block nested more than {MAX_TREE_DEPTH} levels deep (a "
                                     "long chain of filters or operators?); split it with {% set %}",
                                     getattr(node, "lineno", 1) or 1, name, filename)
        pending.extend((child, depth + 1) for child in node.iter_child_nodes())
