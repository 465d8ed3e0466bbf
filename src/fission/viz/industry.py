"""Chapter 1's figures, drawn from its facts. Every text comes from the words' figure labels
(``labels``) or the display names of codes (``name(code, kind)``)."""
from __future__ import annotations

import matplotlib.pyplot as plt

from .theme import PALETTE


def market(f: dict, labels: dict):
    rows = f["market"]["rows"]
    years = [str(r["year"]) for r in rows]
    fig, ax = plt.subplots()
    ax.bar(years, [r["market_size_cny"] / 1e12 for r in rows], color=PALETTE[1])
    ax.set_ylabel(labels["y"])
    ax2 = ax.twinx()
    ax2.plot(years, [None if r["growth"] is None else r["growth"] * 100 for r in rows],
             color=PALETTE[0], marker="o")
    ax2.set_ylabel(labels["y2"])
    ax2.grid(False)
    return fig


def monthly(f: dict, labels: dict):
    rows = f["monthly"]["rows"]
    fig, ax = plt.subplots()
    for i, y in enumerate(sorted({r["year"] for r in rows})):
        pts = sorted((r["month"], r["gmv"], r.get("complete", True)) for r in rows if r["year"] == y)
        ax.plot([m for m, _, _ in pts], [g / 1e4 for _, g, _ in pts], marker="o",
                label=labels["year"].format(y), color=PALETTE[i])
        part = [(m, g) for m, g, whole in pts if not whole]     # months only partly observed
        if part:
            ax.plot([m for m, _ in part], [g / 1e4 for _, g in part], "o", color=PALETTE[i],
                    markerfacecolor="white", markersize=9)
    ax.set_xticks(range(1, 13), labels["months"])
    ax.set_ylabel(labels["y"])
    ax.legend()
    return fig


def tiers(f: dict, labels: dict, name):
    rows = f["tiers"]["rows"]
    fig, ax = plt.subplots()
    ax.bar([name(r["city_tier"], "city_tier") for r in rows], [r["new_users"] for r in rows],
           color=PALETTE[1])
    for x, r in enumerate(rows):
        if r["yoy"] is not None:
            ax.annotate(f"{r['yoy'] * 100:+.1f}%", (x, r["new_users"]), ha="center", va="bottom",
                        fontsize=10)
    ax.set_ylabel(labels["y"])
    return fig


def mechanisms(f: dict, labels: dict, name):
    rows = f["mechanisms"]["rows"]
    names = [name(r["mechanism"], "mechanism") for r in rows]
    fig, ax = plt.subplots()
    ax.bar(names, [r["signups"] for r in rows], color=PALETTE[1])
    ax.set_ylabel(labels["y"])
    ax2 = ax.twinx()
    ax2.plot(names, [r["signup_rate"] * 100 for r in rows], color=PALETTE[0], marker="o")
    ax2.set_ylabel(labels["y2"])
    ax2.grid(False)
    return fig
