"""Chapter 9's figures, drawn from its facts. Every text comes from the words' figure labels
(``labels``); a figure whose data the edition lacks draws the label ``missing`` instead."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .theme import PALETTE


def _missing(labels: dict, size=(8, 2.5)):
    fig, ax = plt.subplots(figsize=size)
    ax.axis("off")
    ax.text(0.5, 0.5, labels["missing"], ha="center", va="center", fontsize=11, color="grey")
    return fig


def rules(f: dict, labels: dict):
    """Accounts each fraud rule flags: those in suspected rings and those flagged by it alone."""
    d = pd.DataFrame(f["fraud"]["rules"]).iloc[::-1]
    names = [labels["rules"][r] for r in d.rule]
    alone = d.accounts - d.in_rings
    fig, ax = plt.subplots(figsize=(8, 3.2))
    ax.barh(names, d.in_rings, color=PALETTE[0], label=labels["in_rings"])
    ax.barh(names, alone, left=d.in_rings, color=PALETTE[5], alpha=0.6, label=labels["alone"])
    for y, (a, b) in enumerate(zip(d.in_rings, d.accounts)):
        ax.annotate(f"{b:,}", (b, y), xytext=(4, 0), textcoords="offset points", va="center", fontsize=9)
    ax.set_xlabel(labels["x"])
    ax.set_xlim(0, max(d.accounts.max(), 1) * 1.15)
    ax.legend(fontsize=9, loc="lower right")
    fig.tight_layout()
    return fig


def rewards(f: dict, labels: dict):
    """Rewards paid per month by level (stacked); levels beyond the cap in their own colour."""
    r = f["rewards"]
    if not r["available"]:
        return _missing(labels)
    d = pd.DataFrame(r["monthly"])
    m = d.pivot_table(index="month", columns="level", values="amount", aggfunc="sum")
    m = m.reindex(index=range(1, 13), fill_value=0).fillna(0)
    cap = r["max_level_allowed"]
    fig, ax = plt.subplots(figsize=(9, 3.6))
    bottom = np.zeros(len(m))
    colors = {1: PALETTE[1], 2: PALETTE[2], cap + 1: PALETTE[0]}
    for lv in sorted(m.columns):
        key = "beyond" if lv > cap else f"level{lv}"
        ax.bar(m.index, m[lv], bottom=bottom, color=colors.get(lv, PALETTE[3]), label=labels[key])
        bottom += m[lv].values
    if r["beyond"]["rewards"]:
        mon = d[d.level > cap].groupby("month").rewards.sum()
        for mo, n in mon.items():
            ax.annotate(labels["beyond_note"].format(n=int(n)), (mo, bottom[mo - 1]), xytext=(0, 6),
                        textcoords="offset points", ha="center", fontsize=9, color=PALETTE[0])
    ax.set_xticks(range(1, 13))
    ax.set_xlabel(labels["x"])
    ax.set_ylabel(labels["y"])
    ax.set_ylim(0, bottom.max() * 1.18 if bottom.max() else 1)
    ax.legend(fontsize=9, loc="upper left")
    fig.tight_layout()
    return fig


def compliance(f: dict, labels: dict):
    """Left: the 7-day no-reason approval rate this year and last, with 95% intervals; right:
    refund-ticket resolution time (hours), with the 72-hour mark."""
    s = f["seven_day"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6), gridspec_kw={"width_ratios": [2, 3]})
    vals = np.array([s["rate_prev"], s["rate"]]) * 100
    errs = np.array([[s["rate_prev"] - s["prev_lo"], s["prev_hi"] - s["rate_prev"]],
                     [s["rate"] - s["lo"], s["hi"] - s["rate"]]]).T * 100
    ax1.bar([labels["prev"], labels["cur"]], vals, yerr=errs, color=[PALETTE[5], PALETTE[1]],
            capsize=4, width=0.55)
    for x, v in enumerate(vals):
        ax1.annotate(f"{v:.1f}%", (x, v + errs[1][x]), xytext=(0, 4), textcoords="offset points",
                     ha="center", fontsize=9)
    ax1.set_ylim(max(min(vals) - 10, 0), 100)
    ax1.set_ylabel(labels["y1"])
    h = pd.DataFrame(f["refund"].get("hist") or [])
    if len(h):
        ax2.bar(h.hours + 3, h.tickets, width=6.0, color=PALETTE[2], edgecolor="white", lw=0.3)
        ax2.axvline(72, color="black", ls="--", lw=1)
        ax2.annotate(labels["mark"], (72, ax2.get_ylim()[1] * 0.9), xytext=(4, 0), textcoords="offset points",
                     fontsize=9)
    ax2.set_xlabel(labels["x2"])
    ax2.set_ylabel(labels["y2"])
    fig.tight_layout()
    return fig


def heatmap(f: dict, labels: dict):
    """The register's likelihood × impact matrix: risks not closed per cell, coloured by the
    score; arrows from a risk's previous cell where it moved."""
    reg = f["register"]
    if not reg["available"]:
        return _missing(labels)
    score = np.outer(np.arange(1, 6), np.arange(1, 6))
    fig, ax = plt.subplots(figsize=(6.4, 5))
    ax.imshow(score, origin="lower", cmap="RdYlGn_r", alpha=0.55, extent=(0.5, 5.5, 0.5, 5.5))
    cells: dict = {}
    for r in reg["risks"]:
        if r["status"] != "closed":
            cells.setdefault((r["impact"], r["likelihood"]), []).append(r)
    for (x, y), rs in cells.items():
        ax.text(x, y, "\n".join(" ".join(labels["risk"].format(id=r["risk_id"]) for r in rs[i:i + 3]) for i in range(0, len(rs), 3)),
                ha="center", va="center", fontsize=9, fontweight="bold")
    moved = [r for r in reg["risks"] if r["status"] != "closed" and r.get("likelihood_prev") is not None
             and (r["likelihood_prev"], r["impact_prev"]) != (r["likelihood"], r["impact"])]
    for k, r in enumerate(moved):   # arrows side by side so two moves in one column stay apart
        dx = -0.38 + 0.12 * (k % 4)
        ax.annotate("", xy=(r["impact"] + dx, r["likelihood"] - 0.2),
                    xytext=(r["impact_prev"] + dx, r["likelihood_prev"] + 0.2 * np.sign(r["likelihood_prev"] - r["likelihood"])),
                    arrowprops={"arrowstyle": "->", "color": "black", "lw": 1})
    ax.grid(False)
    ax.set_xticks(range(1, 6))
    ax.set_yticks(range(1, 6))
    ax.set_xlabel(labels["x"])
    ax.set_ylabel(labels["y"])
    ax.set_xlim(0.5, 5.5)
    ax.set_ylim(0.5, 5.5)
    fig.tight_layout()
    return fig
