"""One figure style for the course, and the three kinds of figures it draws again and again:
weights against depth coloured by training time, rates on log--log axes, and heat maps."""
from __future__ import annotations

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np

from .metrics import SlopeFit, fit_loglog_slope

# Consistent colours: smooth (and tied) initialisations in blue, i.i.d. in orange; depths and training
# times on sequential colour maps (light = shallow / early, dark = deep / late).
COLORS = {"smooth": "#1f5fa8", "tied": "#2a9d8f", "iid": "#e07a1f", "reference": "0.35", "ode": "#7b2d8e"}
DEPTH_CMAP = "viridis"
TIME_CMAP = "plasma"


def use_course_style() -> None:
    """Set the course's matplotlib style (modest dpi keeps notebooks light)."""
    mpl.rcParams.update({
        "figure.dpi": 80, "savefig.dpi": 100, "figure.figsize": (6.0, 4.0),
        "axes.grid": True, "grid.alpha": 0.3, "axes.spines.top": False, "axes.spines.right": False,
        "axes.titlesize": 11, "axes.labelsize": 11, "legend.fontsize": 9, "legend.frameon": False,
        "lines.linewidth": 1.8, "image.cmap": "viridis",
    })


def depth_colors(depths) -> list:
    """One colour per depth, light (shallow) to dark (deep), on a log scale of L."""
    depths = np.asarray(list(depths), dtype=float)
    if depths.size == 1:
        return [plt.get_cmap(DEPTH_CMAP)(0.5)]
    u = (np.log(depths) - np.log(depths.min())) / max(np.ptp(np.log(depths)), 1e-12)
    return [plt.get_cmap(DEPTH_CMAP)(0.9 - 0.8 * v) for v in u]


def _axes(ax):
    if ax is None:
        _, ax = plt.subplots()
    return ax


def plot_weights_across_depth(snapshots: dict, *, entry=(0, 0), eta: float | None = None, ax=None,
                              ylabel: str = r"$W_k$ entry", title: str | None = None):
    """Plot one coefficient of the weights against the layer index k, one curve per snapshot, coloured
    by training time (as Fig. 2 of the paper).

    ``snapshots``: ``{step: tensor (L, a, b)}`` (e.g. ``{s: rec.snapshots[s]["W"] for s in rec.snapshots}``);
    ``entry``: the (row, column) coefficient; ``eta``: step size, to label the colour bar in
    gradient-flow time t = step * eta (else in steps).
    """
    if not snapshots:
        raise ValueError("snapshots is empty: train with snapshot_steps=[...] to record some")
    ax = _axes(ax)
    steps = sorted(snapshots)
    times = np.array(steps, dtype=float) * (eta if eta else 1.0)
    norm = mpl.colors.Normalize(vmin=times.min(), vmax=max(times.max(), times.min() + 1e-12))
    cmap = plt.get_cmap(TIME_CMAP)
    i, j = entry
    for step, t in zip(steps, times):
        w = np.asarray(snapshots[step][:, i, j].detach().cpu() if hasattr(snapshots[step], "detach")
                       else snapshots[step][:, i, j])
        ax.plot(np.arange(1, len(w) + 1), w, color=cmap(0.85 * norm(t)), lw=1.2)
    sm = mpl.cm.ScalarMappable(norm=norm, cmap=mpl.colors.ListedColormap(cmap(np.linspace(0, 0.85, 256))))
    ax.figure.colorbar(sm, ax=ax, label="training time $t$" if eta else "training step")
    ax.set_xlabel("layer $k$")
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    return ax


def plot_loglog_rate(x, y, *, ax=None, label: str = "measured", color=None, ref_slope: float | None = -1.0,
                     fit: bool = True, marker: str = "o"):
    """Plot ``y`` against ``x`` on log--log axes with the fitted slope in the legend and a dashed
    reference line of slope ``ref_slope`` through the first point. Returns ``(ax, SlopeFit or None)``."""
    ax = _axes(ax)
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    result: SlopeFit | None = fit_loglog_slope(x, y) if fit else None
    line_label = f"{label} ({result})" if result else label
    (line,) = ax.loglog(x, y, marker=marker, color=color, label=line_label)
    if result:
        ax.loglog(x, result.predict(x), color=line.get_color(), lw=0.8, alpha=0.6)
    if ref_slope is not None:
        ax.loglog(x, y[0] * (x / x[0]) ** ref_slope, "--", color=COLORS["reference"], lw=1,
                  label=f"reference slope {ref_slope:g}")
    if len(x) <= 8:
        # label the measured x values themselves (e.g. the depths), not matplotlib's 2x10^1, 3x10^1, ...
        ax.set_xticks(x, [f"{v:g}" for v in x])
        ax.xaxis.set_minor_formatter(mpl.ticker.NullFormatter())
    ax.legend()
    return ax, result


def _heatmap_ticks(ticks, n: int):
    """Tick positions (cell indices) and labels: round values for an evenly spaced numeric axis (e.g.
    training steps), else at most 12 of the given labels (e.g. depths 2, 4, 8, ...)."""
    values = np.asarray(ticks)
    if values.dtype.kind in "iuf" and n > 8 and np.allclose(np.diff(values), values[1] - values[0]):
        step = values[1] - values[0]
        nice = mpl.ticker.MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10]).tick_values(values[0], values[-1])
        nice = nice[(nice >= values[0]) & (nice <= values[-1])]
        return (nice - values[0]) / step, [f"{v:g}" for v in nice]
    pos = np.unique(np.linspace(0, n - 1, min(n, 12)).round().astype(int))
    return pos, [f"{values[p]:g}" if values.dtype.kind in "iuf" else str(ticks[p]) for p in pos]


def plot_heatmap(values, *, x, y, ax=None, log: bool = True, xlabel: str = "", ylabel: str = "",
                 cbar_label: str = "", cmap: str = "BuPu"):
    """Heat map of ``values`` (len(y), len(x)) with tick labels from ``x`` and ``y`` and a colour bar
    (log scale when ``log``, ignoring zeros)."""
    ax = _axes(ax)
    values = np.asarray(values, dtype=float)
    if values.shape != (len(y), len(x)):
        raise ValueError(f"values must have shape (len(y), len(x)) = {(len(y), len(x))}, got {values.shape}")
    norm = None
    if log:
        positive = values[values > 0]
        if positive.size == 0:
            raise ValueError("a log colour scale needs some positive values")
        norm = mpl.colors.LogNorm(vmin=positive.min(), vmax=positive.max())
    im = ax.imshow(np.where(values > 0, values, np.nan) if log else values, aspect="auto",
                   interpolation="nearest", origin="lower", cmap=cmap, norm=norm)
    ax.figure.colorbar(im, ax=ax, label=cbar_label)
    for setter, ticks, n in ((ax.set_xticks, x, values.shape[1]), (ax.set_yticks, y, values.shape[0])):
        setter(*_heatmap_ticks(ticks, n))
    ax.grid(False)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    return ax


def plot_weights_against_s(weights: dict, *, entry=(0, 0), ax=None, ylabel: str = r"$V_k$ entry",
                           title: str | None = None, color=None):
    """Plot one coefficient of networks of several depths against the depth variable s = k/L, one
    curve per depth (light = shallow, dark = deep): when the weights discretize a function of s the
    curves lie on top of each other; i.i.d. weights give unrelated jagged curves.

    ``weights``: ``{L: tensor (L, a, b)}``, e.g. ``{L: rec.net.V for L, rec in records.items()}``.
    ``color``: one colour for all curves instead of the depth colour map.
    """
    if not weights:
        raise ValueError("weights is empty: give {L: tensor of shape (L, a, b)}")
    ax = _axes(ax)
    depths = sorted(weights)
    colors = [color] * len(depths) if color is not None else depth_colors(depths)
    i, j = entry
    for L, c in zip(depths, colors):
        w = weights[L]
        if w.shape[0] != L:
            raise ValueError(f"weights[{L}] must have {L} layers, got shape {tuple(w.shape)}")
        s = np.arange(1, L + 1) / L
        ax.plot(s, np.asarray(w[:, i, j].detach().cpu()), color=c, lw=1.2, label=f"L = {L}",
                marker="o" if L <= 16 else None, ms=3)
    ax.set_xlabel("depth $s = k/L$")
    ax.set_ylabel(ylabel)
    ax.legend()
    if title:
        ax.set_title(title)
    return ax
