"""Chapter 10's figures, drawn from its facts. Every text comes from the words' figure labels
(``labels``); a figure with nothing to show (an edition without the chapters it draws on)
says so with ``labels["none"]``."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .theme import PALETTE


def _empty(labels: dict, size=(8, 2.2)):
    fig, ax = plt.subplots(figsize=size)
    ax.axis("off")
    ax.text(0.5, 0.5, labels["none"], ha="center", va="center", fontsize=11, color=PALETTE[5])
    return fig


def scorecard(f: dict, labels: dict):
    """The year-on-year change of every key figure that carries an interval (pp for rates,
    % otherwise), significant ones filled; names on the left."""
    rows = [r for r in f["scorecard"]["rows"] if r["lo"] is not None and r["change"] is not None]
    if not rows:
        return _empty(labels)
    fig, axes = plt.subplots(1, 2, figsize=(10, 0.45 * len(rows) + 1.4), sharey=True)
    y = np.arange(len(rows))[::-1]
    for ax, kind, title in ((axes[0], "pp", labels["pp"]), (axes[1], "relative", labels["relative"])):
        for yi, r in zip(y, rows):
            if r["change_kind"] != kind:
                continue
            c = PALETTE[0] if r["significant"] else PALETTE[5]
            ax.plot([r["lo"] * 100, r["hi"] * 100], [yi, yi], color=c, lw=2)
            ax.plot(r["change"] * 100, yi, "o", color=c, mfc=c if r["significant"] else "white")
        ax.axvline(0, color="black", lw=0.8)
        ax.set_title(title, fontsize=10)
    axes[0].set_yticks(y, [r["name"] for r in rows], fontsize=8)
    fig.tight_layout()
    return fig


def series(d: dict, labels: dict, scale: float = 1.0):
    """History, the back-test (forecast of the held-out months with its band) and next year's
    forecast with its 95% band."""
    h = pd.DataFrame(d["history"])
    bt = pd.DataFrame(d["backtest"]["rows"])
    fu = pd.DataFrame(d["future"])
    for x in (h, bt, fu):
        x["month"] = pd.to_datetime(x["month"])
    fig, ax = plt.subplots(figsize=(10, 4))
    ax.plot(h.month, h.value / scale, color=PALETTE[1], marker="o", ms=3, label=labels["actual"])
    ax.fill_between(bt.month, bt.lo / scale, bt.hi / scale, color=PALETTE[2], alpha=0.2)
    ax.plot(bt.month, bt.forecast / scale, color=PALETTE[2], ls="--", marker="s", ms=3,
            label=labels["backtest"])
    ax.plot(bt.month, bt.naive / scale, color=PALETTE[5], ls=":", label=labels["naive"])
    ax.fill_between(fu.month, fu.lo / scale, fu.hi / scale, color=PALETTE[0], alpha=0.15)
    ax.plot(fu.month, fu.forecast / scale, color=PALETTE[0], marker="o", ms=3, label=labels["forecast"])
    ax.set_ylabel(labels["y"])
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=9, loc="upper left")
    fig.tight_layout()
    return fig


def viral(f: dict, labels: dict):
    """Referral users over the cascade at each viral coefficient of the scenarios."""
    s = pd.DataFrame(f["viral"]["scenarios"])
    fig, ax = plt.subplots(figsize=(8, 3.6))
    colors = [PALETTE[0] if c else PALETTE[1] for c in s.current]
    ax.bar([f"{k:.3f}" if c else f"{k:.2f}" for k, c in zip(s.k, s.current)], s.referral_users,
           color=colors)
    for i, v in enumerate(s.referral_users):
        ax.annotate(f"{v:,.0f}", (i, v), ha="center", va="bottom", fontsize=9)
    ax.set_xlabel(labels["x"])
    ax.set_ylabel(labels["y"])
    fig.tight_layout()
    return fig


def impacts(f: dict, labels: dict, text: dict):
    """Estimated impact (yuan of GMV per year, 95% interval) of the quantified recommendations;
    ``text``: recommendation id → its short name (words)."""
    rows = [r for r in f["recommendations"]["rows"] if r["impact"] is not None]
    if not rows:
        return _empty(labels)
    fig, ax = plt.subplots(figsize=(8, 0.6 * len(rows) + 1.4))
    y = np.arange(len(rows))[::-1]
    for yi, r in zip(y, rows):
        ax.barh(yi, r["impact"] / 1e4, color=PALETTE[1], alpha=0.8)
        if r["lo"] is not None:
            ax.plot([r["lo"] / 1e4, r["hi"] / 1e4], [yi, yi], color="black", lw=1.5)
    ax.set_yticks(y, [text.get(r["id"], r["id"]) for r in rows])
    ax.set_xlabel(labels["x"])
    ax.axvline(0, color="black", lw=0.8)
    fig.tight_layout()
    return fig
