"""Chapter 4's figures, drawn from its facts. Every text comes from the words' figure labels
(``labels``) or the display names of codes (``name(code, kind)``)."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .theme import PALETTE

TIER_COLOR = {"head": PALETTE[0], "mid": PALETTE[1], "tail": PALETTE[2]}


def _err(rows, v, lo, hi, scale=1.0):
    vals = np.array([r[v] * scale for r in rows])
    return vals, np.array([[max(r[v] - r[lo], 0) * scale for r in rows],
                           [max(r[hi] - r[v], 0) * scale for r in rows]])


def platform_overview(f: dict, labels: dict, name):
    rows = sorted(f["platforms"]["rows"], key=lambda r: r["gmv"])
    names = [name(r["platform"], "platform") for r in rows]
    y = np.arange(len(rows))
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 4.2), sharey=True)
    ax1.barh(y - 0.2, [r["gmv"] / 1e4 for r in rows], height=0.4, color=PALETTE[0], label=labels["gmv"])
    ax1.barh(y + 0.2, [r["total_cost"] / 1e4 for r in rows], height=0.4, color=PALETTE[3], label=labels["cost"])
    ax1.set_yticks(y, names)
    ax1.set_xlabel(labels["x1"])
    ax1.legend(fontsize=9, loc="lower right")
    conv, err = _err(rows, "overall_conversion", "overall_conversion", "overall_conversion", 100)
    prev = [(r["previous"] or np.nan) * 100 for r in rows]
    ax2.barh(y, conv, color=PALETTE[1], label=labels["current"])
    ax2.scatter(prev, y, color="black", marker="|", s=120, zorder=3, label=labels["previous"])
    ax2.set_xlabel(labels["x2"])
    ax2.legend(fontsize=9, loc="lower right")
    fig.tight_layout()
    return fig


def kol_baseline(f: dict, labels: dict):
    d = pd.DataFrame(f["kol"]["daily"])
    d["day"] = pd.to_datetime(d["day"])
    fig, ax = plt.subplots(figsize=(9, 3.8))
    ax.fill_between(d.day, d.baseline, d.signups, where=d.signups > d.baseline, color=PALETTE[0],
                    alpha=0.35, step="mid", label=labels["burst"])
    ax.plot(d.day, d.signups, color="0.3", lw=0.8, drawstyle="steps-mid", label=labels["signups"])
    ax.plot(d.day, d.baseline, color=PALETTE[3], lw=1.4, label=labels["baseline"])
    ax.plot(d.day, d.tagged, color=PALETTE[1], lw=0.8, alpha=0.8, label=labels["tagged"])
    ax.set_ylabel(labels["y"])
    ax.set_xlim(d.day.min(), d.day.max())
    ax.legend(fontsize=8, ncol=4, loc="upper left")
    fig.tight_layout()
    return fig


def kol_followers(f: dict, labels: dict, name):
    k = f["kol"]
    c = [r for r in k["campaigns"] if r["inc_users"] is not None]
    el = k["elasticity"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 4))
    for t in ("head", "mid", "tail"):
        rs = [r for r in c if r["tier"] == t]
        if not rs:
            continue
        x = [r["followers"] / 1e4 for r in rs]
        v, e = _err(rs, "inc_users", "inc_users_lo", "inc_users_hi")
        ax1.errorbar(x, v, yerr=e, fmt="o", ms=4, color=TIER_COLOR[t], label=name(t, "kol_tier"), alpha=0.8)
        rr = [r for r in rs if r["roi"] is not None]
        if rr:
            v, e = _err(rr, "roi", "roi_lo", "roi_hi")
            ax2.errorbar([r["followers"] / 1e4 for r in rr], v, yerr=e, fmt="o", ms=4,
                         color=TIER_COLOR[t], alpha=0.8)
    xs = np.geomspace(min(r["followers"] for r in c), max(r["followers"] for r in c), 50)
    ax1.plot(xs / 1e4, el["a"] * (xs / 1e6) ** el["b"], color="black", lw=1, label=labels["fit"])
    for ax in (ax1, ax2):
        ax.set_xscale("log")
        ax.set_xlabel(labels["x"])
    ax1.set_yscale("symlog", linthresh=10)
    ax1.set_ylabel(labels["y1"])
    ax2.set_ylabel(labels["y2"])
    ax2.axhline(1, color="0.5", lw=0.8, ls="--")
    ax1.legend(fontsize=8)
    fig.tight_layout()
    return fig


def live(f: dict, labels: dict, name):
    lv = f["live"]
    fig, axes = plt.subplots(1, 3, figsize=(9.5, 3.8), sharey=True)
    for ax, key, kind in zip(axes, ("tiers", "platforms", "hours"), ("kol_tier", "platform", None)):
        rows = lv[key]
        field = {"tiers": "tier", "platforms": "platform", "hours": "hour"}[key]
        names = [name(r[field], kind) if kind else f"{r[field]}:00" for r in rows]
        v, e = _err(rows, "gmv_per_viewer_hour", "gmv_per_viewer_hour_lo", "gmv_per_viewer_hour_hi", 1000)
        ax.bar(range(len(rows)), v, yerr=e, color=PALETTE[{"tiers": 0, "platforms": 1, "hours": 2}[key]],
               capsize=3)
        ax.set_xticks(range(len(rows)), names, rotation=30 if key == "platforms" else 0, fontsize=8)
        ax.set_title(labels[key], fontsize=10)
    axes[0].set_ylabel(labels["y"])
    fig.tight_layout()
    return fig


def response(f: dict, labels: dict, name):
    b = f["budget"]
    bands = pd.DataFrame(b["bands"])
    pts = pd.DataFrame(b["points"])
    plan = {r["channel"]: r for r in b["plan"]}
    fig, ax = plt.subplots(figsize=(9, 4.2))
    for i, (ch, g) in enumerate(bands.groupby("channel")):
        col = PALETTE[i % len(PALETTE)]
        ax.fill_between(g.spend / 1e4, g.lo, g.hi, color=col, alpha=0.2)
        ax.plot(g.spend / 1e4, g.buyers, color=col, lw=1.5, label=name(ch, "channel"))
        p = pts[pts.channel == ch]
        ax.scatter(p.spend / 1e4, p.new_buyers, color=col, s=10, alpha=0.7)
        if ch in plan:
            ax.scatter([plan[ch]["proposed"] / 1e4], [plan[ch]["buyers_plan"]], marker="*", s=120,
                       color=col, edgecolor="black", zorder=4)
    ax.set_xlabel(labels["x"])
    ax.set_ylabel(labels["y"])
    ax.legend(fontsize=8, loc="upper left", title=labels["legend"], title_fontsize=8)
    fig.tight_layout()
    return fig
