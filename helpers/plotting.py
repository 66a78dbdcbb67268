"""One figure style for the course, and the three kinds of figures it draws again and again: values
against depth (weights, states, gradients; one curve per depth or per training time), rates on log--log
axes, and heat maps. Every plot function takes ``ax=None`` as a keyword and returns the axes; numbers
may come as lists, NumPy arrays or tensors (also ones that require grad)."""
from __future__ import annotations

import matplotlib as mpl
import numpy as np

from . import _validation as check_arg
from .metrics import fit_loglog_slope

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
        return [mpl.colormaps[DEPTH_CMAP](0.5)]
    u = (np.log(depths) - np.log(depths.min())) / max(np.ptp(np.log(depths)), 1e-12)
    return [mpl.colormaps[DEPTH_CMAP](0.9 - 0.8 * v) for v in u]


def _axes(ax):
    if ax is None:
        # pyplot here, not at the top: it picks a GUI backend and costs ~15 MB and ~0.2 s at
        # `import helpers`, which the training benchmark's memory budget does not afford
        import matplotlib.pyplot as plt

        _, ax = plt.subplots()
    return ax


def plot_loglog_rate(x, y, *, ax=None, label: str = "measured", color=None, ref_slope: float | None = -1.0,
                     fit: bool = True, marker: str = "o"):
    """Plot ``y`` against ``x`` on log--log axes with the fitted slope (:func:`helpers.fit_loglog_slope`)
    in the legend and a dashed reference line of slope ``ref_slope`` through the first point.
    Returns the axes; the check cell computes its slope with :func:`helpers.fit_loglog_slope` itself.

    Example: ``H.plot_loglog_rate(depths, gaps, ref_slope=-1, label="tied")``.
    """
    x, y = check_arg.as_float_array("x", x).ravel(), check_arg.as_float_array("y", y).ravel()
    result = fit_loglog_slope(x, y) if fit else None      # validates lengths and positivity
    ax = _axes(ax)
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
    return ax


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
    (log scale when ``log``, ignoring zeros). Used for Fig. 1 (right): distance against depth and step."""
    values = check_arg.as_float_array("values", values)
    if values.shape != (len(y), len(x)):
        raise ValueError(f"values must have shape (len(y), len(x)) = {(len(y), len(x))}, got {values.shape}")
    norm = None
    if log:
        positive = values[values > 0]
        if positive.size == 0:
            raise ValueError("a log colour scale needs some positive values")
        norm = mpl.colors.LogNorm(vmin=positive.min(), vmax=positive.max())
    ax = _axes(ax)
    im = ax.imshow(np.where(values > 0, values, np.nan) if log else values, aspect="auto",
                   interpolation="nearest", origin="lower", cmap=cmap, norm=norm)
    ax.figure.colorbar(im, ax=ax, label=cbar_label)
    for setter, ticks, n in ((ax.set_xticks, x, values.shape[1]), (ax.set_yticks, y, values.shape[0])):
        setter(*_heatmap_ticks(ticks, n))
    ax.grid(False)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    return ax


def plot_across_depth(curves: dict, *, entry=None, first_layer: int = 1, eta: float | None = None,
                      against: str = "s", ax=None, ylabel: str = "", title: str | None = None, color=None,
                      linestyle: str = "-"):
    """The course's one plot of values against depth: weights, hidden or backward states, per-layer
    gradients -- one curve per depth, or one curve per training time.

    ``curves``: ``{key: values}``; ``values`` is 1-D, indexed by layer k = first_layer, first_layer + 1, ...
    (``first_layer=0`` for states h_0..h_L, ``1`` for layers 1..L), or a weight tensor (L, a, b) of layers
    1..L of which the coefficient ``entry`` (default (0, 0)) is plotted.

    * ``eta=None``: keys are depths L; x is s = k/L; colours go light (shallow) to dark (deep), or all
      ``color``. Curves of different L that discretize one function of s lie on top of each other
      (Prop. 2); i.i.d. weights give unrelated jagged curves.
    * ``eta`` given: keys are training steps of one network (e.g. ``TrainRecord.snapshots``' ``"W"``);
      colours and a colour bar show the gradient-flow time t = step * eta (as the paper's Fig. 2).

    ``against="k"`` puts the layer index k on the x axis instead of s. Returns the axes. Raises
    ValueError naming ``curves`` for an empty dict or values of the wrong length.

    Example: ``H.plot_across_depth({L: rec.net.V for L, rec in records.items()}, ylabel="$V_k$ entry")``.
    """
    if not isinstance(curves, dict) or not curves:
        raise ValueError(f"curves must be a non-empty dict {{L or step: values}}, got {curves!r:.60}")
    check_arg.choice("against", against, ("s", "k"))
    first_layer = check_arg.positive_int("first_layer", first_layer, minimum=0)
    keys = sorted(curves)
    values_of = {}
    for key in keys:
        values = check_arg.as_float_array(f"curves[{key}]", curves[key])
        if values.ndim == 3:
            i, j = entry if entry is not None else (0, 0)
            values, start = values[:, i, j], 1
        elif values.ndim == 1:
            start = first_layer
        else:
            raise ValueError(f"curves[{key}] must be 1-D (one value per layer) or a weight tensor (L, a, b), "
                             f"got shape {values.shape}")
        if eta is None:
            L = check_arg.positive_int("each depth L in curves", key)
            if len(values) != L + 1 - start:
                raise ValueError(f"curves[{L}] must hold {L + 1 - start} values (layers k = {start}..{L}), got "
                                 f"{len(values)}; use first_layer=0 for states h_0..h_L, 1 for layers 1..L")
        values_of[key] = (np.arange(start, start + len(values)), values)
    ax = _axes(ax)
    if eta is None:
        colors = [color] * len(keys) if color is not None else depth_colors(keys)
        for L, c in zip(keys, colors):
            k, values = values_of[L]
            ax.plot(k / L if against == "s" else k, values, linestyle, color=c, lw=1.3, label=f"L = {L}",
                    marker="o" if L <= 16 else None, ms=3)
        ax.legend()
    else:
        eta = check_arg.positive_float("eta", eta)
        times = np.array(keys, dtype=float) * eta
        norm = mpl.colors.Normalize(vmin=times.min(), vmax=max(times.max(), times.min() + 1e-12))
        cmap = mpl.colormaps[TIME_CMAP]
        for key, t in zip(keys, times):
            k, values = values_of[key]
            L = len(values) + k[0] - 1                  # layers k[0]..L
            ax.plot(k / L if against == "s" else k, values, linestyle, color=cmap(0.85 * norm(t)), lw=1.2)
        sm = mpl.cm.ScalarMappable(norm=norm, cmap=mpl.colors.ListedColormap(cmap(np.linspace(0, 0.85, 256))))
        ax.figure.colorbar(sm, ax=ax, label="training time $t$")
    ax.set_xlabel("depth $s = k/L$" if against == "s" else "layer $k$")
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    return ax
