"""numpyro_ebm.plots draws what it is given: panels, titles and the plotted values."""

import numpy as np
import pytest

from numpyro_ebm import plots
from tests._figures import capture_saved_figures, visible_axes


def test_plot_history_draws_one_panel_per_key_with_the_values(tmp_path, monkeypatch):
    saved = capture_saved_figures(monkeypatch)
    history = {"epoch": [1, 2, 3], "loss": [3.0, 2.0, 1.5], "free_energy_gap": [0.1, 0.2, 0.4]}
    path = plots.plot_history(history, tmp_path / "history.png", title="run")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    (figure,) = saved
    axes = visible_axes(figure)
    assert [ax.get_title() for ax in axes] == ["loss", "free energy gap"]
    assert figure.get_suptitle() == "run"
    for ax, key in zip(axes, ["loss", "free_energy_gap"], strict=True):
        (line,) = ax.get_lines()
        np.testing.assert_array_equal(line.get_xdata(), history["epoch"])
        np.testing.assert_array_equal(line.get_ydata(), history[key])
    with pytest.raises(ValueError, match="nothing to plot"):
        plots.plot_history({"epoch": [1]}, tmp_path / "empty.png")


def test_image_grid_tiles_every_image_in_its_shape(tmp_path, monkeypatch):
    saved = capture_saved_figures(monkeypatch)
    images = np.linspace(0.0, 1.0, 5 * 6).reshape(5, 6)  # five 2x3 images
    plots.image_grid(images, (2, 3), tmp_path / "grid.png", columns=3, title="digits")
    (figure,) = saved
    assert len(figure.axes) == 6  # a 2 x 3 grid, the sixth tile empty
    shown = [ax.get_images() for ax in figure.axes]
    assert [len(s) for s in shown] == [1, 1, 1, 1, 1, 0]
    for i, (image,) in enumerate(shown[:5]):
        np.testing.assert_allclose(image.get_array(), images[i].reshape(2, 3))
        assert image.get_clim() == (0.0, 1.0)


def test_plot_filters_is_symmetric_around_zero(tmp_path, monkeypatch):
    saved = capture_saved_figures(monkeypatch)
    W = np.array([[0.5, -2.0], [1.0, 0.0], [-0.25, 1.0], [0.0, 0.5]])  # 4 visible, 2 hidden
    plots.plot_filters(W, (2, 2), tmp_path / "filters.png")
    (figure,) = saved
    images = [im for ax in figure.axes for im in ax.get_images()]
    assert len(images) == 2
    np.testing.assert_allclose(images[0].get_array(), W[:, 0].reshape(2, 2))
    assert images[0].get_clim() == (-1.0, 1.0) and images[1].get_clim() == (-2.0, 2.0)


def test_plot_history_of_six_panels_stays_readable_in_a_page_column(tmp_path):
    # the demo's six panels once came out 3 wide at 80 dpi: 960 px whose labels were
    # unreadable scaled to a docs column; two a row at 120 dpi keep them legible
    import matplotlib.image

    history = {"epoch": [1, 2]} | {f"metric_{i}": [0.0, 1.0] for i in range(6)}
    path = plots.plot_history(history, tmp_path / "six.png")
    height, width = matplotlib.image.imread(path).shape[:2]
    assert width >= 1000 and height >= 900, (width, height)
