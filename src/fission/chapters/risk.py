"""Chapter 9 (风险管理与合规性): every number, table and decision the chapter publishes.

Referral fraud by the transparent rules of :mod:`fission.metrics.risk` (counts and amounts
only, never an identifier); rewards per level against the two-level cap; the 7-day no-reason
rule (chapter 7's population) and refund-ticket times; the report's own privacy rules; the
risk register's likelihood × impact matrix and what changed since the previous edition.
"""
from __future__ import annotations

from .. import coverage, keyfigures
from ..metrics import privacy
from ..metrics import risk as R

HIGH_SCORE = 15   # likelihood × impact at which a risk counts as high (the matrix's red corner)


def _fraud(con, year, compare_year) -> dict:
    cur = R.fraud(con, year)
    prev = R.fraud(con, compare_year)
    rules = cur["rules"]
    return {"rules": rules, "rings": cur["rings"], "flagged": cur["flagged"],
            "flagged_prev": prev["flagged"], "flagged_paid": cur["flagged_paid"],
            "candidates": cur["candidates"], "n_rings": int(len(cur["rings"])),
            "single_rule": int(cur["candidates"] - cur["flagged"]),
            "loss": cur["loss"], "loss_prev": prev["loss"],
            "ring_sizes": sorted(int(a) for a in cur["rings"].accounts) if len(cur["rings"]) else [],
            "params": {**R.RULE_PARAMS, **R.RING_PARAMS}}


def _rewards(con, year, min_group_size) -> tuple[dict, int]:
    by = R.rewards_by_level(con, year)
    if by is None:
        return {"available": False, "by_level": [], "monthly": [], "hidden": 0}, 0
    total = float(by.amount.sum())
    shown, hidden = privacy.suppress_small(by, "beneficiaries", min_group_size)
    cap = R.beyond_cap(con, year)
    monthly = R.rewards_monthly(con, year)
    return {"available": True, "by_level": shown, "hidden": hidden, "total": total,
            "payments": int(by.rewards.sum()), "max_level_allowed": R.MAX_LEVEL,
            "level1_share": float(by[by.level == 1].amount.sum() / total) if total else None,
            "beyond": cap, "violation": bool(cap["rewards"]), "monthly": monthly}, hidden


def _register(con) -> dict:
    reg = R.register(con)
    if reg is None:
        return {"available": False, "risks": [], "matrix": None, "high_score": HIGH_SCORE}
    live = reg[reg.status != "closed"]
    m = R.heat_matrix(reg)
    known = bool((reg.change != "unknown").all())
    mp = R.heat_matrix(reg, prev=True) if known else None
    counts = reg.change.value_counts()
    rows = reg[["risk_id", "area", "description", "owner", "mitigation", "likelihood", "impact",
                "score", "status", "likelihood_prev", "impact_prev", "score_prev", "status_prev",
                "change"]].sort_values(["score", "risk_id"], ascending=[False, True])
    return {"available": True, "risks": rows, "n": int(len(reg)), "open": int(len(live)),
            "high": int((live.score >= HIGH_SCORE).sum()), "high_score": HIGH_SCORE,
            "high_prev": int(((reg.score_prev >= HIGH_SCORE) & (reg.status_prev != "closed")).sum())
            if known else None,
            "by_status": {s: int((reg.status == s).sum()) for s in ("open", "mitigating", "closed")},
            "matrix": m.values.tolist(), "matrix_prev": mp.values.tolist() if mp is not None else None,
            "changes_known": known,
            "changes": {c: int(counts.get(c, 0)) for c in ("new", "up", "down", "closed", "reopened", "same")},
            "status_changed": int(reg.status_changed.sum()),
            "top": rows.iloc[0][["risk_id", "area", "score"]].to_dict() if len(rows) else None}


#: the tables and columns each section needs (fission.coverage): with partial data the sections
#: whose needs are met are built, the others replaced by a notice. The rewards, tickets and
#: risk_register tables are optional (the sections say what they cannot check without them).
NEEDS = {
    "fraud": {"users": ["user_id", "signup_ts", "device_hash", "referrer_user_id"],
              "orders": ["user_id", "status"]},
    "consumer": {"orders": ["order_id", "order_ts", "delivered_ts", "channel"],
                 "order_items": ["order_id", "item_id"], "items": ["item_id", "category"],
                 "returns": ["order_id", "no_reason_7d", "approved", "requested_ts"]},
    "privacy": {"users": ["device_hash"]},
}


def facts(con, year: int, compare_year: int, min_group_size: int = 50) -> dict:
    """Every number, table and decision of chapter 9 for ``year`` against ``compare_year``
    (of the sections the data can build: ``missing`` names the others)."""
    missing = coverage.gaps(con, NEEDS)
    f = {"year": int(year), "missing": missing}
    rw, hidden = _rewards(con, year, min_group_size)
    f["rewards"] = rw
    figs = []
    if "fraud" not in missing:
        fr = f["fraud"] = _fraud(con, year, compare_year)
        fr["loss_share"] = (fr["loss"]["amount"] / rw["total"] if rw["available"]
                            and fr["loss"]["basis"] == "rewards" and rw["total"] else None)
        figs += [keyfigures.figure("flagged_accounts", fr["flagged"], "count", fr["flagged_prev"]),
                 keyfigures.figure("fraud_loss", fr["loss"]["amount"], "yuan",
                                   fr["loss_prev"]["amount"])]
    if "consumer" not in missing:
        sd = f["seven_day"] = R.seven_day(con, year, compare_year)
        refund = R.refund_tickets(con, year)
        f["refund"] = refund if refund is not None else {"tickets": 0}
        f["refund_time_recorded"] = False
        figs.append(keyfigures.figure("seven_day_rule", sd["rate"], "rate", sd["rate_prev"],
                                      lo=sd["change"]["lo"], hi=sd["change"]["hi"],
                                      significant=sd["change"]["significant"]))
    if "privacy" not in missing:
        f["privacy"] = {"min_group_size": int(min_group_size), "suppressed": int(hidden),
                        **R.identifier_values(con)}
    f["register"] = _register(con)
    if rw["available"]:
        figs.append(keyfigures.figure("beyond_cap", rw["beyond"]["rewards"], "count"))
    if f["register"]["available"]:
        reg = f["register"]
        figs.append(keyfigures.figure("high_risks", reg["high"], "count", reg["high_prev"]))
    f["keyfigures"] = figs          # built in the published order
    return f
