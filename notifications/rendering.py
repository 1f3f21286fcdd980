"""Email templates: merchant-editable Jinja2 rendered in an immutable sandbox, within limits. Pure.

Flow: ``render_email(trigger, language, context, overrides)`` takes the merchant's source for each
part (subject, html, text) or the default under templates/emails/<lang>/, adds the fixed words of
the language, sanitizes URLs and colours, and calls ``render``. ``render`` compiles (cached by
source), then streams ``template.generate()`` while holding it to a wall-clock budget, a step budget
(loop iterations and calls) and an output cap. ``validate`` is what a save runs: syntax errors with
line numbers, size and nesting limits, and warnings for names the context does not have.

Beyond Jinja's sandbox (no ``_``-attributes, no mutation of lists and dicts), every operation that
can grow a value is capped before it runs: ``*``, ``**``, ``+``, ``%`` and ``~``, string formatting
widths, the filters that pad, wrap, repeat or join, buffered output (macros, ``{% set %}`` blocks,
``super()``), and ``range``. Whatever goes wrong surfaces as ``TemplateProblem``.
"""

from __future__ import annotations

import contextvars
import functools
import math
import re
import string
import time
import types
from collections.abc import Callable, ItemsView, Iterator, KeysView, Mapping, ValuesView
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import (
    BaseLoader,
    ChainableUndefined,
    TemplateNotFound,
    TemplateSyntaxError,
    nodes,
    pass_environment,
    pass_eval_context,
)
from jinja2 import filters as jinja_filters
from jinja2.compiler import CodeGenerator
from jinja2.runtime import LoopContext, Undefined, markup_join, str_join
from jinja2.sandbox import (
    ImmutableSandboxedEnvironment,
    SandboxedEscapeFormatter,
    SandboxedFormatter,
)
from markupsafe import Markup

from carriers.statuses import action_required
from wismo.tracking.labels import (
    next_step,
    pick_language,
    status_label,
    substatus_text,
    ui_words,
)

TRIGGERS: tuple[str, ...] = (
    "shipped",
    "in_transit",
    "out_for_delivery",
    "available_for_pickup",
    "failed_attempt",
    "delivered",
    "exception",
    "delayed",
    "still_on_track",
    "tracking_number_changed",
    "delivery_check",
)
PARTS: tuple[str, ...] = ("subject", "html", "text")

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates" / "emails"
_SUFFIX = {"subject": ".subject.txt", "html": ".html", "text": ".txt"}

MAX_SOURCE_BYTES = 100 * 1024  # a template's source
MAX_OUTPUT_CHARS = 512 * 1024  # one rendered part, and any single value built on the way
MAX_SUBJECT_CHARS = 255
TIME_LIMIT_SECONDS = 2.0  # wall clock for one part
MAX_STEPS = 200_000  # loop iterations plus calls in one part
MAX_RANGE = 1_000  # items of one range()
MAX_WIDTH = 1_000  # padding, indent, wrap and format widths
MAX_INT_BITS = 256  # results of * and ** on integers
MAX_NESTING = 40  # depth of the parsed template tree
MAX_LOOP_NESTING = 8  # for-loops inside for-loops

VARIABLES: dict[str, str] = {
    "shopper": "The person who ordered: {name, first_name, email}.",
    "order": "The order: {number, placed_at, items: [{title, quantity, sku, image_url, price}]}.",
    "shipment": (
        "The parcel this email is about: {carrier, carrier_slug, tracking_number,"
        " previous_tracking_number, carrier_tracking_url, status, status_label, substatus, reason,"
        " next_step, action_required, last_event: {description, location, occurred_at},"
        " expected_date, expected_earliest, expected_latest, delivered_at,"
        " pickup_point: {name, address, opening_hours}}."
    ),
    "shipments": "Every parcel of the order in this email, each like shipment (more than one: a digest).",
    "tracking_url": "The shopper's tracking page for this order or parcel.",
    "store": "The store: {name, url, support_email}.",
    "brand": (
        "The sender's branding: {name, sender_name, logo_url, primary_color, accent_color, font,"
        " text_on_primary (black or white, whichever reads on primary_color)}."
    ),
    "promotion": (
        "None, or the merchant's promotion block: {title, text, image_url, link_url,"
        " products: [{title, image_url, url, price}]}."
    ),
    "show_promotion": "True when promotion is set and the email is not about an exception.",
    "discount_code": "A code offered to apologise for a delay, or empty.",
    "unsubscribe_url": "The page where the shopper stops these emails.",
    "language": "The email's language code: en, it, es, de or fr.",
    "trigger": "What this email is about, one of TRIGGERS.",
    "ui": "Fixed interface words in the email's language (track_button, status, carrier, ...).",
}
"""The plain context of every template. Dates and amounts arrive as text, already formatted in the
shopper's language; values are dicts, lists, strings, numbers and booleans, never model objects."""


class TemplateProblem(ValueError):
    """A template that cannot be saved or rendered; ``line`` is its line number when known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" if self.line else self.message


@dataclass(frozen=True, slots=True)
class RenderedEmail:
    subject: str
    html: str
    text: str


# --- budget of one render -------------------------------------------------------------------------


@dataclass(slots=True)
class _Budget:
    deadline: float
    steps: int = 0

    def check_time(self) -> None:
        if time.monotonic() > self.deadline:
            raise TemplateProblem(f"rendering took longer than {TIME_LIMIT_SECONDS:g} seconds")

    def step(self) -> None:
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise TemplateProblem(f"the template does more than {MAX_STEPS} loop steps and calls")
        self.check_time()


_BUDGET: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar(
    "wismo_budget", default=None
)


def _check_time() -> None:
    budget = _BUDGET.get()
    if budget is not None:
        budget.check_time()


def _step() -> None:
    budget = _BUDGET.get()
    if budget is not None:
        budget.step()


# --- sizes ----------------------------------------------------------------------------------------

_CONTAINERS = (list, tuple, set, frozenset, KeysView, ValuesView, ItemsView)


def _measure(value: Any, limit: int = MAX_OUTPUT_CHARS) -> int:
    """Roughly the characters ``str(value)`` would take; stops counting once past ``limit``.

    Shared references count every time they appear, which is what printing them would cost.
    """
    total = 0
    stack = [value]
    while stack and total <= limit:
        item = stack.pop()
        if isinstance(item, (str, bytes, bytearray)):
            total += len(item)
        elif isinstance(item, bool) or item is None:
            total += 5
        elif isinstance(item, int):
            total += item.bit_length() // 3 + 2
        elif isinstance(item, Mapping):
            total += 2 + 4 * len(item)
            if len(item) <= limit:
                stack.extend(item.keys())
                stack.extend(item.values())
        elif isinstance(item, _CONTAINERS):
            total += 2 + 2 * len(item)
            if len(item) <= limit:
                stack.extend(item)
        elif isinstance(item, range):
            total += 2 + 4 * len(item)
        elif isinstance(item, Undefined):
            continue
        else:
            total += 16
    return total


def _check_size(value: Any, what: str = "a value") -> Any:
    if _measure(value) > MAX_OUTPUT_CHARS:
        raise TemplateProblem(f"{what} would be larger than {MAX_OUTPUT_CHARS // 1024} KB")
    return value


def _bounded_list(iterable: Any, what: str = "a sequence") -> list[Any]:
    """Collect an iterable while counting the size it adds up to, stopping at the cap."""
    items = []
    total = 0
    for item in iterable:
        _step()
        total += _measure(item) + 1
        if total > MAX_OUTPUT_CHARS:
            raise TemplateProblem(f"{what} would be larger than {MAX_OUTPUT_CHARS // 1024} KB")
        items.append(item)
    return items


def _width(value: Any, what: str = "width") -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise TemplateProblem(f"{what} must be a number") from None
    if abs(number) > MAX_WIDTH:
        raise TemplateProblem(f"{what} {number} is over the limit of {MAX_WIDTH}")
    return number


def _capped_concat(parts: Any) -> str:
    """``environment.concat``: joins buffered output (macros, set blocks, super()) under the cap."""
    return "".join(_bounded_list((str(p) for p in parts), "buffered output"))


# --- formatting -----------------------------------------------------------------------------------

_PERCENT_SPEC = re.compile(
    r"%(?:\([^)]*\))?[#0\- +]*(?P<width>\*|\d+)?(?:\.(?P<precision>\*|\d+))?[hlL]?[a-zA-Z%]"
)


def _check_percent(fmt: str, args: Any) -> None:
    """Bound printf-style formatting before Python runs it: widths, and the total it can produce."""
    values = (
        list(args.values())
        if isinstance(args, Mapping)
        else (list(args) if isinstance(args, tuple) else [args])
    )
    specs = list(_PERCENT_SPEC.finditer(fmt))
    for spec in specs:
        for group in ("width", "precision"):
            text = spec.group(group)
            if text == "*":
                for value in values:
                    if isinstance(value, int) and not isinstance(value, bool):
                        _width(value)
            elif text:
                _width(text)
    largest = max((_measure(v) for v in values), default=0)
    if len(fmt) + len(specs) * (MAX_WIDTH + largest) > MAX_OUTPUT_CHARS:
        raise TemplateProblem("the formatted text would be too large")


class _CappedFormatting(string.Formatter):
    """For ``str.format``: no width or precision over MAX_WIDTH, and a running total of output."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._produced = 0

    def format_field(self, value: Any, format_spec: str) -> Any:
        for digits in re.findall(r"\d+", format_spec):
            _width(digits, "format width")
        text = super().format_field(value, format_spec)
        self._produced += len(text)
        if self._produced > MAX_OUTPUT_CHARS:
            raise TemplateProblem("the formatted text would be too large")
        return text


class _Formatter(_CappedFormatting, SandboxedFormatter):
    pass


class _EscapeFormatter(_CappedFormatting, SandboxedEscapeFormatter):
    pass


# --- filters --------------------------------------------------------------------------------------


def _prepare(value: Any) -> Any:
    # Generators (map, select, ...) are collected under the cap so the next filter sees a list.
    if isinstance(value, types.GeneratorType):
        return _bounded_list(value)
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > MAX_INT_BITS:
        raise TemplateProblem("a number is too large")
    return _check_size(value, "a filter's input")


def _guarded_filter(func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)  # keeps jinja_pass_arg, so context/environment are still passed
    def guarded(*args: Any, **kwargs: Any) -> Any:
        _check_time()
        args = tuple(_prepare(a) for a in args)
        kwargs = {k: _prepare(v) for k, v in kwargs.items()}
        result = func(*args, **kwargs)
        if not isinstance(result, Iterator):
            _check_size(result, "a filter's result")
        return result

    return guarded


def _f_center(value: Any, width: Any = 80) -> str:
    return jinja_filters.do_center(value, _width(width))


def _f_indent(s: Any, width: Any = 4, first: bool = False, blank: bool = False) -> str:
    prefix_len = len(width) if isinstance(width, str) else _width(width)
    if prefix_len > MAX_WIDTH:
        raise TemplateProblem(f"indent is over the limit of {MAX_WIDTH}")
    text = str(s)
    if len(text) + (text.count("\n") + 1) * prefix_len > MAX_OUTPUT_CHARS:
        raise TemplateProblem("the indented text would be too large")
    return jinja_filters.do_indent(s, width, first, blank)


@pass_environment
def _f_wordwrap(
    environment: Any,
    s: str,
    width: int = 79,
    break_long_words: bool = True,
    wrapstring: str | None = None,
    break_on_hyphens: bool = True,
) -> str:
    width = _width(width)
    if width < 1:
        raise TemplateProblem("wordwrap width must be at least 1")
    joiner = environment.newline_sequence if wrapstring is None else str(wrapstring)
    text = str(s)
    lines = 2 * len(text) // width + text.count("\n") + 1
    if len(text) + lines * len(joiner) > MAX_OUTPUT_CHARS:
        raise TemplateProblem("the wrapped text would be too large")
    return jinja_filters.do_wordwrap(
        environment, s, width, break_long_words, wrapstring, break_on_hyphens
    )


def _f_format(value: Any, *args: Any, **kwargs: Any) -> str:
    _check_percent(str(value), kwargs or args)
    return jinja_filters.do_format(value, *args, **kwargs)


def _replacement_size(text: str, old: str, new: str, count: int | None) -> int:
    hits = len(text) + 1 if old == "" else text.count(old)
    if count is not None and count >= 0:
        hits = min(hits, count)
    return len(text) + hits * (len(new) - len(old))


@pass_eval_context
def _f_replace(eval_ctx: Any, s: Any, old: Any, new: Any, count: int | None = None) -> str:
    if _replacement_size(str(s), str(old), str(new), count) > MAX_OUTPUT_CHARS:
        raise TemplateProblem("the replaced text would be too large")
    return jinja_filters.do_replace(eval_ctx, s, old, new, count)


@pass_eval_context
def _f_join(eval_ctx: Any, value: Any, d: str = "", attribute: Any = None) -> str:
    items = _bounded_list(value, "the joined text")
    if _measure(items) + len(str(d)) * len(items) > MAX_OUTPUT_CHARS:
        raise TemplateProblem("the joined text would be too large")
    return jinja_filters.do_join(eval_ctx, items, d, attribute)


def _f_batch(value: Any, linecount: Any, fill_with: Any = None) -> Any:
    return jinja_filters.do_batch(value, _width(linecount, "batch size"), fill_with)


def _f_slice(value: Any, slices: Any, fill_with: Any = None) -> Any:
    return jinja_filters.do_slice(value, _width(slices, "slice count"), fill_with)


@pass_eval_context
def _f_tojson(eval_ctx: Any, value: Any, indent: Any = None) -> Markup:
    if indent is not None and not 0 <= _width(indent, "indent") <= 8:
        raise TemplateProblem("tojson indent must be between 0 and 8")
    return jinja_filters.do_tojson(eval_ctx, value, indent)


_CAPPED_FILTERS: dict[str, Callable[..., Any]] = {
    "center": _f_center,
    "indent": _f_indent,
    "wordwrap": _f_wordwrap,
    "format": _f_format,
    "replace": _f_replace,
    "join": _f_join,
    "batch": _f_batch,
    "slice": _f_slice,
    "tojson": _f_tojson,
}

# --- the sandbox ----------------------------------------------------------------------------------

# Methods a template may call on strings; the padding ones and replace/join are checked in call().
_STR_METHODS = frozenset(
    {
        "capitalize", "casefold", "center", "count", "endswith", "find", "format", "format_map",
        "index", "isalnum", "isalpha", "isascii", "isdecimal", "isdigit", "islower", "isnumeric",
        "isspace", "istitle", "isupper", "join", "ljust", "lower", "lstrip", "partition",
        "removeprefix", "removesuffix", "replace", "rfind", "rindex", "rjust", "rpartition",
        "rsplit", "rstrip", "split", "splitlines", "startswith", "strip", "striptags", "swapcase",
        "title", "unescape", "upper", "zfill",
    }
)  # fmt: skip
_MAPPING_METHODS = frozenset({"get", "items", "keys", "values"})
_SEQUENCE_METHODS = frozenset({"count", "index"})
_NUMBER_TYPES = (int, float, complex, bytes, bytearray, memoryview)


class _GuardedCodeGenerator(CodeGenerator):
    """Compiles every for-loop's iterable as ``environment.guard_iter(...)`` and every ``~`` as
    ``environment.guarded_concat(...)``, so loops spend from the budget and joins are capped."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._loop_iterables: set[int] = set()

    def visit_For(self, node: nodes.For, frame: Any) -> None:
        self._loop_iterables.add(id(node.iter))
        super().visit_For(node, frame)

    def visit(self, node: nodes.Node, *args: Any, **kwargs: Any) -> Any:
        if id(node) not in self._loop_iterables:
            return super().visit(node, *args, **kwargs)
        self.write("environment.guard_iter(")
        result = super().visit(node, *args, **kwargs)
        self.write(")")
        return result

    def visit_Concat(self, node: nodes.Concat, frame: Any) -> None:
        self.write("environment.guarded_concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("), context.eval_ctx.autoescape)")


class _Blank(ChainableUndefined):
    """A missing name or field renders as nothing, even when called or chained."""

    __slots__ = ()

    def __call__(self, *args: Any, **kwargs: Any) -> _Blank:
        return self


_TEMPLATE_NAME = re.compile(r"(?:(?:en|it|es|de|fr)/)?[a-z][a-z_]*(?:\.subject)?\.(?:html|txt)")


class _DefaultsLoader(BaseLoader):
    """Loads only the built-in templates under templates/emails, by plain relative names."""

    def get_source(self, environment: Any, template: str) -> tuple[str, str, Callable[[], bool]]:
        if not _TEMPLATE_NAME.fullmatch(template):
            raise TemplateNotFound(template)
        path = TEMPLATES_DIR / template
        if not path.is_file():
            raise TemplateNotFound(template)
        mtime = path.stat().st_mtime
        return path.read_text("utf-8"), str(path), lambda: _mtime(path) == mtime


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except OSError:
        return None


def _safe_range(*args: Any) -> range:
    for arg in args:
        if not isinstance(arg, int) or arg.bit_length() > MAX_INT_BITS:
            raise TemplateProblem("range() takes whole numbers")
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise TemplateProblem(f"range() is limited to {MAX_RANGE} items")
    return numbers


class _Sandbox(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**", "+", "%"})
    code_generator_class = _GuardedCodeGenerator

    def __init__(self, *, autoescape: bool) -> None:
        super().__init__(
            loader=_DefaultsLoader(),
            autoescape=autoescape,
            undefined=_Blank,
            finalize=self._finalize,
            trim_blocks=True,
            lstrip_blocks=True,
            optimized=False,  # nothing is evaluated at compile time, outside the budget
            auto_reload=True,
        )
        self.concat = _capped_concat  # type: ignore[method-assign]
        self.globals.pop("lipsum", None)
        self.globals["range"] = _safe_range
        self.filters = {
            name: _guarded_filter(_CAPPED_FILTERS.get(name, func))
            for name, func in self.filters.items()
        }

    # Output and buffers.

    @staticmethod
    def _finalize(value: Any) -> Any:
        _check_time()
        return _check_size(value, "a printed value")

    def guard_iter(self, iterable: Any) -> Iterator[Any]:
        for item in iterable:
            _step()
            yield item

    def guarded_concat(self, items: tuple[Any, ...], autoescape: bool) -> str:
        if _measure(items) > MAX_OUTPUT_CHARS:
            raise TemplateProblem(f"joined text would be larger than {MAX_OUTPUT_CHARS // 1024} KB")
        return markup_join(items) if autoescape else str_join(items)

    # Attributes: dict keys win over dict methods, so ``order.items`` is the order's items.

    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, dict) and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if not super().is_safe_attribute(obj, attr, value):
            return False
        if not callable(value):
            return True
        if isinstance(obj, str):
            return attr in _STR_METHODS
        if isinstance(obj, _NUMBER_TYPES):
            return False
        if isinstance(obj, Mapping):
            return attr in _MAPPING_METHODS
        if isinstance(obj, (list, tuple)):
            return attr in _SEQUENCE_METHODS
        return True

    def unsafe_undefined(self, obj: Any, attribute: str) -> Undefined:
        raise TemplateProblem(
            f"{attribute!r} of a {type(obj).__name__} is not available to templates"
        )

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        if not isinstance(value, (types.MethodType, types.BuiltinMethodType)):
            return None
        if value.__name__ not in ("format", "format_map") or not isinstance(value.__self__, str):
            return None
        template = value.__self__
        is_map = value.__name__ == "format_map"

        def formatted(*args: Any, **kwargs: Any) -> str:
            if is_map:
                if kwargs or len(args) != 1:
                    raise TemplateProblem("format_map() takes exactly one mapping")
                args, kwargs = (), args[0]
            if isinstance(template, Markup):
                formatter: _CappedFormatting = _EscapeFormatter(self, escape=template.escape)
            else:
                formatter = _Formatter(self)
            return type(template)(formatter.vformat(template, args, kwargs))

        return functools.update_wrapper(formatted, value)

    # Operators and calls.

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        _check_time()
        if operator == "**":
            _check_power(left, right)
        elif operator == "*":
            _check_product(left, right)
        elif operator == "+" and not (_is_number(left) and _is_number(right)):
            if _measure(left) + _measure(right) > MAX_OUTPUT_CHARS:
                raise TemplateProblem("the sum would be too large")
        elif operator == "%" and isinstance(left, str):
            _check_percent(left, right)
        return self.binop_table[operator](left, right)

    def call(self, context: Any, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        _step()
        if isinstance(obj, LoopContext) and args:  # loop(children) in a recursive for-loop
            args = (self.guard_iter(args[0]), *args[1:])
        owner = getattr(obj, "__self__", None)
        if isinstance(owner, str):
            args = _check_str_call(owner, getattr(obj, "__name__", ""), args, kwargs)
        result = super().call(context, obj, *args, **kwargs)
        if not isinstance(result, Iterator):
            _check_size(result, "a call's result")
        return result


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float))


def _check_power(base: Any, exponent: Any) -> None:
    if not (isinstance(base, int) and isinstance(exponent, int)) or exponent <= 0 or abs(base) < 2:
        return  # floats overflow with an error, small bases stay small
    if exponent * math.log2(abs(base)) > MAX_INT_BITS:
        raise TemplateProblem("the power would be too large")


def _check_product(left: Any, right: Any) -> None:
    if isinstance(left, int) and isinstance(right, int):
        if left.bit_length() + right.bit_length() > MAX_INT_BITS:
            raise TemplateProblem("the product would be too large")
        return
    for seq, times in ((left, right), (right, left)):
        if isinstance(times, int) and times > 0 and _measure(seq) * times > MAX_OUTPUT_CHARS:
            raise TemplateProblem("the repeated value would be too large")


def _check_str_call(
    text: str, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[Any, ...]:
    if name in ("center", "ljust", "rjust", "zfill"):
        width = args[0] if args else kwargs.get("width", 0)
        _width(width)
    elif name == "replace" and len(args) >= 2:
        count = args[2] if len(args) > 2 else kwargs.get("count")
        if _replacement_size(text, str(args[0]), str(args[1]), count) > MAX_OUTPUT_CHARS:
            raise TemplateProblem("the replaced text would be too large")
    elif name == "join" and args:
        items = _bounded_list(args[0], "the joined text")
        if _measure(items) + len(text) * len(items) > MAX_OUTPUT_CHARS:
            raise TemplateProblem("the joined text would be too large")
        return (items, *args[1:])
    return args


_ENVIRONMENTS = {"html": _Sandbox(autoescape=True), "plain": _Sandbox(autoescape=False)}


def _environment(part: str) -> _Sandbox:
    if part not in PARTS:
        raise TemplateProblem(f"unknown part {part!r}; expected one of {', '.join(PARTS)}")
    return _ENVIRONMENTS["html" if part == "html" else "plain"]


# --- compiling and checking -----------------------------------------------------------------------


def _parse(source: str, part: str) -> nodes.Template:
    env = _environment(part)
    if not isinstance(source, str):
        raise TemplateProblem("a template must be text")
    if len(source.encode("utf-8")) > MAX_SOURCE_BYTES:
        raise TemplateProblem(f"the template is larger than {MAX_SOURCE_BYTES // 1024} KB")
    try:
        tree = env.parse(source)
    except TemplateSyntaxError as exc:
        raise TemplateProblem(exc.message or "syntax error", exc.lineno) from None
    except RecursionError:
        raise TemplateProblem("the template is nested too deeply") from None
    _check_tree(tree)
    return tree


def _check_tree(tree: nodes.Template) -> None:
    """Static limits: nesting depth, loop nesting, and no private (``_``) names."""
    stack: list[tuple[nodes.Node, int, int]] = [(tree, 1, 0)]
    while stack:
        node, depth, loops = stack.pop()
        line = getattr(node, "lineno", None)
        if depth > MAX_NESTING:
            raise TemplateProblem(
                f"the template is nested more than {MAX_NESTING} levels deep", line
            )
        if isinstance(node, nodes.For):
            loops += 1
            if loops > MAX_LOOP_NESTING:
                raise TemplateProblem(f"more than {MAX_LOOP_NESTING} loops inside each other", line)
        private = None
        if isinstance(node, (nodes.Getattr, nodes.NSRef)) and node.attr.startswith("_"):
            private = node.attr
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
            if isinstance(node.arg.value, str) and node.arg.value.startswith("_"):
                private = node.arg.value
        elif isinstance(node, nodes.Filter) and node.name == "attr" and node.args:
            first = node.args[0]
            if isinstance(first, nodes.Const) and str(first.value).startswith("_"):
                private = str(first.value)
        if private is not None:
            raise TemplateProblem(f"{private!r}: names starting with '_' are not available", line)
        stack.extend((child, depth + 1, loops) for child in node.iter_child_nodes())


@functools.lru_cache(maxsize=256)
def _compile(source: str, part: str) -> Any:
    tree = _parse(source, part)
    try:
        return _environment(part).from_string(tree)
    except TemplateSyntaxError as exc:  # unknown filters and tests are found here
        raise TemplateProblem(exc.message or "syntax error", exc.lineno) from None
    except (RecursionError, SyntaxError, MemoryError, ValueError):
        raise TemplateProblem("the template is too complex") from None


def validate(source: str, part: str) -> list[str]:
    """Check a merchant's template before saving it.

    Raises TemplateProblem (with ``line`` when known) for syntax errors, unknown filters or
    templates, sources over the size limit and nesting too deep. Returns warnings such as unknown
    variable or field names, which would render as empty.
    """
    _compile(source, part)
    tree = _parse(source, part)
    _check_template_names(tree, _environment(part))
    return _unknown_names(tree)


def _check_template_names(tree: nodes.Template, env: _Sandbox) -> None:
    for node in tree.find_all((nodes.Extends, nodes.Include, nodes.Import, nodes.FromImport)):
        if isinstance(node, nodes.Include) and node.ignore_missing:
            continue
        if isinstance(node.template, nodes.Const):
            try:
                env.loader.get_source(env, str(node.template.value))
            except TemplateNotFound:
                raise TemplateProblem(
                    f"there is no built-in template {node.template.value!r}", node.lineno
                ) from None


def _unknown_names(tree: nodes.Template) -> list[str]:
    assigned = {n.name for n in tree.find_all(nodes.Name) if n.ctx in ("store", "param")}
    assigned |= {n.name for n in tree.find_all(nodes.Macro)}
    assigned |= {n.target for n in tree.find_all(nodes.Import)}
    for node in tree.find_all(nodes.FromImport):
        assigned |= {n[1] if isinstance(n, tuple) else n for n in node.names}
    assigned |= {"loop", "self", "super", "caller", "varargs", "kwargs"}
    known = set(VARIABLES) | set(_ENVIRONMENTS["html"].globals) | assigned
    warnings: list[str] = []
    seen: set[str] = set()
    for name in tree.find_all(nodes.Name):
        if name.ctx == "load" and name.name not in known and name.name not in seen:
            seen.add(name.name)
            warnings.append(
                f"line {name.lineno}: unknown variable {name.name!r} (renders as empty)"
            )
    example = sample_context("available_for_pickup", "en")
    for getattr_node in tree.find_all(nodes.Getattr):
        path = _attribute_path(getattr_node)
        if not path or path[0] not in VARIABLES or path[0] in assigned:
            continue
        value: Any = example
        for depth, key in enumerate(path):
            if not isinstance(value, dict):
                break
            if key not in value:
                dotted = ".".join(path[: depth + 1])
                if dotted not in seen:
                    seen.add(dotted)
                    warnings.append(
                        f"line {getattr_node.lineno}: {'.'.join(path[:depth])} has no field"
                        f" {key!r} (renders as empty)"
                    )
                break
            value = value[key]
    return warnings


def _attribute_path(node: nodes.Getattr) -> list[str] | None:
    path: list[str] = []
    current: nodes.Node = node
    while isinstance(current, nodes.Getattr):
        path.append(current.attr)
        current = current.node
    if not isinstance(current, nodes.Name):
        return None
    path.append(current.name)
    return path[::-1]


# --- rendering ------------------------------------------------------------------------------------


def render(source: str, part: str, context: Mapping[str, Any]) -> str:
    """Render one part (subject, html or text) of a template over a plain context.

    Every failure, including the limits on time, size and nesting, raises TemplateProblem.
    """
    template = _compile(source, part)
    data = _plain(context)
    budget = _Budget(deadline=time.monotonic() + TIME_LIMIT_SECONDS)
    token = _BUDGET.set(budget)
    chunks: list[str] = []
    size = 0
    stream = template.generate(data)
    try:
        for chunk in stream:
            size += len(chunk)
            if size > MAX_OUTPUT_CHARS:
                raise TemplateProblem(f"the output is larger than {MAX_OUTPUT_CHARS // 1024} KB")
            budget.check_time()
            chunks.append(chunk)
    except TemplateProblem as problem:
        if problem.line is None:
            problem.line = _template_line(problem.__traceback__)
        raise problem.with_traceback(None) from None
    except RecursionError as exc:
        line = _template_line(exc.__traceback__)
        raise TemplateProblem("the template calls itself too deeply", line) from None
    except MemoryError as exc:
        raise TemplateProblem(
            "the template needs too much memory", _template_line(exc.__traceback__)
        ) from None
    except Exception as exc:  # any other error inside a merchant's template is a problem to show
        raise TemplateProblem(_describe(exc), _template_line(exc.__traceback__)) from None
    finally:
        stream.close()
        _BUDGET.reset(token)
    return _finish(part, "".join(chunks))


def _template_line(tb: types.TracebackType | None) -> int | None:
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _describe(exc: Exception) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}"[:300] if text else type(exc).__name__


def _finish(part: str, output: str) -> str:
    if part == "subject":
        subject = " ".join(output.split())
        if len(subject) > MAX_SUBJECT_CHARS:
            subject = subject[: MAX_SUBJECT_CHARS - 1].rstrip() + "…"
        return subject
    if part == "text":
        lines = [line.rstrip() for line in output.strip().splitlines()]
        return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)) + "\n"
    return output.strip() + "\n"


def _plain(value: Any, depth: int = 0) -> Any:
    """A copy made of dicts, lists, strings, numbers, booleans and None only."""
    if depth > 12:
        raise TemplateProblem("the context is nested too deeply")
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return str.__str__(value)  # a plain copy: a Markup from the caller is escaped like text
    if isinstance(value, Mapping):
        return {str(k): _plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(v, depth + 1) for v in value]
    return str(value)


# --- emails ---------------------------------------------------------------------------------------


def default_source(trigger: str, language: str | None, part: str) -> str:
    """The built-in template source of one part of a trigger's email in a language."""
    _check_trigger(trigger)
    _environment(part)
    path = TEMPLATES_DIR / pick_language(language) / f"{trigger}{_SUFFIX[part]}"
    return path.read_text("utf-8")


def render_email(
    trigger: str,
    language: str | None,
    context: Mapping[str, Any],
    overrides: Mapping[str, str] | None = None,
) -> RenderedEmail:
    """Render subject, html and text of a trigger's email; ``overrides`` maps part -> source.

    Adds ``language``, ``trigger``, ``ui`` and ``show_promotion``, fills a shipment's missing
    status_label/reason/next_step from its status, drops the promotion from exception emails,
    and blanks URLs that are not http(s) and colours that are not #rgb/#rrggbb.
    """
    _check_trigger(trigger)
    lang = pick_language(language)
    data = _email_context(trigger, lang, context)
    rendered = {}
    for part in PARTS:
        source = (overrides or {}).get(part) or default_source(trigger, lang, part)
        rendered[part] = render(source, part, data)
    return RenderedEmail(**rendered)


def _check_trigger(trigger: str) -> None:
    if trigger not in TRIGGERS:
        raise TemplateProblem(f"unknown trigger {trigger!r}")


_COLOR = re.compile(r"#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})")
_FONT = re.compile(r"[A-Za-z0-9 ,'\"-]{1,120}")
_URL = re.compile(r"https?://[^\s<>\"'`\\]+", re.IGNORECASE)
DEFAULT_PRIMARY_COLOR = "#1F2937"
DEFAULT_FONT = "Helvetica, Arial, sans-serif"


def _email_context(trigger: str, lang: str, context: Mapping[str, Any]) -> dict[str, Any]:
    data = _plain(context)
    data["language"] = lang
    data["trigger"] = trigger
    data["ui"] = ui_words(lang)
    if trigger == "exception":
        data["promotion"] = None
    data["show_promotion"] = bool(data.get("promotion"))
    promotion = data["promotion"] if isinstance(data.get("promotion"), dict) else {}
    order = data["order"] if isinstance(data.get("order"), dict) else {}
    _safe_urls([data], "tracking_url", "unsubscribe_url")
    _safe_urls(_dicts([data.get("store")]), "url")
    _safe_urls(_dicts([data.get("brand")]), "logo_url")
    _safe_urls(_dicts([promotion]), "image_url", "link_url")
    _safe_urls(_dicts(promotion.get("products")), "image_url", "url")
    _safe_urls(_dicts(order.get("items")), "image_url")
    shipments = data.get("shipments") if isinstance(data.get("shipments"), list) else []
    for shipment in _dicts([data.get("shipment"), *shipments]):
        _complete_shipment(shipment, lang)
    data["brand"] = _safe_brand(data.get("brand"))
    return data


def _dicts(values: Any) -> list[dict[str, Any]]:
    return [v for v in values if isinstance(v, dict)] if isinstance(values, list) else []


def _safe_urls(targets: list[dict[str, Any]], *fields: str) -> None:
    for target in targets:
        for field in fields:
            if field in target:
                target[field] = _safe_url(target[field])


def _safe_url(value: Any) -> str:
    text = str(value or "").strip()
    return text if _URL.fullmatch(text) else ""


def _complete_shipment(shipment: dict[str, Any], lang: str) -> None:
    if "carrier_tracking_url" in shipment:
        shipment["carrier_tracking_url"] = _safe_url(shipment["carrier_tracking_url"])
    code = str(shipment.get("substatus") or shipment.get("status") or "")
    if not code:
        return
    shipment["status_label"] = shipment.get("status_label") or status_label(code, lang)
    shipment["reason"] = shipment.get("reason") or substatus_text(code, lang)
    shipment["next_step"] = shipment.get("next_step") or next_step(code, lang)


def _safe_brand(brand: Any) -> dict[str, Any]:
    brand = dict(brand) if isinstance(brand, dict) else {}
    primary = str(brand.get("primary_color") or "")
    primary = primary if _COLOR.fullmatch(primary) else DEFAULT_PRIMARY_COLOR
    accent = str(brand.get("accent_color") or "")
    brand["primary_color"] = primary
    brand["accent_color"] = accent if _COLOR.fullmatch(accent) else primary
    font = str(brand.get("font") or "")
    brand["font"] = font if _FONT.fullmatch(font) else DEFAULT_FONT
    brand["text_on_primary"] = _readable_on(primary)
    return brand


def _readable_on(color: str) -> str:
    digits = color[1:]
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    red, green, blue = (int(digits[i : i + 2], 16) / 255 for i in (0, 2, 4))
    luminance = 0.2126 * red + 0.7152 * green + 0.0722 * blue
    return "#111827" if luminance > 0.6 else "#FFFFFF"


# --- sample data for previews ---------------------------------------------------------------------

_SAMPLE_STATE = {
    "shipped": "in_transit.picked_up",
    "in_transit": "in_transit.in_transit",
    "out_for_delivery": "out_for_delivery.out_for_delivery",
    "available_for_pickup": "available_for_pickup.pickup_point",
    "failed_attempt": "failed_attempt.recipient_unavailable",
    "delivered": "delivered.delivered",
    "exception": "exception.customs_hold",
    "delayed": "in_transit.in_transit",
    "still_on_track": "in_transit.in_transit",
    "tracking_number_changed": "in_transit.in_transit",
    "delivery_check": "delivered.delivered",
}

_SAMPLES: dict[str, dict[str, Any]] = {
    "en": {
        "shopper": ("Emma Clarke", "Emma", "emma.clarke@example.com"),
        "carrier": ("Royal Mail", "royal_mail", "QF123456785GB", "QF987654325GB"),
        "carrier_url": "https://www.royalmail.com/track-your-item#/tracking-results/QF123456785GB",
        "dates": {
            "placed_at": "Monday 9 June 2025",
            "expected_date": "Thursday 12 June",
            "expected_earliest": "Wednesday 11 June",
            "expected_latest": "Friday 13 June",
            "delivered_at": "Thursday 12 June, 10:14",
            "occurred_at": "Wednesday 11 June, 07:42",
        },
        "location": "Manchester Mail Centre",
        "pickup": (
            "Post Office Deansgate",
            "16 Deansgate, Manchester M3 2BA",
            "Mon-Sat 9:00-17:30",
        ),
        "items": (
            ("Ethiopia Yirgacheffe coffee beans, 500 g", "£18.50"),
            ("Ceramic pour-over dripper", "£24.00"),
        ),
        "promotion": (
            "Fresh from the roaster",
            "Our new single-origin coffees have just arrived. Be among the first to taste them.",
        ),
        "products": (("Colombia Huila, 250 g", "£9.90"), ("Kenya Nyeri, 250 g", "£11.50")),
        "path": "",
    },
    "it": {
        "shopper": ("Giulia Rossi", "Giulia", "giulia.rossi@example.com"),
        "carrier": ("BRT", "brt", "067012345678901", "067012345678918"),
        "carrier_url": "https://vas.brt.it/vas/sped_det_show.hsm?referer=sped_numspe_par.htm&Nspediz=067012345678901",
        "dates": {
            "placed_at": "lunedì 9 giugno 2025",
            "expected_date": "giovedì 12 giugno",
            "expected_earliest": "mercoledì 11 giugno",
            "expected_latest": "venerdì 13 giugno",
            "delivered_at": "giovedì 12 giugno, 10:14",
            "occurred_at": "mercoledì 11 giugno, 07:42",
        },
        "location": "Milano Hub",
        "pickup": (
            "BRT-fermopoint Tabaccheria Centrale",
            "Via Roma 12, 20121 Milano",
            "Lun-Sab 8:00-19:30",
        ),
        "items": (
            ("Caffè in grani Etiopia Yirgacheffe, 500 g", "18,50 €"),
            ("Dripper in ceramica", "24,00 €"),
        ),
        "promotion": (
            "Appena tostati",
            "Sono arrivati i nostri nuovi caffè monorigine. Assaggiali per primo.",
        ),
        "products": (("Colombia Huila, 250 g", "9,90 €"), ("Kenya Nyeri, 250 g", "11,50 €")),
        "path": "it/",
    },
    "es": {
        "shopper": ("Lucía Fernández", "Lucía", "lucia.fernandez@example.com"),
        "carrier": ("Correos", "correos", "PQ4F6P0701234560108020N", "PQ4F6P0701234570108020K"),
        "carrier_url": "https://www.correos.es/es/es/herramientas/localizador/envios/detalle?tracking-number=PQ4F6P0701234560108020N",
        "dates": {
            "placed_at": "lunes, 9 de junio de 2025",
            "expected_date": "jueves, 12 de junio",
            "expected_earliest": "miércoles, 11 de junio",
            "expected_latest": "viernes, 13 de junio",
            "delivered_at": "jueves, 12 de junio, 10:14",
            "occurred_at": "miércoles, 11 de junio, 07:42",
        },
        "location": "Centro de Tratamiento Automatizado de Madrid",
        "pickup": (
            "Oficina de Correos Chamberí",
            "Calle de Fuencarral 120, 28010 Madrid",
            "L-V 8:30-20:30, S 9:30-13:00",
        ),
        "items": (
            ("Café en grano Etiopía Yirgacheffe, 500 g", "18,50 €"),
            ("Cafetera de goteo de cerámica", "24,00 €"),
        ),
        "promotion": (
            "Recién tostados",
            "Acaban de llegar nuestros nuevos cafés de origen único. Sé de los primeros en probarlos.",
        ),
        "products": (("Colombia Huila, 250 g", "9,90 €"), ("Kenia Nyeri, 250 g", "11,50 €")),
        "path": "es/",
    },
    "de": {
        "shopper": ("Anna Schmidt", "Anna", "anna.schmidt@example.com"),
        "carrier": ("DHL Paket", "dhl", "00340434161234567890", "00340434161234567906"),
        "carrier_url": "https://www.dhl.de/de/privatkunden/pakete-empfangen/verfolgen.html?piececode=00340434161234567890",
        "dates": {
            "placed_at": "Montag, 9. Juni 2025",
            "expected_date": "Donnerstag, 12. Juni",
            "expected_earliest": "Mittwoch, 11. Juni",
            "expected_latest": "Freitag, 13. Juni",
            "delivered_at": "Donnerstag, 12. Juni, 10:14 Uhr",
            "occurred_at": "Mittwoch, 11. Juni, 07:42 Uhr",
        },
        "location": "Paketzentrum Berlin",
        "pickup": ("DHL Paketshop Kiosk am Markt", "Marktstraße 5, 10115 Berlin", "Mo-Sa 8-20 Uhr"),
        "items": (
            ("Kaffeebohnen Äthiopien Yirgacheffe, 500 g", "18,50 €"),
            ("Keramik-Handfilter", "24,00 €"),
        ),
        "promotion": (
            "Frisch aus der Rösterei",
            "Unsere neuen Single-Origin-Kaffees sind da. Probieren Sie sie als Erste.",
        ),
        "products": (("Kolumbien Huila, 250 g", "9,90 €"), ("Kenia Nyeri, 250 g", "11,50 €")),
        "path": "de/",
    },
    "fr": {
        "shopper": ("Camille Martin", "Camille", "camille.martin@example.com"),
        "carrier": ("Colissimo", "la_poste", "6A12345678901", "6A12345678918"),
        "carrier_url": "https://www.laposte.fr/outils/suivre-vos-envois?code=6A12345678901",
        "dates": {
            "placed_at": "lundi 9 juin 2025",
            "expected_date": "jeudi 12 juin",
            "expected_earliest": "mercredi 11 juin",
            "expected_latest": "vendredi 13 juin",
            "delivered_at": "jeudi 12 juin, 10 h 14",
            "occurred_at": "mercredi 11 juin, 7 h 42",
        },
        "location": "Plateforme Colis Lyon",
        "pickup": (
            "Relais Pickup Tabac de la Gare",
            "12 rue de la Gare, 69002 Lyon",
            "Lun-Sam 9 h-19 h",
        ),
        "items": (
            ("Café en grains Éthiopie Yirgacheffe, 500 g", "18,50 €"),
            ("Dripper en céramique", "24,00 €"),
        ),
        "promotion": (
            "Tout juste torréfiés",
            "Nos nouveaux cafés d'origine unique viennent d'arriver. Goûtez-les en avant-première.",
        ),
        "products": (("Colombie Huila, 250 g", "9,90 €"), ("Kenya Nyeri, 250 g", "11,50 €")),
        "path": "fr/",
    },
}

_SHOP = "https://northwind.example.com"
_TRACK = "https://track.northwind.example.com/t/northwind"


def sample_context(trigger: str, language: str | None) -> dict[str, Any]:
    """A realistic context with every variable filled, for previews and test sends."""
    _check_trigger(trigger)
    lang = pick_language(language)
    sample = _SAMPLES[lang]
    dates = sample["dates"]
    name, first_name, email = sample["shopper"]
    carrier, slug, number, previous = sample["carrier"]
    substatus = _SAMPLE_STATE[trigger]
    delivered = substatus.startswith("delivered.")
    point_name, point_address, point_hours = sample["pickup"]
    shipment = {
        "carrier": carrier,
        "carrier_slug": slug,
        "tracking_number": number,
        "previous_tracking_number": previous,
        "carrier_tracking_url": sample["carrier_url"],
        "status": substatus.split(".", 1)[0],
        "status_label": status_label(substatus, lang),
        "substatus": substatus,
        "reason": substatus_text(substatus, lang),
        "next_step": next_step(substatus, lang),
        "action_required": action_required(substatus),
        "last_event": {
            "description": status_label(substatus, lang),
            "location": point_address if trigger == "available_for_pickup" else sample["location"],
            "occurred_at": dates["delivered_at"] if delivered else dates["occurred_at"],
        },
        "expected_date": dates["expected_date"],
        "expected_earliest": dates["expected_earliest"],
        "expected_latest": dates["expected_latest"],
        "delivered_at": dates["delivered_at"] if delivered else "",
        "pickup_point": {
            "name": point_name,
            "address": point_address,
            "opening_hours": point_hours,
        },
    }
    (title_a, price_a), (title_b, price_b) = sample["items"]
    promo_title, promo_text = sample["promotion"]
    return {
        "shopper": {"name": name, "first_name": first_name, "email": email},
        "order": {
            "number": "#1042",
            "placed_at": dates["placed_at"],
            "items": [
                {
                    "title": title_a,
                    "quantity": 2,
                    "sku": "ETH-YIR-500",
                    "image_url": f"{_SHOP}/media/ethiopia-yirgacheffe.jpg",
                    "price": price_a,
                },
                {
                    "title": title_b,
                    "quantity": 1,
                    "sku": "DRIP-CER-01",
                    "image_url": f"{_SHOP}/media/pour-over-dripper.jpg",
                    "price": price_b,
                },
            ],
        },
        "shipment": shipment,
        "shipments": [shipment],
        "tracking_url": f"{_TRACK}/Xq7vK2mR9pLs4TnW8yBd",
        "store": {
            "name": "Northwind Coffee",
            "url": _SHOP,
            "support_email": "help@northwind.example.com",
        },
        "brand": {
            "name": "Northwind Coffee",
            "sender_name": "Northwind Coffee",
            "logo_url": f"{_SHOP}/media/logo.png",
            "primary_color": "#1F3A5F",
            "accent_color": "#D9822B",
            "font": DEFAULT_FONT,
            "text_on_primary": _readable_on("#1F3A5F"),
        },
        "promotion": {
            "title": promo_title,
            "text": promo_text,
            "image_url": f"{_SHOP}/media/new-arrivals.jpg",
            "link_url": f"{_SHOP}/{sample['path']}collections/new",
            "products": [
                {
                    "title": product,
                    "image_url": f"{_SHOP}/media/product-{i}.jpg",
                    "url": f"{_SHOP}/{sample['path']}products/{i}",
                    "price": price,
                }
                for i, (product, price) in enumerate(sample["products"], start=1)
            ],
        },
        "show_promotion": trigger != "exception",
        "discount_code": "THANKYOU10",
        "unsubscribe_url": f"{_TRACK}/unsubscribe/Lw3cR8tY5uQ1",
        "language": lang,
        "trigger": trigger,
        "ui": ui_words(lang),
    }
