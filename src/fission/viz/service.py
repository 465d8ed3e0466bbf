"""Chapter 7's figures, drawn from its facts. Every text comes from the words' figure labels
(``labels``) or the display names of codes (``name(code, kind)``)."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .theme import PALETTE


def hour_of_week(f: dict, labels: dict):
    """Tickets per week and median first response per hour of the week (heatmaps)."""
    d = pd.DataFrame(f["tickets"]["hour_of_week"])
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True)
    for ax, col, cmap, title in ((axes[0], "per_week", "Blues", labels["volume"]),
                                 (axes[1], "response_median_min", "Reds", labels["response"])):
        m = d.pivot(index="dow", columns="hour", values=col).reindex(index=range(7), columns=range(24))
        im = ax.imshow(m.values, aspect="auto", cmap=cmap)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel(labels["x"])
        ax.set_xticks(range(0, 24, 3))
        fig.colorbar(im, ax=ax, shrink=0.8)
    axes[0].set_yticks(range(7), labels["days"])
    fig.tight_layout()
    return fig


def daily(f: dict, labels: dict, name_day):
    """Tickets per day and the share answered within an hour; peak days marked."""
    d = pd.DataFrame(f["tickets"]["daily"])
    d["day"] = pd.to_datetime(d["day"])
    fig, ax1 = plt.subplots(figsize=(10, 3.8))
    ax1.bar(d.day, d.tickets, color=PALETTE[5], alpha=0.5, width=1.0, label=labels["tickets"])
    ax1.set_ylabel(labels["y1"])
    ax2 = ax1.twinx()
    ax2.plot(d.day, d.within_1h.rolling(7, center=True, min_periods=1).mean() * 100,
             color=PALETTE[1], lw=1.5, label=labels["within_1h"])
    ax2.set_ylabel(labels["y2"])
    ax2.set_ylim(0, 100)
    for t, c in (("618", PALETTE[0]), ("double11", PALETTE[0]), ("spring_festival", PALETTE[2])):
        days = d[d.day_type == t]
        if len(days):
            ax1.axvspan(days.day.min(), days.day.max() + pd.Timedelta(days=1), color=c, alpha=0.25)
            ax1.annotate(name_day(t), (days.day.min(), ax1.get_ylim()[1] * 0.92), fontsize=9, color=c)
    h1, l1 = ax1.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax1.legend(h1 + h2, l1 + l2, loc="upper left", fontsize=9)
    fig.tight_layout()
    return fig


def staffing(f: dict, labels: dict):
    """Left: modelled against observed share answered in time per hour-of-week slot
    (validation); right: the plan's agents per hour on next year's 双11 against today."""
    s = f["staffing"]
    v = pd.DataFrame(s["validation"])
    p = pd.DataFrame(s["plan"])
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4), gridspec_kw={"width_ratios": [2, 3]})
    ax1.scatter(v.modelled * 100, v.observed * 100, s=np.sqrt(v.tickets) * 4, color=PALETTE[1], alpha=0.6)
    lo = min(v.modelled.min(), v.observed.min()) * 100 - 5
    ax1.plot([lo, 100], [lo, 100], color="black", lw=1, ls="--")
    ax1.set_xlabel(labels["x1"])
    ax1.set_ylabel(labels["y1"])
    ax2.bar(p.hour, p.agents, color=PALETTE[0], alpha=0.8, label=labels["plan"])
    ax2.step(p.hour, p.current, where="mid", color=PALETTE[1], lw=2, label=labels["current"])
    ax2.set_xlabel(labels["x2"])
    ax2.set_ylabel(labels["y2"])
    ax2.set_xticks(range(0, 24, 2))
    ax2.legend(fontsize=9, loc="upper left")
    fig.tight_layout()
    return fig


def returns(f: dict, labels: dict, name):
    """Return rate per category with its 95% interval."""
    rows = sorted(f["returns"]["by_category"], key=lambda r: r["rate"])
    names = [name(r["category"], "category") for r in rows]
    rate = np.array([r["rate"] for r in rows]) * 100
    err = np.array([[r["rate"] - r["lo"], r["hi"] - r["rate"]] for r in rows]).T * 100
    fig, ax = plt.subplots(figsize=(8, 3.8))
    ax.barh(names, rate, xerr=err, color=PALETTE[2], capsize=3)
    ax.scatter([r["rate_prev"] * 100 for r in rows], names, marker="|", s=200, color="black",
               label=labels["prev"], zorder=3)
    for y, v in enumerate(rate):
        ax.annotate(f"{v:.1f}%", (v, y), xytext=(8, 0), textcoords="offset points", va="center", fontsize=9)
    ax.set_xlabel(labels["x"])
    ax.set_xlim(0, rate.max() * 1.25)
    ax.legend(fontsize=9, loc="lower right")
    fig.tight_layout()
    return fig


def ratings(f: dict, labels: dict):
    """Rating distribution (left) and mean rating of returned against kept orders (right)."""
    r = f["reviews"]
    d = pd.DataFrame(r["dist"])
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.6), gridspec_kw={"width_ratios": [3, 2]})
    ax1.bar(d.rating.astype(str), d.share * 100, color=PALETTE[3])
    ax1.set_xlabel(labels["x1"])
    ax1.set_ylabel(labels["y1"])
    vals = [r["returned_mean"], r["kept_mean"]]
    ax2.bar([labels["returned"], labels["kept"]], vals, color=[PALETTE[0], PALETTE[1]], width=0.55)
    for x, v in enumerate(vals):
        ax2.annotate(f"{v:.2f}", (x, v), xytext=(0, 3), textcoords="offset points", ha="center", fontsize=9)
    ax2.set_ylim(1, 5)
    ax2.set_ylabel(labels["y2"])
    fig.tight_layout()
    return fig
