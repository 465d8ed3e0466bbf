"""Chapter 8's figures, drawn from its facts. Every text comes from the words' figure labels
(``labels``) or the display names of codes (``name(code, kind)``)."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .theme import PALETTE


def suppliers(f: dict, labels: dict):
    """Left: each supplier's shrunk late rate with its posterior interval (ranked); right:
    late against defect rate, suppliers to act on in colour."""
    s = f["suppliers"]
    d = pd.DataFrame(s["all"]).sort_values("late_shrunk")
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4.6), gridspec_kw={"width_ratios": [1, 1]})
    y = np.arange(len(d))
    col = [PALETTE[0] if a else PALETTE[5] for a in d.act]
    ax1.errorbar(d.late_shrunk * 100, y, xerr=[(d.late_shrunk - d.late_post_lo) * 100,
                                              (d.late_post_hi - d.late_shrunk) * 100],
                 fmt="none", ecolor="grey", lw=1)
    ax1.scatter(d.late_shrunk * 100, y, c=col, s=14, zorder=3)
    ax1.scatter(d.late_rate * 100, y, marker="|", color="black", s=30, label=labels["raw"])
    ax1.axvline(s["late_prior_mean"] * 100, color="black", ls="--", lw=1)
    ax1.set_yticks([])
    ax1.set_xlabel(labels["x1"])
    ax1.set_ylabel(labels["y1"])
    ax1.legend(fontsize=8, loc="lower right")
    ax2.scatter(d.late_shrunk * 100, d.defect_shrunk * 100, s=np.sqrt(d.pos) * 2, c=col, alpha=0.8)
    ax2.axvline(s["late_prior_mean"] * 100, color="black", ls="--", lw=1)
    ax2.axhline(s["defect_prior_mean"] * 100, color="black", ls="--", lw=1)
    ax2.set_xlabel(labels["x1"])
    ax2.set_ylabel(labels["y2"])
    fig.tight_layout()
    return fig


def inventory(f: dict, labels: dict):
    """Per ABC class: stock-out rate and mean units on hand, observed and replayed under the
    current and the recommended policy."""
    b = pd.DataFrame(f["inventory"]["backtest"])
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
    x = np.arange(len(b))
    w = 0.26
    for i, (k, c) in enumerate((("obs", PALETTE[5]), ("cur", PALETTE[1]), ("rec", PALETTE[0]))):
        ax1.bar(x + (i - 1) * w, b[f"{k}_stockout"] * 100, width=w, color=c, label=labels[k])
        ax2.bar(x + (i - 1) * w, b[f"{k}_on_hand"], width=w, color=c, label=labels[k])
    for ax, yl in ((ax1, labels["y1"]), (ax2, labels["y2"])):
        ax.set_xticks(x, [labels["cls"].format(c) for c in b.cls])
        ax.set_ylabel(yl)
    ax1.legend(fontsize=8)
    fig.tight_layout()
    return fig


def forecast(f: dict, labels: dict):
    """Weekly units (all categories): actual, the back-test forecasts of the model and of the
    seasonal-naive baseline, and next quarter's forecast with its interval."""
    fc = f["forecast"]
    s = pd.DataFrame(fc["series"])
    s["week_end"] = pd.to_datetime(s.week_end)
    fu = pd.DataFrame(fc["future"])
    fu["week_end"] = pd.to_datetime(fu.week_end)
    fig, ax = plt.subplots(figsize=(10, 3.8))
    ax.plot(s.week_end, s.actual, color="black", lw=1.2, label=labels["actual"])
    ax.plot(s.week_end, s.model, color=PALETTE[0], lw=1.8, label=labels["model"])
    ax.plot(s.week_end, s.naive, color=PALETTE[2], lw=1.5, ls="--", label=labels["naive"])
    ax.fill_between(fu.week_end, fu.lo, fu.hi, color=PALETTE[1], alpha=0.2)
    ax.plot(fu.week_end, fu.forecast, color=PALETTE[1], lw=1.8, label=labels["forecast"])
    ax.set_ylabel(labels["y"])
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8, loc="upper left", ncol=2)
    fig.tight_layout()
    return fig


def logistics(f: dict, labels: dict, name):
    """Left: typical transit days per carrier (tier-1 city, home region) with 95% intervals;
    right: median transit days per city tier, home region against cross-region."""
    lg = f["logistics"]
    m = pd.DataFrame(lg["model"])
    car = m[m.kind == "carrier"].sort_values("coef")
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
    ax1.barh([labels["carriers"].get(c, c) for c in car.level], car.coef, color=PALETTE[1],
             xerr=[car.coef - car.lo, car.hi - car.coef], capsize=3)
    ax1.set_xlabel(labels["x1"])
    tiers = sorted({1, 2, 3, 4, 5})
    mult = {int(r.level): r.coef for r in m[m.kind == "tier"].itertuples()}
    mult[1] = 1.0
    cross = float(m[m.kind == "cross"].coef.iloc[0])
    base = float(np.exp((np.log(car.coef)).mean()))
    home = [base * mult[t] for t in tiers]
    ax2.plot(tiers, home, marker="o", color=PALETTE[3], label=labels["home"])
    ax2.plot(tiers, [h * cross for h in home], marker="s", color=PALETTE[0], label=labels["cross"])
    ax2.set_xticks(tiers, [name(t, "city_tier") for t in tiers], fontsize=8)
    ax2.set_ylabel(labels["y2"])
    ax2.set_ylim(bottom=0)
    ax2.legend(fontsize=8)
    fig.tight_layout()
    return fig
