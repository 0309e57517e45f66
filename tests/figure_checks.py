"""Checks of a matplotlib figure shared by the figure tests: legends off the data, time axes aligned."""

from __future__ import annotations

from matplotlib.figure import Figure


def legends_off_the_axes(figure: Figure) -> list[str]:
    """The labels of each legend whose box overlaps a visible axes' data area (none when all lie outside)."""
    figure.draw_without_rendering()
    visible = [axis for axis in figure.axes if axis.get_visible()]
    overlapping = []
    for axis in visible:
        legend = axis.get_legend()
        if legend is None:
            continue
        box = legend.get_window_extent()
        if any(box.overlaps(other.get_window_extent()) for other in visible):
            overlapping.append(", ".join(text.get_text() for text in legend.get_texts()))
    return overlapping


def legend_labels(figure: Figure) -> list[str]:
    """Every legend entry's text, in axes order."""
    return [text.get_text() for axis in figure.axes if axis.get_legend() for text in axis.get_legend().get_texts()]


def one_line(label: str) -> str:
    """A label with its line breaks as spaces."""
    return " ".join(label.split())
