"""Report figures, drawn with matplotlib's object API and returned as PNG bytes.

`Figure` objects are used directly rather than pyplot, so no GUI backend or
global state is involved (the report runs headless, possibly in threads).
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

GRADCAM_COLOR = "#c2410c"
HIRESCAM_COLOR = "#1d4ed8"
QUESTION_TEXT = {"larger": "judged larger", "focused": "judged more focused"}


def png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    return buf.getvalue()


def new_figure(width: float, height: float) -> Figure:
    # The constrained layout engine places tick labels, titles and axis labels so that
    # they do not overlap; tests/analysis check the drawn text boxes.
    return Figure(figsize=(width, height), layout="constrained")


def estimates_figure(rows: list[tuple[str, float, float, float]]) -> bytes:
    return png(build_estimates(rows))


def build_estimates(rows: list[tuple[str, float, float, float]]) -> Figure:
    """rows: (label, estimate, low, high) -> dot-and-interval plot of the clustered estimates."""
    fig = new_figure(6.4, 0.9 + 0.45 * len(rows))
    ax = fig.subplots()
    y = np.arange(len(rows))[::-1]
    for yi, (label, p, lo, hi) in zip(y, rows):
        color = "0.35" if "about the same" in label else GRADCAM_COLOR
        ax.errorbar(p, yi, xerr=[[p - lo], [hi - p]], fmt="o", color=color, capsize=4)
    ax.axvline(0.5, color="0.5", ls="--", lw=1)
    ax.set_yticks(y, [label for label, *_ in rows])
    ax.set_xlim(0, 1)
    ax.set_xlabel("Probability (clustered estimate, 95% interval)")
    return fig


def forest_figure(results_by_question: dict[str, list]) -> bytes:
    return png(build_forest(results_by_question))


def build_forest(results_by_question: dict[str, list]) -> Figure:
    """Per-class estimates: one panel per question (stacked), one row per class."""
    n = len(results_by_question)
    height = sum(len(v) for v in results_by_question.values())
    fig = new_figure(6.4, 0.9 * n + 0.35 * height)
    axes = np.atleast_1d(fig.subplots(n, 1))
    for ax, (question, classes) in zip(axes, results_by_question.items()):
        y = np.arange(len(classes))[::-1]
        for yi, c in zip(y, classes):
            if c.interval is not None:
                ax.errorbar(c.probability, yi, xerr=[[c.probability - c.interval.low],
                                                     [c.interval.high - c.probability]],
                            fmt="s", color=GRADCAM_COLOR, capsize=3)
            else:
                ax.plot(c.probability, yi, "s", color="0.5")
        ax.axvline(0.5, color="0.5", ls="--", lw=1)
        ax.set_yticks(y, [f"{c.class_name} ({c.pairs} pairs)" for c in classes])
        ax.set_xlim(0, 1)
        ax.set_title(question, fontsize=10)
    axes[-1].set_xlabel("Chose Grad-CAM (two-way clustered 95% interval)")
    return fig


def participants_figure(props_by_question: dict[str, pd.DataFrame]) -> bytes:
    return png(build_participants(props_by_question))


def build_participants(by_question: dict[str, pd.DataFrame]) -> Figure:
    """Each participant's share of Grad-CAM (sorted) with a Wilson interval on their own
    answers: description of who differs from whom, not a test."""
    n = len(by_question)
    fig = new_figure(4.2 * n, 3.4)
    axes = np.atleast_1d(fig.subplots(1, n))
    for ax, (question, table) in zip(axes, by_question.items()):
        table = table.sort_values("proportion").reset_index(drop=True)
        x = np.arange(len(table))
        ax.vlines(x, table["low"], table["high"], color="0.7", lw=1)
        ax.plot(x, table["proportion"], "o", ms=3, color=GRADCAM_COLOR)
        ax.axhline(0.5, color="0.3", ls="--", lw=1)
        ax.set_ylim(0, 1)
        ax.set_title(f"{question}: {len(table)} participants", fontsize=10)
        ax.set_xlabel("Participants, sorted")
    axes[0].set_ylabel("Share choosing Grad-CAM")
    return fig


def area_figure(x: pd.Series, chose: pd.Series, slope: float, intercept: float) -> bytes:
    return png(build_area(x, chose, slope, intercept))


def build_area(x: pd.Series, chose: pd.Series, slope: float, intercept: float) -> Figure:
    """Binned share choosing Grad-CAM against log2 area ratio, with the fitted curve."""
    fig = new_figure(6, 3.4)
    ax = fig.subplots()
    bins = pd.qcut(x, q=min(10, x.nunique()), duplicates="drop")
    binned = pd.DataFrame({"x": x, "y": chose}).groupby(bins, observed=True).agg(
        x=("x", "mean"), y=("y", "mean"), n=("y", "size"))
    ax.scatter(binned["x"] / np.log(2), binned["y"], s=10 + binned["n"] / binned["n"].max() * 60,
               color=GRADCAM_COLOR, label="observed (binned)")
    grid = np.linspace(x.min(), x.max(), 100)
    ax.plot(grid / np.log(2), 1 / (1 + np.exp(-(intercept + slope * grid))), color="0.2",
            label="logistic fit")
    ax.axhline(0.5, color="0.6", ls="--", lw=1)
    ax.axvline(0, color="0.6", ls=":", lw=1)
    ax.set_xlabel("log2(area Grad-CAM / area HiResCAM), area above 0.5")
    ax.set_ylabel("Chose Grad-CAM as larger")
    ax.set_ylim(0, 1)
    ax.legend(loc="lower right", fontsize=8)
    return fig


def examples_figure(examples: list[dict], study_dir: Path) -> bytes | None:
    fig = build_examples(examples, study_dir)
    return None if fig is None else png(fig)


def build_examples(examples: list[dict], study_dir: Path) -> Figure | None:
    """A few pairs: original, Grad-CAM, HiResCAM overlays; each row titled with its verdict.

    One subfigure per example, its verdict as the subfigure's title: the layout engine
    keeps it clear of the panels' titles (a caption drawn under the first panel once ran
    into the next row)."""
    from matplotlib.image import imread

    shown = [e for e in examples if all(
        e.get(k) and (study_dir / e[k]).is_file() for k in ("gradcam_file", "hirescam_file"))]
    if not shown:
        return None
    fig = new_figure(6.6, 2.5 * len(shown))
    subfigs = np.atleast_1d(fig.subfigures(len(shown), 1))
    for sub, e in zip(subfigs, shown):
        sub.suptitle(f"{e['class_name']}: {e['verdict']}", fontsize=9)
        row = sub.subplots(1, 3)
        panels = [("original", e.get("original_file")), ("Grad-CAM", e["gradcam_file"]),
                  ("HiResCAM", e["hirescam_file"])]
        for ax, (label, file) in zip(row, panels):
            ax.axis("off")
            if file and (study_dir / file).is_file():
                ax.imshow(imread(study_dir / file))
            ax.set_title(label, fontsize=8)
    return fig


def text_boxes(fig: Figure) -> list[tuple[str, object, object]]:
    """(text, window extent, its Axes or None) of every non-empty text actually drawn."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.text import Text

    drawn = []
    original = Text.draw

    def recording(self, renderer):
        original(self, renderer)
        if self.get_visible() and self.get_text().strip():
            drawn.append((self.get_text(), self.get_window_extent(renderer), self.axes))

    Text.draw = recording  # only while this figure is drawn, to see what really is drawn
    try:
        FigureCanvasAgg(fig).draw()
    finally:
        Text.draw = original
    return drawn


def overlapping_labels(fig: Figure) -> list[tuple[str, str]]:
    """Texts whose boxes overlap each other, or overlap another panel's plotting area."""
    boxes = [(t, b, ax) for t, b, ax in text_boxes(fig) if b.width > 0 and b.height > 0]
    out = [(a, b) for i, (a, ba, _) in enumerate(boxes) for b, bb, _ in boxes[i + 1:]
           if ba.overlaps(bb)]
    for ax in fig.axes:
        if not ax.axison:
            continue  # image panels: their titles sit on the (empty) frame by design
        area = ax.get_window_extent()
        out += [(text, f"the plotting area of '{ax.get_title() or 'a panel'}'")
                for text, box, owner in boxes if owner is not ax and box.overlaps(area)]
    return out
