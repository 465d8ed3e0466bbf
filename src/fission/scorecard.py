"""What the conclusions chapter and the executive brief draw from the other chapters' facts:
the KPI scorecard, the key messages and the evidence-based recommendations. Each works with
whichever chapters an edition has (a dict ``{chapter_id: facts}``, any subset, even empty).

* :func:`scorecard` — every key figure (``facts["keyfigures"]``, :mod:`fission.keyfigures`)
  with its chapter, this year, last year, the change (pp for rates, relative otherwise, as
  the key figure's interval is), the interval and whether it is significant.
* :func:`key_messages` — at most 5 figures that changed, chosen by a stated rule, never by
  noise: first the changes whose interval excludes zero, ordered by how many interval
  half-widths they lie from zero (|change| / ((hi − lo) / 2), a z-like clarity score); then
  changes flagged significant without a stored interval; then census totals (no sampling
  error, no interval) ordered by the size of their relative change. Figures whose change is
  not significant are never messages, nor are forecasts (key figures marked ``forecast``).
  At most ``per_chapter`` messages per chapter.
* :func:`recommendations` — a registry of per-chapter rules (:data:`RULES`); a rule reads its
  chapter's facts and yields a recommendation only when its evidence holds. Impact is in ONE
  unit, **yuan of GMV per year**: new buyers are converted with the measured 12-month GMV of
  a new buyer (``base["new_buyer_value"]``, :func:`fission.metrics.forecast.new_buyer_value`).
  A rule whose effect the data cannot put in yuan gives ``impact=None`` and says why; those
  are listed after the quantified ones.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

from .chapters import OUTLINE

# --------------------------------------------------------------------------- scorecard


def _num(x):
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def change(fig: dict) -> float | None:
    """A key figure's change on last year: a difference for rates (pp as a ratio), a relative
    change otherwise (0.05 = +5%), the units of its ``lo``/``hi``."""
    v, p = _num(fig.get("value")), _num(fig.get("previous"))
    if v is None or p is None:
        return None
    if fig["unit"] == "rate":
        return v - p
    return v / p - 1 if p else None


def scorecard(chapter_facts: dict[str, dict], names: Callable[[str, str], str] | dict | None = None
              ) -> list[dict]:
    """One row per key figure of every chapter in ``chapter_facts`` (book order): chapter, slug,
    id, name (from ``names(chapter, id)`` or a dict keyed ``(chapter, id)``; the id if none),
    unit, digits, value, previous, change, change_kind ("pp" or "relative"), lo, hi,
    significant (None: census or not compared), census (no interval and no flag) and forecast
    (a key figure marked ``"forecast": True``: next year against this year, not a change that
    happened)."""
    rows = []
    for ch in sorted(chapter_facts, key=lambda c: list(OUTLINE).index(c) if c in OUTLINE else 99):
        for fig in chapter_facts[ch].get("keyfigures") or []:
            if callable(names):
                name = names(ch, fig["id"])
            elif names:
                name = names.get((ch, fig["id"]), fig["id"])
            else:
                name = fig["id"]
            lo, hi = _num(fig.get("lo")), _num(fig.get("hi"))
            rows.append({"chapter": ch, "slug": OUTLINE.get(ch, ch), "id": fig["id"], "name": name,
                         "unit": fig["unit"], "digits": fig.get("digits", 1),
                         "value": _num(fig.get("value")), "previous": _num(fig.get("previous")),
                         "change": change(fig),
                         "change_kind": "pp" if fig["unit"] == "rate" else "relative",
                         "lo": lo, "hi": hi, "significant": fig.get("significant"),
                         "census": lo is None and hi is None and fig.get("significant") is None,
                         "forecast": bool(fig.get("forecast"))})
    return rows


def key_messages(rows: list[dict], n_max: int = 5, per_chapter: int = 2) -> list[dict]:
    """Up to ``n_max`` messages from :func:`scorecard` rows by the module's rule; each is the
    row's chapter, slug, id, name, direction ("up"/"down"), change, lo, hi, basis
    ("interval", "flag" or "census") and score (|change| / half-width, None without interval).
    Fewer are returned when fewer figures qualify: nothing is padded with noise."""
    cands = []
    for r in rows:
        c = r["change"]
        if c is None or c == 0 or r.get("forecast"):      # messages report what happened
            continue
        has_ci = r["lo"] is not None and r["hi"] is not None and r["hi"] > r["lo"]
        if r["significant"] is True and has_ci:
            if r["lo"] <= 0 <= r["hi"]:          # a flag that contradicts its interval: not used
                continue
            score = abs(c) / ((r["hi"] - r["lo"]) / 2)
            cands.append((0, -score, r, "interval", score))
        elif r["significant"] is True:
            cands.append((1, -abs(c), r, "flag", None))
        elif r["census"]:
            cands.append((2, -abs(c), r, "census", None))
    cands.sort(key=lambda t: (t[0], t[1]))
    out, per = [], {}
    for _, _, r, basis, score in cands:
        if per.get(r["chapter"], 0) >= per_chapter:
            continue
        per[r["chapter"]] = per.get(r["chapter"], 0) + 1
        out.append({"chapter": r["chapter"], "slug": r["slug"], "id": r["id"], "name": r["name"],
                    "direction": "up" if r["change"] > 0 else "down", "change": r["change"],
                    "change_kind": r["change_kind"], "lo": r["lo"], "hi": r["hi"],
                    "basis": basis, "score": score})
        if len(out) == n_max:
            break
    return out


# --------------------------------------------------------------------------- recommendations
@dataclass(frozen=True)
class Rule:
    """A recommendation a chapter's facts can support: ``evidence(facts, base)`` returns None
    when the evidence does not hold, else a dict with ``impact``/``lo``/``hi`` (yuan of GMV per
    year, or None with ``unquantified`` saying why) and the numbers it rests on
    (``evidence``)."""
    id: str
    chapter: str
    section: str
    evidence: Callable[[dict, dict], dict | None]


def _get(d, *path):
    for k in path:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def _budget(f, base):
    """Ch. 4: move budget along the fitted response curves, when the gain's interval excludes 0.
    The gain is new buyers per month: × 12 months × a new buyer's 12-month GMV."""
    b = f.get("budget") or {}
    if not b.get("significant") or b.get("gain_lo") is None or b["gain_lo"] <= 0:
        return None
    v = base["new_buyer_value"] * 12
    return {"impact": b["gain"] * v, "lo": b["gain_lo"] * v, "hi": b["gain_hi"] * v,
            "evidence": {"buyers_per_month": b["gain"], "buyers_lo": b["gain_lo"],
                         "buyers_hi": b["gain_hi"], "gain_rel": b.get("gain_rel"),
                         "up": b.get("up", []), "down": b.get("down", []), "bound": b.get("bound")}}


def _reorder(f, base):
    """Ch. 8: the recommended reorder policy, when its replay fills more demand than today's.
    Unfilled demand is taken as lost sales: GMV × (fill_new − fill_now) / fill_now; the
    interval widens the fill gain by the replay's error in reproducing today's stock-out rate
    (``replay_error``) on either side: a rough scale of its error, not a sampling interval."""
    inv = f.get("inventory") or {}
    fc, fr, err = inv.get("fill_current"), inv.get("fill_recommended"), inv.get("replay_error")
    if fc is None or fr is None or fr <= fc:
        return None
    gain = (fr - fc) / fc
    e = abs(err or 0.0) / fc
    return {"impact": base["gmv"] * gain, "lo": base["gmv"] * max(gain - e, 0.0),
            "hi": base["gmv"] * (gain + e), "interval": "range",
            "evidence": {"fill_current": fc, "fill_recommended": fr, "replay_error": err,
                         "stockout_current": _get(inv, "all", "cur_stockout"),
                         "stockout_recommended": _get(inv, "all", "rec_stockout"),
                         "stock_change": inv.get("stock_change")}}


def _suppliers(f, base):
    """Ch. 8: act on suppliers flagged late and defective (empirical-Bayes intervals)."""
    s = f.get("suppliers") or {}
    if not s.get("both_flagged"):
        return None
    return {"impact": None, "lo": None, "hi": None, "unquantified": "no_sales_link",
            "evidence": {"both_flagged": s["both_flagged"], "suppliers": s.get("n"),
                         "late_rate": s.get("late_rate")}}


def _staffing(f, base):
    """Ch. 7: round-the-clock peak-day staffing, when peak days answer significantly fewer
    tickets within the hour than normal days."""
    t, st = f.get("tickets") or {}, f.get("staffing") or {}
    slow = [p for p in t.get("peaks", []) if p.get("significant") and (p.get("diff") or 0) < 0]
    if not slow or not st.get("events"):
        return None
    ev = st["events"][-1]
    return {"impact": None, "lo": None, "hi": None, "unquantified": "no_sales_link",
            "evidence": {"peaks_slower": len(slow), "max_agents": ev.get("max_agents"),
                         "agent_hours": ev.get("agent_hours"), "ratio": ev.get("ratio"),
                         "mae": st.get("mae")}}


def _membership(f, base):
    """Ch. 6: members order more after the landmark and churn less (Cox); the comparison is
    self-selected, so the rule asks for an experiment and does not claim an effect in yuan."""
    o = _get(f, "membership", "orders") or {}
    cox = _get(f, "cox", "member") or {}
    if o.get("abs_lo") is None or o["abs_lo"] <= 0 or not cox.get("significant") \
            or (cox.get("hazard_ratio") or 1) >= 1:
        return None
    return {"impact": None, "lo": None, "hi": None, "unquantified": "self_selected",
            "evidence": {"ratio": o.get("ratio"), "ratio_lo": o.get("ratio_lo"),
                         "ratio_hi": o.get("ratio_hi"), "hazard_ratio": cox.get("hazard_ratio"),
                         "hr_lo": cox.get("hr_lower"), "hr_hi": cox.get("hr_upper")}}


def _campaigns(f, base):
    """Ch. 3: keep the campaign types whose sign-up uplift interval is above zero."""
    rows = [r for r in (_get(f, "uplift", "rows") or [])
            if r.get("signups_lo") is not None and r["signups_lo"] > 0]
    if not rows:
        return None
    return {"impact": None, "lo": None, "hi": None, "unquantified": "relative_uplift",
            "evidence": {"types": [r["type"] for r in rows],
                         "lifts": [r["signups"] for r in rows],
                         "placebo_rate": _get(f, "uplift", "placebo", "rate")}}


def _rec_algorithm(f, base):
    """Ch. 5: make the online A/B's CTR leader the default, when it is significantly ahead and
    is not the control. Orders per user are not put in yuan: the test did not show them
    differing (``orders_differ``), so only clicks are evidenced."""
    on = f.get("online") or {}
    lead = on.get("lead") or {}
    if not lead.get("significant") or lead.get("top") in (None, on.get("control")):
        return None
    ctrl = next((r for r in on.get("rows", []) if r.get("algo") == on.get("control")), {})
    return {"impact": None, "lo": None, "hi": None,
            "unquantified": "clicks_only" if not on.get("orders_differ") else "not_converted",
            "evidence": {"top": lead["top"], "ctr": lead.get("top_value"), "second": lead.get("second"),
                         "control": on.get("control"), "control_ctr": ctrl.get("ctr"),
                         "orders_differ": bool(on.get("orders_differ"))}}


RULES: list[Rule] = [
    Rule("budget_reallocation", "04_social_platforms", "budget", _budget),
    Rule("reorder_policy", "08_supply_chain", "inventory", _reorder),
    Rule("supplier_action", "08_supply_chain", "suppliers", _suppliers),
    Rule("peak_staffing", "07_customer_service", "staffing", _staffing),
    Rule("membership_test", "06_retention", "membership", _membership),
    Rule("campaign_types", "03_growth_strategy", "uplift", _campaigns),
    Rule("rec_algorithm", "05_recommendation", "online", _rec_algorithm),
]


def recommendations(chapter_facts: dict[str, dict], base: dict, rules: list[Rule] | None = None
                    ) -> list[dict]:
    """The recommendations whose evidence holds, ranked: quantified ones by impact (yuan of GMV
    per year, highest first), then the unquantified ones in registry order. Each: rank, id,
    chapter, slug, section (``@sec-<slug>-<section>``), impact, lo, hi, unquantified, evidence,
    and ``separated`` (its interval lies above the next quantified one's: the rank is not
    noise). Rules of chapters absent from ``chapter_facts``, or whose section the chapter's
    data could not build (``facts["missing"]``), are skipped. ``base`` needs
    ``new_buyer_value`` (yuan per new buyer per year) and ``gmv`` (this year's GMV)."""
    out = []
    for rule in rules if rules is not None else RULES:
        f = chapter_facts.get(rule.chapter)
        # a chapter built on partial data may lack the rule's section: no evidence, no link
        if f is None or rule.section in (f.get("missing") or {}):
            continue
        ev = rule.evidence(f, base)
        if ev is None:
            continue
        out.append({"id": rule.id, "chapter": rule.chapter, "slug": OUTLINE[rule.chapter],
                    "section": rule.section, "impact": ev.get("impact"), "lo": ev.get("lo"),
                    "hi": ev.get("hi"), "unquantified": ev.get("unquantified"),
                    # "ci95": a 95% confidence interval; "range": a rough error range (say so)
                    "interval": ev.get("interval", "ci95"),
                    "evidence": ev["evidence"]})
    q = sorted([r for r in out if r["impact"] is not None], key=lambda r: -r["impact"])
    u = [r for r in out if r["impact"] is None]
    for a, b in zip(q, q[1:] + [None]):
        a["separated"] = (b is not None and a["lo"] is not None and b["hi"] is not None
                          and a["lo"] > b["hi"])
    for r in u:
        r["separated"] = False
    ranked = q + u
    for i, r in enumerate(ranked, 1):
        r["rank"] = i
    return ranked
