"""Chapter 6's figures, drawn from its facts. Every text comes from the words' figure labels
(``labels``) or the display names of codes (``name(code, kind)``)."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .theme import PALETTE


def cohort_heatmap(f: dict, labels: dict):
    import seaborn as sns

    heat = pd.DataFrame(f["cohort"]["heat"]).pivot(index="cohort", columns="period_number",
                                                   values="retention") * 100
    fig, ax = plt.subplots(figsize=(9, 7.5))
    sns.heatmap(heat, annot=True, fmt=".0f", cmap="Reds", cbar_kws={"label": labels["bar"]},
                annot_kws={"fontsize": 7}, linewidths=0.3, ax=ax)
    ax.set_xlabel(labels["x"])
    ax.set_ylabel(labels["y"])
    return fig


def channel_curve(f: dict, labels: dict, name):
    c = pd.DataFrame(f["channels"]["curve"])
    fig, ax = plt.subplots()
    for i, (ch, d) in enumerate(c.groupby("channel", sort=True)):
        ax.plot(d.period_number, d.retention * 100, marker="o", color=PALETTE[i % len(PALETTE)],
                label=name(ch, "channel"))
    ax.set_xlabel(labels["x"])
    ax.set_ylabel(labels["y"])
    ax.set_xticks(range(1, 13))
    ax.legend(ncol=3)
    return fig


def km_curves(f: dict, labels: dict, name):
    c = pd.DataFrame(f["survival"]["curves"])
    fig, ax = plt.subplots()
    for i, (ch, d) in enumerate(c.groupby("channel", sort=True)):
        color = PALETTE[i % len(PALETTE)]
        ax.step(d.timeline, d.survival * 100, where="post", color=color, label=name(ch, "channel"))
        ax.fill_between(d.timeline, d.ci_lower * 100, d.ci_upper * 100, step="post", color=color, alpha=0.18)
    ax.set_xlabel(labels["x"])
    ax.set_ylabel(labels["y"])
    ax.set_xlim(0, 365)
    ax.legend(ncol=3)
    return fig


def covariate_name(r: dict, labels: dict, name) -> str:
    """“渠道：拼团” / “Channel: Group buying” for a Cox row; membership has no level."""
    if r["kind"] == "is_member":
        return labels["is_member"]
    return labels[r["kind"]] + name(r["code"], r["kind"])


def cox_forest(f: dict, labels: dict, name):
    hr = f["cox"]["rows"]
    fig, ax = plt.subplots(figsize=(8, 6.5))
    y = np.arange(len(hr))[::-1]
    for y0, r in zip(y, hr):
        color = PALETTE[2] if r["violates"] else PALETTE[1]
        ax.errorbar(r["hazard_ratio"], y0, xerr=[[r["hazard_ratio"] - r["hr_lower"]],
                                                 [r["hr_upper"] - r["hazard_ratio"]]],
                    fmt="o", color=color, elinewidth=1.5, capsize=3)
    ax.axvline(1, color="grey", lw=1, ls="--")
    ax.set_xscale("log")
    ax.minorticks_off()
    ax.set_xticks([0.6, 0.8, 1, 1.25, 1.5], ["0.6", "0.8", "1", "1.25", "1.5"])
    ax.set_yticks(y, [covariate_name(r, labels, name) for r in hr])
    ax.set_xlabel(labels["x"])
    return fig


def ltv(f: dict, labels: dict, name):
    L = f["ltv"]
    edges, counts = np.asarray(L["hist"]["edges"]), np.asarray(L["hist"]["counts"])
    rows = L["rows"][::-1]
    if rows:
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4.2), gridspec_kw={"width_ratios": [1.3, 1]})
    else:                              # no acquisition channel in the data: the distribution only
        fig, ax1 = plt.subplots(figsize=(7, 4.2))
    ax1.bar(edges[:-1], counts, width=np.diff(edges), align="edge", color=PALETTE[1])
    ax1.set_xscale("log")
    ax1.axvline(L["median"], color=PALETTE[0], ls="--", label=labels["median"])
    ax1.axvline(L["mean"], color=PALETTE[2], ls=":", label=labels["mean"])
    ax1.set_xlabel(labels["x1"])
    ax1.set_ylabel(labels["y1"])
    ax1.legend()
    if not rows:
        fig.tight_layout()
        return fig
    ax2.barh([name(r["channel"], "channel") for r in rows], [r["clv"] for r in rows], color=PALETTE[0])
    ax2.set_xlabel(labels["x2"])
    fig.tight_layout()
    return fig


def backtest(f: dict, labels: dict):
    rows = [r for r in f["ltv"]["backtest"]["rows"] if r["bin"] != "all"]
    x = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=(8, 4))
    w = 0.38
    ax.bar(x - w / 2, [r["predicted_purchases"] for r in rows], w, color=PALETTE[1], label=labels["predicted"])
    ax.bar(x + w / 2, [r["actual_purchases"] for r in rows], w, color=PALETTE[2], label=labels["actual"])
    for xi, r in zip(x, rows):
        ax.annotate(f"{r['purchases_error'] * 100:+.1f}%", (xi, max(r["predicted_purchases"], r["actual_purchases"])),
                    xytext=(0, 3), textcoords="offset points", ha="center", fontsize=9)
    ax.set_xticks(x, [r["bin"] for r in rows])
    ax.set_xlabel(labels["x"])
    ax.set_ylabel(labels["y"])
    ax.legend()
    return fig


def ab_forest(f: dict, labels: dict):
    ab = f["ab"]["rows"]
    fig, ax = plt.subplots(figsize=(8, 3.6))
    yy = np.arange(len(ab))[::-1]
    first_ok = next((i for i, r in enumerate(ab) if not r["srm"]), None)
    for k, (pre, lab, dy, mk) in enumerate([("", labels["plain"], 0.15, "o"),
                                            ("cuped_", labels["cuped"], -0.15, "s")]):
        for i, (y0, r) in enumerate(zip(yy, ab)):
            est, lo, hi = (r[f"{pre}{c}"] * 100 for c in ("rel_lift", "rel_lo", "rel_hi"))
            color = "#9A9A9A" if r["srm"] else PALETTE[k]
            ax.errorbar(est, y0 + dy, xerr=[[est - lo], [hi - est]], fmt=mk, color=color, capsize=3,
                        label=lab if i == first_ok else None)
    ax.axvline(0, color="grey", lw=1, ls="--")
    ax.set_yticks(yy, [r["name"] + (labels["srm"] if r["srm"] else "") for r in ab])
    ax.set_xlabel(labels["x"])
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, frameon=False)
    return fig
