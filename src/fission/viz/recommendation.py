"""Chapter 5's figures, drawn from its facts. Every text comes from the words' figure labels
(``labels``; the algorithms' display names are labels too)."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from .theme import PALETTE

ALGOS = ("popularity", "itemknn", "als", "social")
COLOR = {a: PALETTE[i] for i, a in enumerate(ALGOS)}


def _err(rows, v, scale=1.0):
    vals = np.array([(r[v] if r[v] is not None else np.nan) * scale for r in rows])
    lo = np.array([(r[f"{v}_lo"] if r[f"{v}_lo"] is not None else np.nan) * scale for r in rows])
    hi = np.array([(r[f"{v}_hi"] if r[f"{v}_hi"] is not None else np.nan) * scale for r in rows])
    return vals, np.vstack([np.clip(vals - lo, 0, None), np.clip(hi - vals, 0, None)])


def _bars(ax, rows, key, labels, scale=1.0, title=None):
    v, e = _err(rows, key, scale)
    x = np.arange(len(rows))
    ax.bar(x, v, yerr=e, color=[COLOR.get(r["algo"], PALETTE[5]) for r in rows], capsize=3)
    ax.set_xticks(x, [labels[r["algo"]] for r in rows], rotation=25, fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)


def offline_accuracy(f: dict, labels: dict):
    rows = f["offline"]["rows"]
    fig, axes = plt.subplots(1, 4, figsize=(10, 3.6))
    for ax, m in zip(axes, ("precision", "recall", "ndcg", "map")):
        _bars(ax, rows, m, labels, title=labels[m])
    fig.tight_layout()
    return fig


def beyond_accuracy(f: dict, labels: dict):
    rows = f["offline"]["rows"]
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.6))
    _bars(axes[0], rows, "coverage", labels, 100, labels["coverage"])
    _bars(axes[1], rows, "novelty", labels, 1, labels["novelty"])
    _bars(axes[2], rows, "gini", labels, 1, labels["gini"])
    axes[2].set_ylim(0, 1)
    fig.tight_layout()
    return fig


def segments(f: dict, labels: dict):
    seg = f["offline"]["segments"]
    fig, ax = plt.subplots(figsize=(8, 3.8))
    x = np.arange(len(seg))
    for i, (s, col) in enumerate((("new", PALETTE[2]), ("returning", PALETTE[1]))):
        v, e = _err(seg, s)
        ax.bar(x + (i - 0.5) * 0.38, v, width=0.38, yerr=e, color=col, capsize=3, label=labels[s])
    ax.set_xticks(x, [labels[r["algo"]] for r in seg])
    ax.set_ylabel(labels["y"])
    ax.legend(fontsize=9)
    fig.tight_layout()
    return fig


def online(f: dict, labels: dict):
    rows = f["online"]["rows"]
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.6))
    _bars(axes[0], rows, "ctr", labels, 100, labels["ctr"])
    _bars(axes[1], rows, "conversion", labels, 100, labels["conversion"])
    v = np.array([r["orders_per_user"] for r in rows])
    e = np.array([1.96 * r["orders_per_user_se"] for r in rows])
    x = np.arange(len(rows))
    axes[2].bar(x, v, yerr=e, color=[COLOR.get(r["algo"], PALETTE[5]) for r in rows], capsize=3)
    axes[2].set_xticks(x, [labels[r["algo"]] for r in rows], rotation=25, fontsize=8)
    axes[2].set_title(labels["orders"], fontsize=10)
    fig.tight_layout()
    return fig


def agreement(f: dict, labels: dict):
    off = {r["algo"]: r for r in f["offline"]["rows"]}
    on = {r["algo"]: r for r in f["online"]["rows"]}
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for a in [a for a in off if a in on]:
        o, n = off[a], on[a]
        ax.errorbar([o["ndcg"]], [n["ctr"] * 100],
                    xerr=[[o["ndcg"] - o["ndcg_lo"]], [o["ndcg_hi"] - o["ndcg"]]],
                    yerr=[[(n["ctr"] - n["ctr_lo"]) * 100], [(n["ctr_hi"] - n["ctr"]) * 100]],
                    fmt="o", ms=7, color=COLOR.get(a, PALETTE[5]), capsize=3)
        ax.annotate(labels[a], (o["ndcg"], n["ctr"] * 100), textcoords="offset points",
                    xytext=(8, 4), fontsize=9)
    ax.set_xlabel(labels["x"])
    ax.set_ylabel(labels["y"])
    fig.tight_layout()
    return fig
