"""Tests of the book's shared figures in metareweight.plots, on hand-made values."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np

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
