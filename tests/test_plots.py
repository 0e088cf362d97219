"""Tests of the book's shared figures in metareweight.plots, on hand-made values."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest

from metareweight import plots


def test_face_grid_sorts_faces_by_age_as_a_number_and_titles_them_legibly():
    ages = np.array([16, 1, 10, 3, 10])  # file-name order: "1_" after "16_" as strings
    images = np.stack([np.full((4, 4, 3), k / 10) for k in range(len(ages))])  # face k is grey k/10
    fig = plots.face_grid(images, ages, ncols=3)
    shown = [ax for ax in fig.axes if ax.get_images()]
    assert [ax.get_title() for ax in shown] == ["age 1", "age 3", "age 10", "age 10", "age 16"]
    # each face keeps its own age; the two tens keep their order (a stable sort)
    assert [float(ax.get_images()[0].get_array()[0, 0, 0]) for ax in shown] == [0.1, 0.3, 0.2, 0.4, 0.0]
    assert all(ax.title.get_fontsize() >= 12 for ax in shown)
    assert len(fig.axes) == 6 and not fig.axes[-1].get_images()  # the empty sixth cell stays blank
    plt.close(fig)


def test_every_method_has_its_own_colour_and_none_is_a_pixel_or_band_colour():
    from matplotlib.colors import to_hex, to_rgb

    from metareweight import toyplots
    from metareweight.names import METHOD_NAMES

    assert set(METHOD_NAMES) <= set(plots.METHOD_COLOURS)
    colours = {k: to_hex(plots.colour(k)) for k in plots.METHOD_COLOURS}
    assert len(set(colours.values())) == len(colours)  # no two methods share a colour
    rgb = np.array([to_rgb(c) for c in colours.values()])
    gaps = np.linalg.norm(rgb[:, None] - rgb[None], axis=-1) + np.eye(len(rgb))
    assert gaps.min() > 0.12  # and no two are nearly the same
    reserved = {to_hex(c) for c in (*plots.PIXELS.values(), plots.BAND)}
    assert not reserved & set(colours.values())
    assert colours["reweighted"] == "#d62728" and plots.PALETTE["restricted"] == plots.colour("restricted")
    # the toys' formulations are not methods: only their unweighted fit, the toys' All, has All's grey
    toy = {k: to_hex(c) for k, c in toyplots.COLOURS.items()}
    assert {k for k, c in toy.items() if c in set(colours.values()) | reserved} == {"unweighted"}
    assert toy["unweighted"] == colours["all"]


def test_colour_refuses_a_key_without_a_colour():
    with pytest.raises(KeyError, match="METHOD_COLOURS"):
        plots.colour("no_such_method")


def test_paired_panels_name_methods_in_reader_words_and_draw_the_constant():
    rows = [{"restricted": 4.0, "reweighted": 5.0}, {"restricted": 3.0, "reweighted": 3.5}]
    fig = plots.paired_panels([("ours", rows)], ("restricted", "reweighted"), constant={0: 5.2})
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["Restricted", "Reweighted (the\npaper's method)"]
    assert matplotlib.colors.to_hex(ax.collections[1].get_facecolor()[0]) == plots.colour("reweighted")
    level = [line for line in ax.lines if line.get_label() == "constant predictor"]
    assert len(level) == 1 and list(level[0].get_ydata()) == [5.2, 5.2]
    plt.close(fig)


def test_ratio_top_follows_the_methods_that_nearly_beat_the_constant():
    groups = [(0.7, [0.6, 0.9]), (1.05, [0.9, 1.33]), (21.0, [19.0, 25.0]), (float("nan"), [float("nan")])]
    assert plots.ratio_top(groups) == 1.5  # 1.33 x 1.1 = 1.46, rounded up; All's 21 does not decide
    assert plots.ratio_top([(0.4, [0.3, 0.5])]) == 1.1  # never below 1 + a step: the line at 1 shows
    assert plots.ratio_top([(3.0, [2.0, 4.0])]) == plots.RATIO_FALLBACK  # nothing near the constant
    assert plots.ratio_top([(1.0, [np.nan, 1.2])]) == 1.4  # NaN ignored: 1.2 x 1.1 = 1.32 -> 1.4


def test_clip_mark_prints_the_value_at_the_top_edge():
    fig, ax = plt.subplots()
    ax.set_ylim(0, 1.5)
    text = plots.clip_mark(ax, 2.0, 21.04, 1.5, colour=plots.colour("all"))
    assert text.get_text() == "21.0" and text.get_position()[1] < 1.5
    marker = ax.lines[-1]
    assert marker.get_marker() == "^" and list(marker.get_ydata()) == [1.5] and not marker.get_clip_on()
    plt.close(fig)


def test_shades_keep_the_method_hue_and_run_light_to_dark():
    from matplotlib.colors import rgb_to_hsv, to_rgb

    base = rgb_to_hsv(to_rgb(plots.colour("reweighted")))
    shades = plots.shades("reweighted", 8)
    hsv = [rgb_to_hsv(c) for c in shades]
    assert len(set(shades)) == 8
    assert all(abs(h[0] - base[0]) < 1e-6 for h in hsv)  # mixing with white or black keeps the hue
    value_times_sat = [h[1] * h[2] for h in hsv]  # chroma falls to the light end and to the dark end
    assert hsv[0][2] >= base[2] - 1e-9 and hsv[-1][2] < base[2]
    assert hsv[0][1] < base[1] and max(value_times_sat) <= base[1] * base[2] + 1e-9
    assert plots.shades("restricted", 1) == [to_rgb(plots.colour("restricted"))]
    with pytest.raises(KeyError, match="METHOD_COLOURS"):
        plots.shades("split 3", 4)
