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
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return buf.getvalue()


def proportions_figure(rows: list[tuple[str, float, float, float]]) -> bytes:
    """rows: (question, proportion, low, high) -> dot-and-interval plot."""
    fig = Figure(figsize=(6, 0.6 + 0.55 * len(rows)))
    ax = fig.subplots()
    y = np.arange(len(rows))[::-1]
    for yi, (q, p, lo, hi) in zip(y, rows):
        ax.errorbar(p, yi, xerr=[[p - lo], [hi - p]], fmt="o", color=GRADCAM_COLOR, capsize=4)
    ax.axvline(0.5, color="0.5", ls="--", lw=1)
    ax.set_yticks(y, [f"{q}" for q, *_ in rows])
    ax.set_xlim(0, 1)
    ax.set_xlabel("Proportion choosing Grad-CAM (non-ties), 95% Wilson interval")
    return png(fig)


def forest_figure(results_by_question: dict[str, list]) -> bytes:
    """Per-class forest plot: one panel per question, one row per class."""
    n = len(results_by_question)
    height = max(len(v) for v in results_by_question.values())
    fig = Figure(figsize=(4.2 * n, 0.8 + 0.4 * height))
    axes = np.atleast_1d(fig.subplots(1, n, sharey=False))
    for ax, (question, classes) in zip(axes, results_by_question.items()):
        y = np.arange(len(classes))[::-1]
        for yi, c in zip(y, classes):
            t = c.test
            ax.errorbar(t.proportion, yi, xerr=[[t.proportion - t.wilson.low],
                                                 [t.wilson.high - t.proportion]],
                        fmt="s", color=GRADCAM_COLOR, capsize=3, ms=4 + 6 * min(1, t.n / 400))
        ax.axvline(0.5, color="0.5", ls="--", lw=1)
        ax.set_yticks(y, [f"{c.class_name} (n={c.test.n})" for c in classes])
        ax.set_xlim(0, 1)
        ax.set_title(question)
        ax.set_xlabel("Chose Grad-CAM, 95% CI")
    return png(fig)


def participants_figure(props_by_question: dict[str, pd.Series]) -> bytes:
    n = len(props_by_question)
    fig = Figure(figsize=(4.2 * n, 3))
    axes = np.atleast_1d(fig.subplots(1, n))
    for ax, (question, props) in zip(axes, props_by_question.items()):
        ax.hist(props, bins=np.linspace(0, 1, 21), color=GRADCAM_COLOR, alpha=0.8)
        ax.axvline(0.5, color="0.3", ls="--", lw=1)
        ax.set_title(f"{question}: {len(props)} participants")
        ax.set_xlabel("Participant's proportion choosing Grad-CAM")
    axes[0].set_ylabel("Participants")
    return png(fig)


def area_figure(x: pd.Series, chose: pd.Series, slope: float, intercept: float) -> bytes:
    """Binned share choosing Grad-CAM against log2 area ratio, with the fitted curve."""
    fig = Figure(figsize=(6, 3.4))
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
    return png(fig)


def examples_figure(examples: list[dict], study_dir: Path) -> bytes | None:
    """A few pairs: original, Grad-CAM, HiResCAM overlays, with the majority verdict."""
    from matplotlib.image import imread

    shown = [e for e in examples if all(
        e.get(k) and (study_dir / e[k]).is_file() for k in ("gradcam_file", "hirescam_file"))]
    if not shown:
        return None
    fig = Figure(figsize=(6.6, 2.3 * len(shown)))
    axes = np.atleast_2d(fig.subplots(len(shown), 3))
    for row, e in zip(axes, shown):
        panels = [("original", e.get("original_file")), ("Grad-CAM", e["gradcam_file"]),
                  ("HiResCAM", e["hirescam_file"])]
        for ax, (label, file) in zip(row, panels):
            ax.axis("off")
            if file and (study_dir / file).is_file():
                ax.imshow(imread(study_dir / file))
            ax.set_title(label, fontsize=8)
        row[0].text(0, -0.08, f"{e['class_name']}: {e['verdict']}", transform=row[0].transAxes,
                    fontsize=8, va="top")
    return png(fig)
