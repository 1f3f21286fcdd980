"""Small server-side SVG charts: horizontal bars, stacked columns over time, and a line.

Each helper returns safe markup built with ``format_html`` (every label is escaped: carrier names
and lanes come from outside). Colours come from CSS classes (``.chart .bar``, ``.chart .s-<n>``
in app.css); only SVG presentation attributes are written, never ``style=""``, so the
dashboard's CSP holds. Every chart goes with a data table in the page (``<details>``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

Number = int | float


def _fmt(value: Number | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.2f}".rstrip("0").rstrip(".")
    return f"{value:,}"


def _join(parts: Sequence[SafeString]) -> SafeString:
    """Concatenate already-escaped fragments."""
    return format_html_join("", "{}", ((part,) for part in parts))


def _svg(*, width: int, height: int, title: str, body: SafeString) -> SafeString:
    return format_html(
        '<svg viewBox="0 0 {} {}" width="{}" height="{}" role="img" aria-label="{}" '
        'xmlns="http://www.w3.org/2000/svg" preserveAspectRatio="xMinYMin meet">'
        "<title>{}</title>{}</svg>",
        width,
        height,
        width,
        height,
        title,
        title,
        body,
    )


def bar_chart(
    items: Sequence[tuple[str, Number | None]],
    *,
    title: str,
    fmt: Callable[[Number | None], str] = _fmt,
    max_value: Number | None = None,
) -> SafeString:
    """Horizontal bars, one per ``(label, value)``; ``None`` values draw no bar."""
    label_w, bar_w, value_w, row_h = 150, 360, 70, 22
    width = label_w + bar_w + value_w
    height = max(row_h * len(items), row_h) + 4
    top = max((v for _, v in items if v is not None), default=0)
    scale_max = max_value if max_value is not None else top
    rows = []
    for i, (label, value) in enumerate(items):
        y = i * row_h + 2
        length = (
            0 if not scale_max or value is None else round(max(value, 0) / scale_max * bar_w, 1)
        )
        text = label if len(label) <= 24 else label[:23] + "…"
        rows.append(
            format_html(
                '<text x="{}" y="{}" text-anchor="end">{}</text>'
                '<rect class="bar" x="{}" y="{}" width="{}" height="{}"><title>{}: {}</title></rect>'
                '<text x="{}" y="{}">{}</text>',
                label_w - 6,
                y + 15,
                text,
                label_w,
                y + 3,
                length,
                row_h - 6,
                label,
                fmt(value),
                round(label_w + length + 4, 1),
                y + 15,
                fmt(value),
            )
        )
    axis = format_html(
        '<line class="axis" x1="{}" y1="0" x2="{}" y2="{}"></line>', label_w, label_w, height
    )
    return _svg(width=width, height=height, title=title, body=_join([*rows, axis]))


def stacked_columns(
    buckets: Sequence[str],
    series: Sequence[tuple[str, Sequence[int]]],
    *,
    title: str,
    class_ids: Sequence[int] | None = None,
) -> SafeString:
    """Vertical columns over ``buckets`` (x labels), each stacking ``series`` ``(name, values)``.

    Series ``i`` is drawn with the class ``s-<class_ids[i]>`` (default ``s-<i>``), so a series
    keeps its colour whichever others are present; the legend repeats the classes.
    """
    ids = list(class_ids) if class_ids is not None else list(range(len(series)))
    left, plot_w, plot_h, top, bottom = 40, 600, 200, 10, 40
    legend_h = 18 * ((len(series) + 3) // 4)
    width, height = left + plot_w + 10, top + plot_h + bottom + legend_h
    n = max(len(buckets), 1)
    totals = [sum(values[i] for _, values in series) for i in range(len(buckets))]
    peak = max(totals, default=0) or 1
    slot = plot_w / n
    col_w = round(max(slot * 0.8, 1), 1)
    parts = []
    label_every = max(1, round(n / 12))
    for i, bucket in enumerate(buckets):
        x = round(left + i * slot + (slot - col_w) / 2, 1)
        y = top + plot_h
        for s, (name, values) in enumerate(series):
            value = values[i]
            if not value:
                continue
            h = round(value / peak * plot_h, 1)
            y = round(y - h, 1)
            parts.append(
                format_html(
                    '<rect class="s-{}" x="{}" y="{}" width="{}" height="{}">'
                    "<title>{} · {}: {}</title></rect>",
                    ids[s],
                    x,
                    y,
                    col_w,
                    h,
                    bucket,
                    name,
                    _fmt(value),
                )
            )
        if i % label_every == 0:
            parts.append(
                format_html(
                    '<text x="{}" y="{}" text-anchor="middle">{}</text>',
                    round(x + col_w / 2, 1),
                    top + plot_h + 14,
                    bucket,
                )
            )
    parts.append(_axes(left, top, plot_w, plot_h, _fmt(peak if any(totals) else 0)))
    legend_y = top + plot_h + bottom - 6
    parts.append(
        format_html_join(
            "",
            '<rect class="s-{}" x="{}" y="{}" width="10" height="10"></rect>'
            '<text x="{}" y="{}">{}</text>',
            (
                (
                    ids[s],
                    left + (s % 4) * 150,
                    legend_y + (s // 4) * 18,
                    left + (s % 4) * 150 + 14,
                    legend_y + (s // 4) * 18 + 9,
                    name,
                )
                for s, (name, _) in enumerate(series)
            ),
        )
    )
    return _svg(width=width, height=height, title=title, body=_join(parts))


def line_chart(
    points: Sequence[tuple[str, Number]],
    *,
    title: str,
) -> SafeString:
    """A line over ``(x label, value)`` points, evenly spaced."""
    left, plot_w, plot_h, top, bottom = 40, 600, 160, 10, 24
    width, height = left + plot_w + 10, top + plot_h + bottom
    n = len(points)
    peak = max((v for _, v in points), default=0) or 1
    step = plot_w / max(n - 1, 1)
    coords = [
        (round(left + i * step, 1), round(top + plot_h - (value / peak) * plot_h, 1))
        for i, (_, value) in enumerate(points)
    ]
    polyline = " ".join(f"{x},{y}" for x, y in coords)
    label_every = max(1, round(n / 10))
    peak_label = _fmt(peak if n and any(v for _, v in points) else 0)
    parts = [_axes(left, top, plot_w, plot_h, peak_label)]
    if n:
        parts.append(format_html('<polyline class="line" points="{}"></polyline>', polyline))
    for i, ((label, value), (x, y)) in enumerate(zip(points, coords, strict=True)):
        parts.append(
            format_html(
                '<circle class="dot" cx="{}" cy="{}" r="2.5"><title>{}: {}</title></circle>',
                x,
                y,
                label,
                _fmt(value),
            )
        )
        if i % label_every == 0:
            parts.append(
                format_html(
                    '<text x="{}" y="{}" text-anchor="middle">{}</text>',
                    x,
                    top + plot_h + 16,
                    label,
                )
            )
    return _svg(width=width, height=height, title=title, body=_join(parts))


def _axes(left: float, top: float, plot_w: float, plot_h: float, peak_label: str) -> SafeString:
    """The y and x axes of a plot area, with its top value and zero on the y axis."""
    return format_html(
        '<line class="axis" x1="{}" y1="{}" x2="{}" y2="{}"></line>'
        '<line class="axis" x1="{}" y1="{}" x2="{}" y2="{}"></line>'
        '<text x="{}" y="{}" text-anchor="end">{}</text>'
        '<text x="{}" y="{}" text-anchor="end">0</text>',
        left,
        top,
        left,
        top + plot_h,
        left,
        top + plot_h,
        left + plot_w,
        top + plot_h,
        left - 4,
        top + 10,
        peak_label,
        left - 4,
        top + plot_h,
    )
