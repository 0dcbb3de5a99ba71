"""Charts of several lines: drawn in the terminal by plotext, or into a picture file by
matplotlib (the optional extra ``rnnlm[plot]``).

A series is (label, xs, ys); a Chart says what the axes are. ``runs.curve`` makes series from
a run's events; ``chart_of_runs`` the chart of one of their metrics.
"""

import math
import shutil
from dataclasses import dataclass
from pathlib import Path

from .errors import RnnlmError, UsageError
from .files import atomic_write

TITLES = {"valid_ppl": "validation perplexity", "train_ppl": "training perplexity",
          "lr": "learning rate", "grad_norm": "gradient norm (before clipping)"}
X_LABELS = {"tokens": "training tokens", "time": "training time (s)", "epoch": "epoch"}
PICTURE_TYPES = (".png", ".svg")
LOG_SCALE = ("valid_ppl", "train_ppl")     # perplexity falls over orders of magnitude
# plotext overflows on values far beyond this (a diverged run's perplexity reaches 1e304);
# no learning curve has a meaningful point past it
TERMINAL_CEILING = 1e12


@dataclass(frozen=True)
class Chart:
    """What a chart's axes are: its title, the x axis's label, whether y is logarithmic, and
    named x ticks ((x, label) pairs) for an axis of categories, such as distance buckets;
    none: evenly spaced numbers."""

    title: str
    x_label: str
    log_y: bool = False
    x_ticks: tuple = ()


def chart_of_runs(metric, x):
    """The chart of a learning-curve metric of logged runs against x."""
    return Chart(TITLES[metric], X_LABELS[x], metric in LOG_SCALE)


def short(value):
    """A tick label in a few characters: 1592880 -> '1.59M', 140000 -> '140k', 0.25 -> '0.25'."""
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= size:
            return f"{value / size:.3g}{unit}"
    return f"{value:.3g}"


def _ticks(lo, hi, n=5):
    """n evenly spaced ticks from lo to hi (one when they are equal)."""
    return [lo] if hi == lo else [lo + (hi - lo) * k / (n - 1) for k in range(n)]


def terminal_size():
    """(width, height) for a chart on this terminal: most of it, within 120 x 30 cells."""
    columns, lines = shutil.get_terminal_size((100, 30))
    return min(columns, 120), max(12, min(lines - 2, 30))


def terminal_chart(series, chart, width, height, colour=True):
    """The chart as text for a terminal of ``width`` x ``height`` cells (ANSI colours unless
    ``colour`` is False: a file or a pipe gets the same chart in plain characters)."""
    import plotext as plt

    plt.clf()
    clamped, plotted = False, []
    for label, xs, ys in series:
        shown = [max(-TERMINAL_CEILING, min(y, TERMINAL_CEILING)) for y in ys]
        clamped = clamped or shown != ys
        plotted += shown
        # plotext draws one point as nothing: a lone point gets a visible marker
        plt.plot(xs, shown, label=label, marker="dot" if len(xs) > 1 else "x")
    if chart.log_y:
        plt.yscale("log")
    limits = _room_for_the_legend(plotted, chart.log_y, rows=height - 5,
                                  legend_rows=len(series))
    if limits:
        plt.ylim(*limits)
    if chart.x_ticks:
        plt.xticks(*zip(*chart.x_ticks))
    else:
        xs = [v for _, values, _ in series for v in values]
        ticks = _ticks(min(xs), max(xs))
        plt.xticks(ticks, [short(t) for t in ticks])    # 1.59M, not 1592880
    ceiling = f"{TERMINAL_CEILING:.0e}"
    plt.title(chart.title + (f" (values past {ceiling} drawn at it)" if clamped else ""))
    plt.xlabel(chart.x_label)
    plt.plotsize(width, height)
    plt.theme("clear")                      # the terminal's own background
    chart = plt.build()
    plt.clf()
    return chart if colour else plt.uncolorize(chart)


def _room_for_the_legend(values, log_y, rows, legend_rows):
    """y limits that keep the plotted ``values`` out of the top ``legend_rows`` of the ``rows``
    the plot has.

    plotext draws its legend, a row per line, over the plot's top-left corner, where a
    learning curve starts: its first points, the highest and leftmost, were hidden under it.
    The limits are in plotext's units (log10 of the values on a log axis); None where there
    is nothing to make room in (no data, one value, or a non-positive one on a log axis).
    """
    if not values or (log_y and min(values) <= 0):
        return None
    if log_y:
        values = [math.log10(v) for v in values]
    lo, hi = min(values), max(values)
    if hi == lo:
        return None
    # one row more than the legend's: plotext rounds a value to its row
    data_rows = max(rows - legend_rows - 1, rows // 2, 1)
    return lo, lo + (hi - lo) * max(rows, 1) / data_rows


def save_chart(series, chart, path):
    """Write the chart to a .png or .svg file (atomically: an old file stays whole until the new
    one is). Needs matplotlib: without it, one line naming the extra."""
    path = Path(path)
    if path.suffix.lower() not in PICTURE_TYPES:
        raise UsageError(f"--out '{path}': write a .png or .svg file")
    try:
        import matplotlib
        matplotlib.use("Agg")               # no display needed, none looked for
        import matplotlib.pyplot as pyplot
        from matplotlib.ticker import FuncFormatter, NullFormatter
    except ImportError:
        raise RnnlmError("writing a picture needs matplotlib: pip install 'rnnlm[plot]'") from None
    figure, axes = pyplot.subplots(figsize=(8, 4.5), layout="constrained")
    try:
        for label, xs, ys in series:
            axes.plot(xs, ys, marker="o", markersize=3, linewidth=1.5, label=label)
        if chart.log_y:
            axes.set_yscale("log")
        label = FuncFormatter(lambda v, _: short(v))    # 12 and 1.2M, not 1.2x10^1 and 1e6
        if chart.x_ticks:
            axes.set_xticks(*zip(*chart.x_ticks))
        else:
            axes.xaxis.set_major_formatter(label)
        axes.yaxis.set_major_formatter(label)
        # a log axis within one decade has no major tick to label but its minor ones; over
        # more, labelled minor ticks would overlap
        values = [y for _, _, ys in series for y in ys]
        one_decade = chart.log_y and values and max(values) <= 10 * min(values)
        axes.yaxis.set_minor_formatter(label if one_decade else NullFormatter())
        axes.set_title(chart.title)
        axes.set_xlabel(chart.x_label)
        axes.grid(True, which="both", alpha=0.3)
        axes.legend()
        fmt = path.suffix.lower()[1:]
        # svg: text as text (smaller, searchable); no date inside, so the same runs give the
        # same file
        metadata = {"Date": None} if fmt == "svg" else {}
        atomic_write(path, lambda f: figure.savefig(f, format=fmt, dpi=100, metadata=metadata),
                     binary=True)
    except OSError as e:
        raise RnnlmError(f"cannot write '{path}': {e.strerror or e}") from None
    finally:
        pyplot.close(figure)
    return path
