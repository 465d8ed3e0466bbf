"""Chapter 3's figures, drawn from its facts. Every text comes from the words' figure labels
(``labels``) or the display names of codes (``name(code, kind)``)."""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from .theme import PALETTE


def k_trend(f: dict, labels: dict, name):
    m = pd.DataFrame(f["viral"]["monthly"])
    mechs = [r["mechanism"] for r in f["viral"]["rows"]]
    wide = m[m.mechanism != "all"].pivot(index="cohort", columns="mechanism", values="k_factor")
    wide = wide.reindex(columns=[c for c in mechs if c in wide.columns])
    total = m[m.mechanism == "all"].set_index("cohort").k_factor.reindex(wide.index)
    x = list(range(len(wide)))
    fig, ax = plt.subplots(figsize=(9, 4.4))
    ax.stackplot(x, wide.T.to_numpy(), labels=[name(c, "mechanism") for c in wide.columns],
                 colors=PALETTE[1:1 + len(wide.columns)], alpha=0.85)
    ax.plot(x, total.to_numpy(), color=PALETTE[0], marker="o", lw=2, label=labels["total"])
    ax.set_xticks(x[::2], list(wide.index)[::2], rotation=45, ha="right")
    ax.set_ylabel(labels["y"])
    ax.set_xlabel(labels["x"])
    ax.legend(ncol=4, fontsize=9, loc="upper center", bbox_to_anchor=(0.5, -0.32), frameon=False)
    return fig


def cascade_dist(f: dict, labels: dict):
    c = f["cascades"]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.8))
    a1.bar([r["size_bucket"] for r in c["size_dist"]], [r["trees"] for r in c["size_dist"]],
           color=PALETTE[1])
    a1.set_yscale("log")
    a1.set_xlabel(labels["x1"])
    a1.set_ylabel(labels["y"])
    a1.tick_params(axis="x", labelsize=8, rotation=45)
    cap = c["depth_cap"]
    a2.bar([str(r["depth"]) if r["depth"] < cap else f"{r['depth']}+" for r in c["depth_dist"]],
           [r["trees"] for r in c["depth_dist"]], color=PALETTE[2])
    a2.set_yscale("log")
    a2.set_xlabel(labels["x2"])
    a2.set_ylabel(labels["y"])
    fig.tight_layout()
    return fig


def virality(f: dict, labels: dict):
    v = pd.DataFrame(f["cascades"]["virality"])
    fig, ax = plt.subplots()
    ax.fill_between(v["size"], v.sv_lo, v.sv_hi, color=PALETTE[1], alpha=0.2, label=labels["band"])
    ax.plot(v["size"], v.sv_mean, color=PALETTE[1], marker="o", label=labels["mean"])
    ax.plot(v["size"], v.star, color=PALETTE[5], ls="--", label=labels["star"])
    ax.plot(v["size"], v.chain, color=PALETTE[0], ls=":", label=labels["chain"])
    ax.set_xlabel(labels["x"])
    ax.set_ylabel(labels["y"])
    ax.legend(fontsize=9)
    return fig


def growth_accounting(f: dict, labels: dict):
    g = pd.DataFrame(f["growth"]["monthly"])
    x = list(g.period)
    fig, ax = plt.subplots(figsize=(9, 4.4))
    ax.bar(x, g.new, color=PALETTE[1], label=labels["new"])
    ax.bar(x, g.resurrected, bottom=g.new, color=PALETTE[3], label=labels["resurrected"])
    ax.bar(x, -g.churned, color=PALETTE[5], label=labels["churned"])
    ax.axhline(0, color="black", lw=0.8)
    ax.set_ylabel(labels["y"])
    ax.set_xticks(range(len(x))[::2], x[::2], rotation=45, ha="right")
    ax2 = ax.twinx()
    ax2.plot(x, g.quick_ratio, color=PALETTE[0], marker="o", label=labels["quick_ratio"])
    ax2.axhline(1, color=PALETTE[0], ls="--", lw=1)
    ax2.set_ylabel(labels["y2"])
    ax2.grid(False)
    ax2.set_ylim(bottom=0)
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, ncol=4, fontsize=9, loc="lower left")
    return fig


def segments(f: dict, labels: dict):
    rows = f["segments"]["rows"]
    groups = [labels[r["group"]] for r in rows]
    colors = [PALETTE[1] if r["group"].endswith("_rest") else PALETTE[0] for r in rows]
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.8))
    for ax, col, title, scale in zip(axes, ["k_factor", "first_order_rate", "new_users_growth"],
                                     [labels["k"], labels["first_order"], labels["growth"]],
                                     [1, 100, 100]):
        ax.bar(groups, [(r[col] or 0) * scale for r in rows], color=colors)
        ax.set_title(title, fontsize=11)
        ax.tick_params(axis="x", labelsize=9, rotation=30)
    fig.tight_layout()
    return fig


def uplift(f: dict, labels: dict, name):
    u = f["uplift"]
    t = [r for r in u["rows"]][::-1]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4.2), gridspec_kw={"width_ratios": [1, 2]})
    for i, r in enumerate(t):
        lo = r["signups_lo"] if r["signups_lo"] is not None else r["signups"]
        hi = r["signups_hi"] if r["signups_hi"] is not None else r["signups"]
        a1.errorbar(r["signups"] * 100, i, xerr=[[(r["signups"] - lo) * 100], [(hi - r["signups"]) * 100]],
                    fmt="o", color=PALETTE[1], capsize=4)
    a1.set_yticks(range(len(t)), [name(r["type"], "campaign_type") for r in t])
    a1.axvline(0, color="black", lw=0.8)
    a1.set_xlabel(labels["x1"])
    tier_color = {"head": PALETTE[0], "mid": PALETTE[2], "tail": PALETTE[5]}
    for i, r in enumerate(u["campaigns"]):
        if r["rel_lo"] is None:
            a2.plot(i, r["rel_lift"] * 100, "o", ms=4, color=tier_color.get(r["kol_tier"], PALETTE[6]))
            continue
        a2.errorbar(i, r["rel_lift"] * 100, yerr=[[(r["rel_lift"] - r["rel_lo"]) * 100],
                                                 [(r["rel_hi"] - r["rel_lift"]) * 100]],
                    fmt="o", ms=4, color=tier_color.get(r["kol_tier"], PALETTE[6]), capsize=2, lw=1)
    for k, v in tier_color.items():
        a2.plot([], [], "o", color=v, label=f"{name(k, 'kol_tier')} {labels['kol']}")
    a2.axhline(0, color="black", lw=0.8)
    a2.set_xticks([])
    a2.set_xlabel(labels["x2"])
    a2.set_ylabel(labels["y2"])
    a2.legend(fontsize=9, loc="upper left")
    fig.tight_layout()
    return fig
