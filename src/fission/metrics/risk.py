"""Chapter 9 (风险管理与合规性): referral-fraud rings, multi-level rewards, consumer-protection
and privacy checks, and the risk register.

**Referral fraud.** Reward-abuse rings (羊毛党) register batches of accounts on a few phones,
invite them all within minutes and collect the invitation rewards; the accounts never buy.
Four simple rules, each a signal on its own (:data:`RULES`), are computed in DuckDB over the
accounts that signed up in the year; only the few accounts they touch go into a small
networkx graph (accounts linked by a shared device and by the referral links a rule
flagged). A connected component of at least ``min_ring`` accounts is a suspected ring when
its accounts together hit at least ``min_rules`` different rules: one signal alone also
fits honest users (a family phone, a popular sharer), two independent ones rarely do.

**Multi-level rewards.** 《禁止传销条例》 treats commission on three or more levels of recruits
as pyramid selling; platforms cap referral rewards at two levels. :func:`rewards_by_level`
sums the ``rewards`` table per level and flags every payment beyond ``MAX_LEVEL``.

Identifiers stay inside this module: the functions that return accounts are for the tests and
the loss; the chapter publishes counts and amounts only.
"""
from __future__ import annotations

import math

import networkx as nx
import pandas as pd

from ._sql import data_end, has_table, query, require
from .overview import diff_proportions, proportion_ci

#: the rules, in the order the chapter lists them (the words explain each)
RULES = ("shared_device", "invite_burst", "reward_no_order", "loop")
#: platforms' cap on referral reward levels (《禁止传销条例》: three levels or more is pyramid selling)
MAX_LEVEL = 2
#: the rules' thresholds (the defaults of :func:`signals`) and the ring decision's (:func:`rings`)
RULE_PARAMS = {"device_min": 3, "burst_n": 5, "burst_minutes": 60, "unpaid_min": 5, "unpaid_share": 0.8}
RING_PARAMS = {"min_ring": 3, "min_rules": 2}


def _year(year: int) -> tuple[str, str]:
    return f"{int(year)}-01-01", f"{int(year) + 1}-01-01"


def _paid_sql() -> str:
    """Users with at least one paid (not cancelled) order."""
    return "SELECT DISTINCT user_id FROM orders WHERE status <> 'cancelled'"


def signals(con, year: int, device_min: int = 3, burst_n: int = 5, burst_minutes: int = 60,
            unpaid_min: int = 5, unpaid_share: float = 0.8) -> dict:
    """Accounts the four rules touch among users who signed up in ``year`` (internal ids).

    * ``shared_device`` — the account's device carries ``device_min`` or more accounts (a phone
      shared in a family carries two).
    * ``invite_burst`` — a referrer ``burst_n`` or more of whose invitees signed up within
      ``burst_minutes`` of one another; the referrer and those invitees are flagged.
    * ``reward_no_order`` — a referrer with ``unpaid_min`` or more invitees without a paid order,
      who are at least ``unpaid_share`` of its invitees: it earned invitation rewards (a sign-up
      reward where the ``rewards`` table exists) for accounts that never bought; the referrer and
      those invitees are flagged.
    * ``loop`` — the account lies on a closed loop of links among the flagged accounts: a
      referrer inviting an account on its own device, or a referral cycle (networkx).

    Returns ``{"accounts": DataFrame(user_id, device_hash, referrer_user_id, paid, <rule>…),
    "links": DataFrame(a, b) referral links the rules flagged}``."""
    require(con, "users", "orders", needed_for="the referral-fraud rules (chapter 9)")
    a, b = _year(year)
    end = data_end(con)
    cohort = f"signup_ts >= '{a}' AND signup_ts < '{b}' AND signup_ts <= TIMESTAMP '{end}'"
    dev = query(con, f"""
        WITH d AS (SELECT device_hash FROM users WHERE {cohort} GROUP BY 1
                   HAVING count(*) >= {int(device_min)})
        SELECT u.user_id FROM users u JOIN d USING (device_hash) WHERE {cohort}""")
    burst = query(con, f"""
        WITH r AS (SELECT referrer_user_id AS ref, user_id, signup_ts FROM users
                   WHERE referrer_user_id IS NOT NULL AND {cohort}),
        w AS (SELECT ref, user_id, signup_ts,
                     count(*) OVER (PARTITION BY ref ORDER BY signup_ts RANGE BETWEEN CURRENT ROW
                                    AND INTERVAL {int(burst_minutes)} MINUTE FOLLOWING) AS n
              FROM r),
        s AS (SELECT ref, signup_ts AS t0 FROM w WHERE n >= {int(burst_n)})
        SELECT DISTINCT r.ref, r.user_id FROM r JOIN s ON r.ref = s.ref
          AND r.signup_ts >= s.t0 AND r.signup_ts <= s.t0 + INTERVAL {int(burst_minutes)} MINUTE""")
    rewarded = ""
    if has_table(con, "rewards"):
        rewarded = (" AND u.user_id IN (SELECT source_user_id FROM rewards "
                    "WHERE kind = 'invite_signup' AND level = 1)")
    unpaid = query(con, f"""
        WITH p AS ({_paid_sql()}),
        inv AS (SELECT u.referrer_user_id AS ref, u.user_id, p.user_id IS NOT NULL AS paid
                FROM users u LEFT JOIN p USING (user_id)
                WHERE u.referrer_user_id IS NOT NULL AND {cohort.replace('signup_ts', 'u.signup_ts')}),
        bad AS (SELECT ref FROM inv GROUP BY ref
                HAVING count(*) FILTER (WHERE NOT paid) >= {int(unpaid_min)}
                   AND avg(CASE WHEN paid THEN 0 ELSE 1 END) >= {float(unpaid_share)})
        SELECT inv.ref, inv.user_id FROM inv JOIN bad USING (ref)
        JOIN users u ON u.user_id = inv.user_id
        WHERE NOT inv.paid{rewarded}""")
    ids = set(dev.user_id) | set(burst.ref) | set(burst.user_id) | set(unpaid.ref) | set(unpaid.user_id)
    accounts = _accounts(con, ids)
    accounts["shared_device"] = accounts.user_id.isin(set(dev.user_id))
    accounts["invite_burst"] = accounts.user_id.isin(set(burst.ref) | set(burst.user_id))
    accounts["reward_no_order"] = accounts.user_id.isin(set(unpaid.ref) | set(unpaid.user_id))
    links = pd.concat([burst.rename(columns={"ref": "a", "user_id": "b"}),
                       unpaid.rename(columns={"ref": "a", "user_id": "b"})]).drop_duplicates()
    accounts["loop"] = accounts.user_id.isin(_loops(accounts, links))
    return {"accounts": accounts.sort_values("user_id").reset_index(drop=True),
            "links": links.sort_values(["a", "b"]).reset_index(drop=True)}


def _accounts(con, ids: set) -> pd.DataFrame:
    cols = ["user_id", "device_hash", "referrer_user_id", "paid"]
    if not ids:
        return pd.DataFrame(columns=cols)
    con.register("_risk_ids", pd.DataFrame({"user_id": sorted(ids)}))
    try:
        return query(con, f"""
            SELECT u.user_id, u.device_hash, u.referrer_user_id,
                   u.user_id IN ({_paid_sql()}) AS paid
            FROM users u JOIN _risk_ids USING (user_id)""")
    finally:
        con.unregister("_risk_ids")


def _graph(accounts: pd.DataFrame, links: pd.DataFrame) -> nx.Graph:
    """Accounts, their devices (nodes ``("d", hash)``) and the flagged referral links."""
    g = nx.Graph()
    g.add_nodes_from(accounts.user_id)
    shared = accounts[accounts.shared_device] if "shared_device" in accounts else accounts
    g.add_edges_from((u, ("d", d)) for u, d in zip(shared.user_id, shared.device_hash))
    g.add_edges_from(zip(links.a, links.b))
    return g


def _loops(accounts: pd.DataFrame, links: pd.DataFrame) -> set:
    """Accounts on a closed loop: an undirected cycle of the account-device-referral graph
    (a referrer inviting an account on a device it shares) or a directed referral cycle."""
    g = nx.Graph()
    g.add_edges_from(zip(links.a, links.b))
    dev = accounts.device_hash
    g.add_edges_from((u, ("d", d)) for u, d in zip(accounts.user_id, dev) if (dev == d).sum() > 1)
    on = {n for c in nx.cycle_basis(g) for n in c if not isinstance(n, tuple)}
    dg = nx.DiGraph(list(zip(links.a, links.b)))
    on |= {n for c in nx.simple_cycles(dg) for n in c}
    return on


def rings(sig: dict, min_ring: int = 3, min_rules: int = 2) -> pd.DataFrame:
    """Connected components of the flagged accounts (linked by shared devices and flagged
    referral links): one row per component with its ``accounts``, the ``rules`` it hits, how
    many of its accounts have a paid order, and ``suspected`` (≥ ``min_ring`` accounts and
    ≥ ``min_rules`` different rules). ``members`` (internal ids) is for the loss and the tests."""
    acc = sig["accounts"]
    if acc.empty:
        return pd.DataFrame(columns=["component", "accounts", "paid", "rules", "n_rules",
                                     "suspected", "members", *RULES])
    g = _graph(acc, sig["links"])
    flags = acc.set_index("user_id")
    rows = []
    for comp in nx.connected_components(g):
        users = sorted(n for n in comp if not isinstance(n, tuple))
        f = flags.loc[users]
        hit = {r: bool(f[r].any()) for r in RULES}
        n_rules = sum(hit.values())
        rows.append({"accounts": len(users), "paid": int(f.paid.sum()), "n_rules": n_rules,
                     "rules": [r for r in RULES if hit[r]], **hit,
                     "suspected": len(users) >= min_ring and n_rules >= min_rules,
                     "members": users})
    df = pd.DataFrame(rows).sort_values(["suspected", "accounts", "n_rules"], ascending=False)
    df = df.reset_index(drop=True)
    df.insert(0, "component", range(1, len(df) + 1))
    return df


def flagged_accounts(comps: pd.DataFrame) -> set:
    """Internal ids of the accounts in suspected rings (never published)."""
    sus = comps[comps.suspected] if len(comps) else comps
    return {u for m in sus.get("members", []) for u in m}


def rule_table(sig: dict, comps: pd.DataFrame) -> pd.DataFrame:
    """Per rule: accounts it flags, and how many of them are in a suspected ring."""
    acc = sig["accounts"]
    flagged = flagged_accounts(comps)
    rows = []
    for r in RULES:
        hit = acc[acc[r]] if len(acc) else acc
        rows.append({"rule": r, "accounts": int(len(hit)),
                     "in_rings": int(hit.user_id.isin(flagged).sum()) if len(hit) else 0})
    return pd.DataFrame(rows)


def precision_recall(flagged: set, truth: set) -> dict:
    """Precision and recall of flagged accounts against the true ring members."""
    tp = len(flagged & truth)
    return {"flagged": len(flagged), "true": len(truth), "hits": tp,
            "precision": tp / len(flagged) if flagged else math.nan,
            "recall": tp / len(truth) if truth else math.nan}


def fraud_loss(con, year: int, flagged: set) -> dict:
    """What the suspected rings cost in ``year``. With a ``rewards`` table: the rewards paid
    to flagged accounts (``basis`` "rewards"). Without one: the flagged accounts that signed
    up through an invitation times the invitation-coupon cost per acquired user of
    :func:`fission.metrics.incentives.incentive_cost` (``basis`` "coupon_cost")."""
    a, b = _year(year)
    ids = pd.DataFrame({"user_id": sorted(flagged) or [-1]})
    con.register("_risk_flagged", ids)
    try:
        if has_table(con, "rewards"):
            r = query(con, f"""
                SELECT count(*) AS n, coalesce(sum(amount), 0) AS amount FROM rewards
                WHERE beneficiary_user_id IN (SELECT user_id FROM _risk_flagged)
                  AND reward_ts >= '{a}' AND reward_ts < '{b}'""").iloc[0]
            return {"basis": "rewards", "amount": float(r.amount), "rewards": int(r.n)}
        invited = int(query(con, """SELECT count(*) AS n FROM users WHERE referrer_user_id IS NOT NULL
                                    AND user_id IN (SELECT user_id FROM _risk_flagged)""").n.iloc[0])
    finally:
        con.unregister("_risk_flagged")
    if not invited:
        return {"basis": "coupon_cost", "amount": 0.0, "rewards": 0, "cost_per_user": None}
    from .incentives import incentive_cost
    try:
        cost = incentive_cost(con, year).set_index("mechanism").loc["invite_coupon", "cost_per_user"]
    except (KeyError, LookupError, ValueError):
        cost = math.nan
    return {"basis": "coupon_cost", "amount": float(invited * cost), "rewards": invited,
            "cost_per_user": float(cost)}


def fraud(con, year: int, **rules) -> dict:
    """Everything the chapter needs about referral fraud in ``year``: the rules' table, the
    suspected rings (sizes and rules, no identifiers), flagged accounts, the estimated loss."""
    sig = signals(con, year, **{k: v for k, v in rules.items() if k in RULE_PARAMS})
    comps = rings(sig, **{k: v for k, v in rules.items() if k in RING_PARAMS})
    flagged = flagged_accounts(comps)
    sus = comps[comps.suspected] if len(comps) else comps
    return {"rules": rule_table(sig, comps),
            "rings": sus[["component", "accounts", "paid", "n_rules", *RULES]].reset_index(drop=True)
            if len(sus) else pd.DataFrame(columns=["component", "accounts", "paid", "n_rules", *RULES]),
            "components": int(len(comps)), "candidates": int(len(sig["accounts"])),
            "flagged": len(flagged),
            "flagged_paid": int(sus.paid.sum()) if len(sus) else 0,
            "loss": fraud_loss(con, year, flagged), "_flagged": flagged}


# ------------------------------------------------------------------ multi-level rewards
def rewards_by_level(con, year: int) -> pd.DataFrame | None:
    """Rewards paid in ``year`` per level and kind: payments, beneficiaries, amount, and
    ``beyond_cap`` (level > :data:`MAX_LEVEL`). None when the data have no ``rewards`` table."""
    if not has_table(con, "rewards"):
        return None
    a, b = _year(year)
    df = query(con, f"""
        SELECT level, kind, count(*) AS rewards, count(DISTINCT beneficiary_user_id) AS beneficiaries,
               sum(amount) AS amount
        FROM rewards WHERE reward_ts >= '{a}' AND reward_ts < '{b}'
        GROUP BY ALL ORDER BY level, kind""")
    df["beyond_cap"] = df.level > MAX_LEVEL
    return df


def rewards_monthly(con, year: int) -> pd.DataFrame | None:
    """Amount of rewards paid per month of ``year`` and level (levels beyond the cap pooled
    as ``MAX_LEVEL + 1``)."""
    if not has_table(con, "rewards"):
        return None
    a, b = _year(year)
    return query(con, f"""
        SELECT month(reward_ts) AS month, least(level, {MAX_LEVEL + 1}) AS level,
               count(*) AS rewards, sum(amount) AS amount
        FROM rewards WHERE reward_ts >= '{a}' AND reward_ts < '{b}'
        GROUP BY ALL ORDER BY month, level""")


def beyond_cap(con, year: int) -> dict | None:
    """Payments beyond level :data:`MAX_LEVEL` in ``year``: count, amount, the levels, and the
    first and last day they were paid (to find the campaign rule that paid them)."""
    if not has_table(con, "rewards"):
        return None
    a, b = _year(year)
    r = query(con, f"""
        SELECT count(*) AS rewards, coalesce(sum(amount), 0) AS amount, max(level) AS max_level,
               min(reward_ts)::DATE AS first_day, max(reward_ts)::DATE AS last_day
        FROM rewards WHERE level > {MAX_LEVEL} AND reward_ts >= '{a}' AND reward_ts < '{b}'""").iloc[0]
    n = int(r.rewards)
    return {"rewards": n, "amount": float(r.amount), "max_level": int(r.max_level) if n else None,
            "first_day": str(r.first_day.date()) if n else None,
            "last_day": str(r.last_day.date()) if n else None}


# ------------------------------------------------------------------ consumer protection & privacy
def refund_tickets(con, year: int) -> dict | None:
    """Refund-ticket resolution times (hours) as the measurable proxy of refund times: the
    data record when a refund ticket was resolved, not when the money arrived. Tickets created
    at least 14 days before the data end. None without a ``tickets`` table."""
    if not has_table(con, "tickets"):
        return None
    a, b = _year(year)
    end = data_end(con)
    d = query(con, f"""
        SELECT (date_diff('microsecond', created_ts, resolved_ts) / 1e6) / 3600.0 AS hours FROM tickets
        WHERE category = 'refund' AND created_ts >= '{a}' AND created_ts < '{b}'
          AND created_ts <= TIMESTAMP '{end}' - INTERVAL 14 DAY""")
    h = d.hours
    n, done = len(h), int(h.notna().sum())
    within = int((h <= 72).sum())
    lo, hi = proportion_ci(within, n)
    return {"tickets": n, "resolved": done, "median_h": float(h.median()) if done else math.nan,
            "p90_h": float(h.quantile(0.9)) if done else math.nan,
            "within_72h": within / n if n else math.nan, "within_72h_lo": lo, "within_72h_hi": hi,
            "hist": pd.DataFrame({"hours": (h.dropna().clip(upper=240) // 6 * 6)}).groupby("hours")
            .size().rename("tickets").reset_index()}  # 6-hour bins, the last one 240 h and more


def identifier_values(con) -> dict:
    """How many identifier values the publisher's scan (fission.publish.scan) looks for in the
    published pages: the distinct device hashes of the users table."""
    n = int(query(con, "SELECT count(DISTINCT device_hash) AS n FROM users").n.iloc[0])
    return {"scanned_devices": n}


# ------------------------------------------------------------------ risk register
def register(con) -> pd.DataFrame | None:
    """The risk register with ``score`` = likelihood × impact, the previous edition's score
    where the optional ``*_prev`` columns hold it, and ``change``: new, up, down, closed,
    reopened, same; ``unknown`` when the register records no previous edition at all."""
    if not has_table(con, "risk_register"):
        return None
    cols = {r[0] for r in con.execute("DESCRIBE SELECT * FROM risk_register").fetchall()}
    prev = [c if c in cols else f"NULL AS {c}" for c in ("likelihood_prev", "impact_prev", "status_prev")]
    df = query(con, f"""SELECT risk_id, area, description, likelihood, impact, owner, mitigation,
                               status, {', '.join(prev)} FROM risk_register ORDER BY risk_id""")
    df["score"] = df.likelihood * df.impact
    df["score_prev"] = df.likelihood_prev * df.impact_prev
    known = df[["likelihood_prev", "impact_prev", "status_prev"]].notna().any().any()

    def change(r) -> str:
        if not known:
            return "unknown"
        if pd.isna(r.score_prev):
            return "new"
        if r.status == "closed" and r.status_prev != "closed":
            return "closed"
        if r.status != "closed" and r.status_prev == "closed":
            return "reopened"
        if r.score > r.score_prev:
            return "up"
        if r.score < r.score_prev:
            return "down"
        return "same"
    df["change"] = df.apply(change, axis=1)
    df["status_changed"] = df.status_prev.notna() & (df.status != df.status_prev)
    return df


def heat_matrix(df: pd.DataFrame, prev: bool = False) -> pd.DataFrame:
    """Risks (not closed) per likelihood × impact cell, 1–5 each: rows likelihood, columns impact."""
    lk, im, st = ("likelihood_prev", "impact_prev", "status_prev") if prev else ("likelihood", "impact", "status")
    d = df[df[lk].notna() & (df[st] != "closed")]
    m = pd.crosstab(d[lk].astype(int), d[im].astype(int))
    return m.reindex(index=range(1, 6), columns=range(1, 6), fill_value=0)


def seven_day(con, year: int, compare_year: int) -> dict:
    """The 7-day no-reason rule (《消费者权益保护法》 art. 25) as chapter 7 measures it
    (:func:`fission.metrics.service.seven_day_rule`, the same return requests): no-reason
    requests within 7 days of delivery and how many were approved, this year against the
    comparison year (Newcombe interval)."""
    from . import service as S
    out = {}
    for key, y in (("cur", year), ("prev", compare_year)):
        # chapter 7's population (its eligible orders), counted in the database
        r = query(con, f"""
            WITH r AS (SELECT r.no_reason_7d AS nr, r.approved,
                              (date_diff('microsecond', e.delivered_ts, r.requested_ts) / 1e6) / 86400.0 AS req_days
                       FROM ({S._eligible(con, y)}) e JOIN returns r USING (order_id))
            SELECT count(*) FILTER (WHERE nr AND req_days <= 7) AS requests,
                   count(*) FILTER (WHERE nr AND req_days <= 7 AND approved) AS approved,
                   count(*) FILTER (WHERE nr AND req_days > 7 AND approved) AS late_accepted FROM r""").iloc[0]
        out[key] = {k: int(r[k]) for k in ("requests", "approved", "late_accepted")}
    c, p = out["cur"], out["prev"]
    d = diff_proportions(c["approved"], c["requests"], p["approved"], p["requests"])
    lo, hi = proportion_ci(c["approved"], c["requests"])
    plo, phi = proportion_ci(p["approved"], p["requests"])
    return {**out, "rate": d["p1"], "rate_prev": d["p2"], "lo": lo, "hi": hi, "prev_lo": plo, "prev_hi": phi,
            "change": {k: d[k] for k in ("diff", "lo", "hi", "significant")},
            "rejected": c["requests"] - c["approved"]}
