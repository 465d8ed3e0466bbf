"""The executive brief's one chart: every key figure's change on last year with its interval,
rates in percentage points and the rest as relative changes (two panels, since the two units
do not share an axis). Significant changes are coloured, the others grey."""
from __future__ import annotations

import matplotlib.pyplot as plt

from .theme import PALETTE

GREY = PALETTE[5]


def kpi_changes(rows: list[dict], labels: dict):
    """``rows``: :func:`fission.scorecard.scorecard` rows (with ``name``, the brief chooses
    which); those with a change are drawn. ``labels``: pp, relative (axis titles), significant, not_significant (legend).
    None when no figure has a change."""
    rows = [r for r in rows if r["change"] is not None]
    if not rows:
        return None
    panels = [(k, [r for r in rows if r["change_kind"] == k]) for k in ("pp", "relative")]
    panels = [(k, rs) for k, rs in panels if rs]
    heights = [max(len(rs), 1) for _, rs in panels]
    fig, axes = plt.subplots(len(panels), 1, figsize=(7.5, 0.5 + 0.26 * sum(heights) + 0.45 * len(panels)),
                             gridspec_kw={"height_ratios": heights}, squeeze=False)
    for ax, (kind, rs) in zip(axes[:, 0], panels):
        y = list(range(len(rs)))[::-1]
        for yi, r in zip(y, rs):
            sig = r["significant"] is True or (r["census"] and r["change"] != 0)
            colour = PALETTE[0] if sig else GREY
            if r["lo"] is not None and r["hi"] is not None:
                ax.plot([r["lo"] * 100, r["hi"] * 100], [yi, yi], color=colour, lw=2, alpha=0.8)
            ax.plot([r["change"] * 100], [yi], "o", color=colour, ms=5)
        ax.axvline(0, color="black", lw=0.8)
        ax.set_yticks(y, [r["name"] for r in rs], fontsize=8)
        ax.set_xlabel(labels[kind], fontsize=9)
        ax.tick_params(axis="x", labelsize=8)
    handles = [plt.Line2D([], [], color=PALETTE[0], marker="o", lw=2, label=labels["significant"]),
               plt.Line2D([], [], color=GREY, marker="o", lw=2, label=labels["not_significant"])]
    axes[0, 0].legend(handles=handles, fontsize=8, loc="best", frameon=False)
    fig.tight_layout()
    return fig
