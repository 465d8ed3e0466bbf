"""Chapter 2's figures, drawn from its facts. Every text comes from the words' figure labels
(``labels``) or the display names of codes (``name(code, kind)``)."""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from .theme import PALETTE

STEP_RATES = ("visit_to_signup", "signup_to_order", "overall_conversion")


def funnel_mechanism(f: dict, labels: dict, name):
    rows = sorted(f["funnel"]["rows"], key=lambda r: r["overall_conversion"])
    names = [name(r["mechanism"], "mechanism") for r in rows]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 4.2), sharey=True,
                                   gridspec_kw={"width_ratios": [1, 2]})
    ax1.barh(names, [r["visits_per_share"] for r in rows], color=PALETTE[1])
    ax1.set_xlabel(labels["x1"])
    h = 0.26
    for i, rate in enumerate(STEP_RATES):
        ax2.barh([y + (i - 1) * h for y in range(len(rows))], [r[rate] * 100 for r in rows],
                 height=h, color=PALETTE[[0, 2, 3][i]], label=labels[rate])
    ax2.set_xlabel(labels["x2"])
    ax2.legend(loc="lower right", fontsize=9)
    fig.tight_layout()
    return fig


def platform(f: dict, labels: dict, name):
    rows = f["platforms"]["rows"]
    names = [name(r["platform"], "platform") for r in rows]
    conv = [r["overall_conversion"] for r in rows]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 4), sharey=True)
    ax1.barh(names, [r["visits_per_share"] for r in rows], color=PALETTE[1])
    ax1.set_xlabel(labels["x1"])
    ax2.barh(names, [c * 100 for c in conv], color=PALETTE[0])
    for y, v in enumerate(conv):
        ax2.annotate(f"{v * 100:.1f}%", (v * 100, y), xytext=(3, 0), textcoords="offset points",
                     va="center", fontsize=9)
    ax2.set_xlabel(labels["x2"])
    ax2.set_xlim(0, max(conv) * 100 * 1.2)
    fig.tight_layout()
    return fig


def content_ugc(f: dict, labels: dict):
    c = f["content"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 4), gridspec_kw={"width_ratios": [3, 2]})
    xs = range(len(STEP_RATES))
    for i, g in enumerate(("content", "other")):
        ax1.bar([x + (i - 0.5) * 0.38 for x in xs], [c[g][r] * 100 for r in STEP_RATES],
                width=0.38, color=PALETTE[[4, 0][i]], label=labels[g])
    ax1.set_xticks(list(xs), [labels[r] for r in STEP_RATES])
    ax1.set_ylabel(labels["y1"])
    ax1.legend(fontsize=9)
    u = c["ugc"]
    vals = [u["high"], u["low"]]
    ax2.bar([labels["high"], labels["low"]], [v * 100 for v in vals],
            color=[PALETTE[2], PALETTE[5]], width=0.55)
    for x, v in enumerate(vals):
        ax2.annotate(f"{v * 100:.1f}%", (x, v * 100), xytext=(0, 3), textcoords="offset points",
                     ha="center", fontsize=9)
    ax2.set_ylabel(labels["y2"])
    fig.tight_layout()
    return fig


def channel_mix(f: dict, labels: dict, name):
    ch = f["channels"]
    mix = pd.DataFrame(ch["mix"])
    mix["month"] = pd.to_datetime(mix["month"])
    wide = mix.pivot(index="month", columns="channel", values="share").reindex(
        columns=ch["order"]).fillna(0)
    fig, ax = plt.subplots(figsize=(9, 4.2))
    ax.stackplot(wide.index, (wide * 100).T.values, labels=[name(c, "channel") for c in wide.columns],
                 colors=PALETTE[:len(wide.columns)], alpha=0.9)
    ax.set_ylabel(labels["y"])
    ax.set_ylim(0, 100)
    ax.set_xlim(wide.index.min(), wide.index.max())
    ax.axvline(pd.Timestamp(f"{f['year']}-01-01"), color="black", lw=1, ls="--")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=9, frameon=False)
    fig.tight_layout()
    return fig


def incentive(f: dict, labels: dict, name):
    rows = sorted(f["incentives"]["rows"], key=lambda r: r["cost_per_user"])
    names = [name(r["mechanism"], "mechanism") for r in rows]
    fig, ax = plt.subplots(figsize=(8, 3.8))
    left = [0.0] * len(rows)
    for i, part in enumerate(("first_order_discount", "group_discount", "campaign_spend")):
        per = [r[f"{part}_per_user"] for r in rows]
        ax.barh(names, per, left=left, color=PALETTE[[2, 0, 1][i]], label=labels[part])
        left = [a + b for a, b in zip(left, per)]
    for y, r in enumerate(rows):
        ax.annotate(f"{r['cost_per_user']:.1f}", (r["cost_per_user"], y), xytext=(3, 0),
                    textcoords="offset points", va="center", fontsize=9)
    ax.set_xlabel(labels["x"])
    ax.set_xlim(0, max(r["cost_per_user"] for r in rows) * 1.15)
    ax.legend(loc="lower right", fontsize=9)
    fig.tight_layout()
    return fig
