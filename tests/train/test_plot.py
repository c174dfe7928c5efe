"""The Pillow loss plot: round ticks, a real picture (right size, one colour per curve, the curve
going the right way), gaps for NaN, and the same bytes for the same data."""

from __future__ import annotations

import io
import math

import pytest
from PIL import Image

from dlmbuild.train.plot import PALETTE, Curve, nice_ticks, render_loss_png, tick_label


def decreasing(n: int = 100, scale: float = 3.0) -> list[tuple[float, float]]:
    return [(step, scale * math.exp(-step / 25) + 0.4) for step in range(1, n + 1)]


def open_png(data: bytes) -> Image.Image:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    return image.convert("RGB")


def counts(image: Image.Image) -> dict[tuple[int, int, int], int]:
    """How many pixels of each colour the picture has."""
    return {colour: n for n, colour in image.getcolors(maxcolors=1 << 20)}


def pixels_of(image: Image.Image, colour: tuple[int, int, int]) -> list[tuple[int, int]]:
    width, height = image.size
    data = image.load()
    return [(x, y) for x in range(width) for y in range(height) if data[x, y] == colour]


@pytest.mark.parametrize(
    ("lo", "hi", "integer", "expected"),
    [
        (0.0, 1.0, False, [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]),
        (0.43, 3.38, False, [0.5, 1.0, 1.5, 2.0, 2.5, 3.0]),
        (1, 120, True, [20, 40, 60, 80, 100, 120]),
        (1, 4, True, [1, 2, 3, 4]),  # never a fractional step
        (5.0, 5.0, False, [5.0]),
    ],
)
def test_nice_ticks(lo, hi, integer, expected):
    assert nice_ticks(lo, hi, 8 if integer else 6, integer=integer) == pytest.approx(expected)


@pytest.mark.parametrize(("lo", "hi"), [(0.013, 0.0178), (2.0, 2000.0), (-1.5, 7.25), (0.9, 1.1)])
def test_nice_ticks_are_round_evenly_spaced_and_inside(lo, hi):
    ticks = nice_ticks(lo, hi)
    assert 3 <= len(ticks) <= 12
    assert lo - 1e-12 <= ticks[0] and ticks[-1] <= hi + 1e-12
    gaps = {round(b - a, 12) for a, b in zip(ticks, ticks[1:], strict=False)}
    assert len(gaps) == 1
    mantissa = gaps.pop() / 10 ** math.floor(math.log10(ticks[1] - ticks[0]))
    assert round(mantissa, 6) in (1.0, 2.0, 5.0)


def test_tick_labels_have_just_enough_decimals():
    assert [tick_label(v, 0.5) for v in (0.5, 1.0, 1.5)] == ["0.5", "1.0", "1.5"]
    assert tick_label(0.25, 0.05) == "0.25"
    assert tick_label(40, 20) == "40"


def test_render_draws_axes_curves_and_a_legend():
    curves = [Curve("knowledge (run 3)", decreasing()), Curve("tone (run 4)", decreasing(60, 2.0))]
    image = open_png(render_loss_png(curves))
    assert image.size == (800, 480)
    seen = counts(image)
    assert len(seen) > 10  # text is anti-aliased: many greys, not a blank image
    assert max(seen, key=seen.get) == (255, 255, 255)
    for colour in PALETTE[:2]:
        assert seen.get(colour, 0) > 300  # a long polyline, not just a legend swatch
    assert PALETTE[2] not in seen
    assert seen.get((0, 0, 0), 0) > 500  # axes, ticks and labels


def test_a_falling_loss_falls_on_the_picture():
    image = open_png(render_loss_png([Curve("a", decreasing())]))
    points = pixels_of(image, PALETTE[0])
    left = [y for x, y in points if x < 250]
    middle = [y for x, y in points if 300 < x < 500]  # the legend sits at the top right
    assert left and middle
    assert sum(left) / len(left) < sum(middle) / len(middle)  # higher loss = nearer the top


def test_size_is_honoured_and_output_is_deterministic():
    curves = [Curve("a", decreasing())]
    first = render_loss_png(curves, width=640, height=360)
    assert first == render_loss_png(curves, width=640, height=360)
    assert open_png(first).size == (640, 360)


def test_nan_and_inf_leave_gaps_instead_of_breaking_the_axis():
    points = decreasing()
    points[40] = (41, math.nan)
    points[41] = (42, math.inf)
    image = open_png(render_loss_png([Curve("a", points)]))
    assert counts(image).get(PALETTE[0], 0) > 300


def test_single_points_and_flat_curves_still_draw():
    image = open_png(render_loss_png([Curve("one step", [(1, 2.5)]), Curve("flat", [(s, 1.0) for s in range(1, 20)])]))
    seen = counts(image)
    assert PALETTE[0] in seen and PALETTE[1] in seen


def test_more_curves_than_colours_cycle():
    curves = [Curve(f"run {i}", decreasing(50, 1.0 + i / 4)) for i in range(len(PALETTE) + 2)]
    image = open_png(render_loss_png(curves))
    assert set(PALETTE) <= set(counts(image))


def test_nothing_finite_to_draw_is_a_value_error():
    with pytest.raises(ValueError, match="no finite loss"):
        render_loss_png([Curve("a", [(1, math.nan), (2, math.nan)]), Curve("b", [])])
