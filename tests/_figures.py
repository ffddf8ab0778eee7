"""Capture the matplotlib figures a plotting function saves, to check what they show.

The library's plotting functions save a PNG and close their figure; a closed
figure still holds its axes, titles and artists, so tests read the plotted
values back instead of only checking that a file is non-empty.
"""

import matplotlib

matplotlib.use("Agg", force=True)

from matplotlib.figure import Figure  # noqa: E402


def capture_saved_figures(monkeypatch) -> list[Figure]:
    """A list that receives every Figure saved with ``Figure.savefig`` from now on."""
    saved: list[Figure] = []
    original = Figure.savefig

    def savefig(self, *args, **kwargs):
        saved.append(self)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", savefig)
    return saved


def visible_axes(figure: Figure):
    """The figure's axes that are switched on (grids pad with hidden ones)."""
    return [ax for ax in figure.axes if ax.axison]
