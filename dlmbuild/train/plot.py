"""Loss curves as a PNG, drawn with Pillow alone (``dlm metrics --plot``).

Pillow rather than matplotlib: Pillow is already in the ``ml`` extra that training needs, while
matplotlib is a large install with a slow import and a font cache of its own, and a loss curve
needs only axes, tick labels, a few polylines and a legend. Pillow is imported only when a plot is
drawn. The picture depends only on the data (no timestamps, Pillow's bundled font), so the same
runs always give the same bytes (with one Pillow version).

Steps whose loss is not a finite number (a diverged step records NaN or inf) leave a gap in
their curve instead of squashing the axis; they are still listed by ``dlm metrics --run N``.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass

# Colours that stay apart from each other on white (the "tableau 10" set); curves cycle through them.
PALETTE = (
    (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
    (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207),
)
BACKGROUND = (255, 255, 255)
INK = (0, 0, 0)
GRID = (225, 225, 225)


@dataclass(frozen=True)
class Curve:
    """One run's loss curve: a legend label and its (step, loss) points in step order."""

    label: str
    points: Sequence[tuple[float, float]]


def nice_ticks(lo: float, hi: float, target: int = 6, *, integer: bool = False) -> list[float]:
    """Round tick values (1, 2 or 5 times a power of ten apart) covering ``[lo, hi]``: people read
    0.5, 1.0, 1.5 at a glance and 0.47, 0.94, 1.41 not at all. ``integer`` keeps them whole (steps)."""
    if not hi > lo:
        return [lo]
    raw = (hi - lo) / max(1, target)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw * (1 - 1e-9))
    if integer:
        step = max(1.0, round(step))
    first = math.ceil(lo / step - 1e-9) * step
    count = int(math.floor((hi - first) / step + 1e-9)) + 1
    return [first + i * step for i in range(max(0, count))]


def tick_label(value: float, spacing: float) -> str:
    """A tick's text with just enough decimals to tell neighbours ``spacing`` apart."""
    decimals = max(0, -math.floor(math.log10(spacing))) if spacing > 0 else 0
    return f"{value:.{decimals}f}"


def render_loss_png(curves: Sequence[Curve], *, width: int = 800, height: int = 480, title: str = "training loss") -> bytes:
    """The curves drawn on one pair of axes (x: step, y: loss), encoded as PNG bytes.

    Raises ValueError when no curve has a finite point: there is nothing to draw, and the caller
    knows better than this module how to say why."""
    from PIL import Image, ImageDraw

    finite = [(s, v) for c in curves for s, v in c.points if math.isfinite(v) and math.isfinite(s)]
    if not finite:
        raise ValueError("no finite loss values to plot")
    x_lo, x_hi = _span([s for s, _ in finite], pad=1.0)
    y_lo, y_hi = _span([v for _, v in finite], pad=0.5)
    margin = (y_hi - y_lo) * 0.05
    y_lo, y_hi = y_lo - margin, y_hi + margin

    font, small = _font(14), _font(12)
    image = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(image)
    y_ticks = nice_ticks(y_lo, y_hi)
    y_spacing = y_ticks[1] - y_ticks[0] if len(y_ticks) > 1 else 1.0
    y_labels = [tick_label(v, y_spacing) for v in y_ticks]
    left = 20 + max(int(draw.textlength(t, font=small)) for t in y_labels) + 8
    top, right, bottom = 36, width - 20, height - 48

    def px(step: float, loss: float) -> tuple[float, float]:
        return (left + (step - x_lo) / (x_hi - x_lo) * (right - left),
                bottom - (loss - y_lo) / (y_hi - y_lo) * (bottom - top))

    draw.text(((left + right) / 2, 10), title, fill=INK, font=font, anchor="mt")
    for value, text in zip(y_ticks, y_labels, strict=True):
        _, y = px(x_lo, value)
        draw.line([(left, y), (right, y)], fill=GRID)
        draw.line([(left - 5, y), (left, y)], fill=INK)
        draw.text((left - 8, y), text, fill=INK, font=small, anchor="rm")
    x_ticks = nice_ticks(x_lo, x_hi, target=8, integer=True)
    for value in x_ticks:
        x, _ = px(value, y_lo)
        draw.line([(x, top), (x, bottom)], fill=GRID)
        draw.line([(x, bottom), (x, bottom + 5)], fill=INK)
        draw.text((x, bottom + 8), tick_label(value, 1.0), fill=INK, font=small, anchor="mt")
    draw.rectangle([left, top, right, bottom], outline=INK)
    draw.text(((left + right) / 2, height - 6), "step", fill=INK, font=font, anchor="mb")
    draw.text((6, top - 8), "loss", fill=INK, font=font, anchor="lb")

    for index, curve in enumerate(curves):
        colour = PALETTE[index % len(PALETTE)]
        for segment in _finite_segments(curve.points):
            xy = [px(s, v) for s, v in segment]
            if len(xy) == 1:
                (x, y), = xy
                draw.ellipse([x - 3, y - 3, x + 3, y + 3], fill=colour)
            else:
                draw.line(xy, fill=colour, width=2, joint="curve")
    _legend(draw, curves, small, right)

    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _span(values: list[float], pad: float) -> tuple[float, float]:
    """Lowest and highest value, widened by ``pad`` when they are equal (one step, a flat loss)."""
    lo, hi = min(values), max(values)
    if hi == lo:
        pad = max(pad, abs(lo) * 0.05) if pad < 1 else pad
        return lo - pad, hi + pad
    return lo, hi


def _finite_segments(points: Sequence[tuple[float, float]]) -> list[list[tuple[float, float]]]:
    """The curve cut into runs of finite points: a NaN or inf step is a gap, not a spike."""
    segments: list[list[tuple[float, float]]] = [[]]
    for step, loss in points:
        if math.isfinite(step) and math.isfinite(loss):
            segments[-1].append((step, loss))
        elif segments[-1]:
            segments.append([])
    return [s for s in segments if s]


def _legend(draw, curves: Sequence[Curve], font, right: int) -> None:
    """A boxed key in the top-right corner: a colour swatch and the label of every curve."""
    line_height = 18
    text_width = max(int(draw.textlength(c.label, font=font)) for c in curves)
    box_right, box_top = right - 8, 44
    box_left = box_right - (text_width + 44)
    box_bottom = box_top + 8 + line_height * len(curves)
    draw.rectangle([box_left, box_top, box_right, box_bottom], fill=BACKGROUND, outline=(160, 160, 160))
    for index, curve in enumerate(curves):
        y = box_top + 4 + line_height * index + line_height / 2
        colour = PALETTE[index % len(PALETTE)]
        draw.line([(box_left + 8, y), (box_left + 30, y)], fill=colour, width=3)
        draw.text((box_left + 36, y), curve.label, fill=INK, font=font, anchor="lm")


def _font(size: int):
    """Pillow's bundled scalable font at ``size``; its fixed bitmap font where FreeType is missing."""
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except (ImportError, OSError):
        return ImageFont.load_default()
