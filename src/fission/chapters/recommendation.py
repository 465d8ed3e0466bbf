"""Chapter 5 (个性化推荐与精准营销): every number, table and decision the chapter publishes.

Offline, four recommenders are evaluated on a time split of the platform's own logs
(:func:`fission.metrics.recommend.offline_evaluation`): they learn from a year of browsing
(views, clicks, favourites, carts) and purchases up to the cutoff, four weeks before the data
end, and are scored on what users bought in those four weeks. Online, the live algorithm
variants are compared as an A/B test on the year's recommendation impressions
(:func:`fission.metrics.recommend.online_ab`). An algorithm is named as leading only when it is
significantly ahead of the runner-up; where the offline and the online order of two algorithms
contradict each other (both significant), the facts list the pair.
"""
from __future__ import annotations


import numpy as np
import pandas as pd

from .. import coverage, keyfigures
from ..metrics import recommend as rm
from ..metrics._sql import data_end, query, require
from ..metrics.experiments import change_ci

HORIZON_DAYS = 28
TRAIN_DAYS = 365
NEW_DAYS = 90
#: evaluate at most this many users (all users are trained on): keeps the bootstrap within the
#: chapter's minute on large data; the default data has fewer
MAX_USERS = 20_000
#: train on at most about this many users with history: a seeded sample of them drawn in SQL
#: (the first in md5 order: the "core"), plus the core's referrers and referees so that the
#: social recommender sees every evaluated user's friends; only core users are evaluated.
#: ALS time grows with the users
#: (10 M users: > 20 min on one thread), while a catalogue's item factors are learned as well
#: from a few hundred thousand users. The default data has fewer, and is not sampled.
MAX_TRAIN_USERS = 300_000
SAMPLE_SEED = 0
N_BOOT = 200
#: implicit-feedback strength of each behaviour (a purchase says more than a view); fixed
#: beforehand, not tuned
WEIGHTS = {"view": 1.0, "click": 1.0, "rec_click": 1.0, "favorite": 2.0, "cart": 2.0, "purchase": 4.0}
CONTROL = "popularity"
OFFLINE_KEY = "ndcg"


BROWSE = [k for k in WEIGHTS if k != "purchase"]
BUY_SQL = """SELECT o.user_id, oi.item_id, o.order_ts AS ts FROM orders o
    JOIN order_items oi USING (order_id)
    WHERE o.status <> 'cancelled' AND o.order_ts >= ? AND o.order_ts < ?"""


def training_sample(con, start, cutoff, max_train_users: int,
                    seed: int = SAMPLE_SEED) -> dict | None:
    """None when at most ``max_train_users`` users have history in [start, cutoff]; otherwise
    ``{"core": user ids evaluated, "users": core + their referrers and referees with history
    (trained on), "with_history": how many had history}`` (see :data:`MAX_TRAIN_USERS`). The
    sample is drawn in the database — the core is the ``max_train_users`` users with history
    first in the order of ``md5(user_id + seed)`` (the engine-neutral hash of metrics.ltv) — so
    only the count and the sample reach the driver, not every user with history."""
    kinds = ", ".join(f"'{k}'" for k in BROWSE)
    hist = f"""
        SELECT DISTINCT user_id FROM events WHERE item_id IS NOT NULL AND ts >= ? AND ts <= ?
          AND event_type IN ({kinds})
        UNION SELECT user_id FROM ({BUY_SQL}) b"""
    with_history = int(con.execute(f"SELECT count(*) FROM ({hist}) h",
                                   [start, cutoff, start, cutoff]).fetchone()[0])
    if with_history <= max_train_users:
        return None
    s = query(con, f"""
        WITH hist AS ({hist}),
        core AS (
            SELECT user_id FROM hist
            ORDER BY md5(CAST(user_id + {int(seed)} AS VARCHAR)), user_id LIMIT {int(max_train_users)}
        ), pairs AS (
            SELECT user_id, referrer_user_id FROM users WHERE referrer_user_id IS NOT NULL
        ), near AS (
            SELECT p.referrer_user_id AS user_id FROM pairs p JOIN core c ON c.user_id = p.user_id
            UNION SELECT p.user_id FROM pairs p JOIN core c ON c.user_id = p.referrer_user_id
        )
        SELECT user_id, TRUE AS is_core FROM core
        UNION ALL
        SELECT user_id, FALSE FROM near
        WHERE user_id IN (SELECT user_id FROM hist) AND user_id NOT IN (SELECT user_id FROM core)""",
              [start, cutoff, start, cutoff])
    ids = s.user_id.to_numpy(dtype=np.int64)
    return {"core": np.sort(ids[s.is_core.to_numpy(bool)]), "users": np.sort(ids),
            "with_history": with_history}


def interactions(con, start, cutoff, end, users=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The training interactions — browsing events and purchases in [start, cutoff], one row
    per (user, item) with the summed weight and the first time (all the time split needs;
    aggregating in DuckDB keeps large logs out of memory) — and the purchases in [start, end)
    (the targets), of all users or only of ``users``. Impressions are what the system showed,
    not what the user chose, so they are left out."""
    require(con, "events", "orders", "order_items", needed_for="chapter 5 (个性化推荐与精准营销)")
    case = " ".join(f"WHEN '{k}' THEN {WEIGHTS[k]}" for k in BROWSE)
    only = ""
    if users is not None:
        con.register("_rec_users", pd.DataFrame({"user_id": np.asarray(users, dtype=np.int64)}))
        only = "SEMI JOIN _rec_users s USING (user_id)"
    try:
        inter = query(con, f"""
            WITH x AS (
                SELECT user_id, item_id, ts, (CASE event_type {case} END)::DOUBLE AS weight
                FROM events WHERE item_id IS NOT NULL AND ts >= ? AND ts <= ?
                  AND event_type IN ({', '.join(f"'{k}'" for k in BROWSE)})
                UNION ALL
                SELECT user_id, item_id, ts, {WEIGHTS['purchase']}::DOUBLE FROM ({BUY_SQL}) b
                WHERE ts <= ?
            )
            SELECT user_id, item_id, min(ts) AS ts, sum(weight) AS weight FROM x {only}
            GROUP BY ALL""", [start, cutoff, start, end, cutoff])
        buy = query(con, f"SELECT * FROM ({BUY_SQL}) b {only}", [start, end])
    finally:
        if users is not None:
            con.unregister("_rec_users")
    return inter, buy


def friends(con, users=None) -> pd.DataFrame:
    """Referrer–referee pairs (the social recommender treats them both ways); with ``users``
    only the pairs of two of them (the training sample: the recommender reads no other pair,
    and on large data the rest need not reach the driver)."""
    sql = ("SELECT user_id, referrer_user_id AS friend_id FROM users "
           "WHERE referrer_user_id IS NOT NULL")
    if users is None:
        return query(con, sql)
    con.register("_rec_friends", pd.DataFrame({"user_id": np.asarray(users, dtype=np.int64)}))
    try:
        return query(con, f"""SELECT f.* FROM ({sql}) f
            WHERE f.user_id IN (SELECT user_id FROM _rec_friends)
              AND f.friend_id IN (SELECT user_id FROM _rec_friends)""")
    finally:
        con.unregister("_rec_friends")


def _lead(rows: list[dict], key: str, sig) -> dict:
    """Top and runner-up by ``key`` and whether the gap is significant (``sig(a, b)``)."""
    o = sorted(rows, key=lambda r: -r[key])
    top, second = o[0]["algo"], o[1]["algo"]
    return {"top": top, "second": second, "top_value": o[0][key], "significant": sig(top, second),
            "order": [r["algo"] for r in o], "bottom": o[-1]["algo"], "bottom_value": o[-1][key],
            "second_last": o[-2]["algo"], "bottom_significant": sig(o[-1]["algo"], o[-2]["algo"])}


def _offline(con, year: int, max_users: int, n_boot: int, max_train_users: int) -> dict:
    end = min(data_end(con).ceil("D"), pd.Timestamp(f"{int(year) + 1}-01-01"))
    cutoff = (end - pd.Timedelta(days=HORIZON_DAYS)).floor("D")
    start = cutoff - pd.Timedelta(days=TRAIN_DAYS)
    sample = training_sample(con, start, cutoff, max_train_users)
    fr = friends(con, None if sample is None else sample["users"])
    inter, buy = interactions(con, start, cutoff, cutoff + pd.Timedelta(days=HORIZON_DAYS),
                              None if sample is None else sample["users"])
    ev = rm.offline_evaluation(inter, cutoff, HORIZON_DAYS, targets=buy, friends=fr,
                               new_days=NEW_DAYS, max_users=max_users, n_boot=n_boot,
                               eval_users=None if sample is None else sample["core"])
    pairs = {s: ev[s]["pairs"] for s in ("all", "new", "returning") if ev[s] is not None}

    def sig(seg, metric):
        p = pairs[seg]
        def f(a, b):
            r = p[(p.metric == metric) & (((p.a == a) & (p.b == b)) | ((p.a == b) & (p.b == a)))]
            return bool(r.significant.iloc[0])
        return f
    rows = ev["all"]["rows"]
    recs = rows.to_dict(orient="records")
    lead = {m: _lead(recs, m, sig("all", m)) for m in ("ndcg", "recall", "coverage", "novelty", "gini")}
    # new against returning users, per algorithm (independent groups: bootstrap SEs add up)
    seg = []
    if ev["new"] is not None and ev["returning"] is not None:
        for a in rows.algo:
            n = ev["new"]["rows"].set_index("algo").loc[a]
            r = ev["returning"]["rows"].set_index("algo").loc[a]
            se = np.hypot((n.ndcg_hi - n.ndcg_lo), (r.ndcg_hi - r.ndcg_lo)) / (2 * rm.Z)
            d = n.ndcg - r.ndcg
            seg.append({"algo": a, "new": n.ndcg, "new_lo": n.ndcg_lo, "new_hi": n.ndcg_hi,
                        "returning": r.ndcg, "returning_lo": r.ndcg_lo, "returning_hi": r.ndcg_hi,
                        "diff": d, "lo": d - rm.Z * se, "hi": d + rm.Z * se,
                        "significant": bool(abs(d) > rm.Z * se)})
    seg = pd.DataFrame(seg)
    seg_lead = {s: _lead(ev[s]["rows"].to_dict(orient="records"), "ndcg", sig(s, "ndcg"))
                for s in ("new", "returning") if ev[s] is not None}
    return {"cutoff": ev["cutoff"], "test_last_day": ev["cutoff"] + pd.Timedelta(days=HORIZON_DAYS - 1),
            "horizon_days": HORIZON_DAYS, "train_days": TRAIN_DAYS, "new_days": NEW_DAYS,
            "k": ev["k"], "users": ev["users"], "eligible_users": ev["eligible_users"],
            "sampled": ev["sampled"], "max_users": max_users, "train_users": ev["train_users"],
            "train_sampled": sample is not None,
            "users_with_history": sample["with_history"] if sample else ev["train_users"],
            "train_core": len(sample["core"]) if sample else ev["train_users"],
            "n_items": ev["items"], "relevant_per_user": ev["relevant_per_user"],
            "users_new": ev["new"]["users"] if ev["new"] else 0,
            "users_returning": ev["returning"]["users"] if ev["returning"] else 0,
            "social_signal": ev["social_signal"], "n_boot": n_boot, "rows": rows,
            "pairs": ev["all"]["pairs"], "segments": seg, "segment_lead": seg_lead, "lead": lead,
            "new_worse": seg[seg.significant & (seg["diff"] < 0)].algo.tolist() if len(seg) else [],
            "new_better": seg[seg.significant & (seg["diff"] > 0)].algo.tolist() if len(seg) else [],
            "als": dict(rm.ALS_PARAMS), "weights": WEIGHTS}


def _online(con, year: int) -> dict:
    ab = rm.online_ab(con, f"{int(year)}-01-01", f"{int(year) + 1}-01-01", control=CONTROL)
    rows = ab["rows"].rename(columns={"variant": "algo"})
    se = dict(zip(rows.algo, rows.ctr_se))
    pairs = rm.pair_order(dict(zip(rows.algo, rows.ctr)), se, list(rows.algo))
    psig = {frozenset((p["a"], p["b"])): p["significant"] for p in pairs}
    lead = _lead(rows.to_dict(orient="records"), "ctr", lambda a, b: psig[frozenset((a, b))])
    cse = dict(zip(rows.algo, rows.conversion_se))
    cpairs = rm.pair_order(dict(zip(rows.algo, rows.conversion)), cse, list(rows.algo))
    csig = {frozenset((p["a"], p["b"])): p["significant"] for p in cpairs}
    clead = _lead(rows.to_dict(orient="records"), "conversion", lambda a, b: csig[frozenset((a, b))])
    treat = rows[rows.algo != CONTROL]
    return {**{k: v for k, v in ab.items() if k != "rows"}, "rows": rows, "pairs": pairs,
            "lead": lead, "conv_lead": clead,
            "ctr_up": treat[treat.ctr_significant & (treat.ctr_lift > 0)].algo.tolist(),
            "ctr_down": treat[treat.ctr_significant & (treat.ctr_lift < 0)].algo.tolist(),
            "conv_up": treat[treat.conversion_significant & (treat.conversion_lift > 0)].algo.tolist(),
            "conv_down": treat[treat.conversion_significant & (treat.conversion_lift < 0)].algo.tolist(),
            "orders_differ": treat[treat.orders_per_user_significant].algo.tolist()}


def _agreement(off: dict, on: dict) -> dict:
    p = off["pairs"]
    p = p[p.metric == OFFLINE_KEY]
    offline = [{"a": r.a, "b": r.b, "diff": r["diff"], "lo": r.lo, "hi": r.hi,
                "significant": r.significant, "higher": r.a if r["diff"] > 0 else r.b}
               for _, r in p.iterrows()]
    online = {frozenset((q["a"], q["b"])): q for q in on["pairs"]}
    aligned = []
    for q in offline:
        o = online[frozenset((q["a"], q["b"]))]
        aligned.append({**o, "a": q["a"], "b": q["b"]} if o["a"] == q["a"] else
                       {**o, "a": q["a"], "b": q["b"], "diff": -o["diff"], "lo": -o["hi"], "hi": -o["lo"]})
    agr = rm.rank_agreement(offline, aligned)
    from scipy import stats
    offv = dict(zip(off["rows"].algo, off["rows"][OFFLINE_KEY]))
    onv = dict(zip(on["rows"].algo, on["rows"].ctr))
    algos = [a for a in offv if a in onv]
    tau = stats.kendalltau([offv[a] for a in algos], [onv[a] for a in algos]).statistic
    return {**agr, "kendall_tau": float(tau), "offline_order": off["lead"][OFFLINE_KEY]["order"],
            "online_order": on["lead"]["order"], "metric": OFFLINE_KEY,
            "same_top": off["lead"][OFFLINE_KEY]["top"] == on["lead"]["top"]}


_ORDERS = {"orders": ["order_id", "user_id", "order_ts", "status"],
           "order_items": ["order_id", "item_id"]}
_OFFLINE = {"events": ["user_id", "item_id", "ts", "event_type"], **_ORDERS,
            "users": ["user_id", "referrer_user_id"]}
_ONLINE = {"events": ["user_id", "item_id", "ts", "event_type", "algo_variant"], **_ORDERS}
#: the tables and columns each section needs (fission.coverage): with partial data the sections
#: whose needs are met are built, the others replaced by a notice
NEEDS = {
    "offline": _OFFLINE, "beyond": _OFFLINE, "segments": _OFFLINE,
    "online": _ONLINE,
    "agreement": {**_OFFLINE, "events": _ONLINE["events"]},
}


def facts(con, year: int, compare_year: int, min_group_size: int = 50,
          max_users: int = MAX_USERS, n_boot: int = N_BOOT,
          max_train_users: int = MAX_TRAIN_USERS, driver_sample: int | None = None) -> dict:
    """Every number, table and decision of chapter 5 for ``year`` (``compare_year`` for the
    online CTR's change), of the sections the data can build (``missing`` names the others).
    ``min_group_size``: a segment of fewer evaluated users is not shown."""
    # the edition's cap on what reaches a driver-side fit (params: engine.driver_sample)
    max_train_users = min(max_train_users, driver_sample or max_train_users)
    missing = coverage.gaps(con, NEEDS)
    f = {"missing": missing, "year": int(year)}
    figs = []
    if "offline" not in missing:        # offline, beyond and segments need the same data
        off = f["offline"] = _offline(con, year, max_users, n_boot, max_train_users)
        hidden = 0
        for s in ("new", "returning"):
            if off[f"users_{s}"] < min_group_size:
                hidden += 1
                off["segment_lead"].pop(s, None)
                off["segments"] = off["segments"].iloc[0:0]
        f["segments_hidden"] = hidden
    if "online" not in missing:
        on = f["online"] = _online(con, year)
        try:
            prev = rm.online_ab(con, f"{int(compare_year)}-01-01", f"{int(compare_year) + 1}-01-01",
                                control=CONTROL)
        except ValueError:          # no recommendation impressions last year
            prev = None
        # the year's CTR against last year's; the same users appear in both years, which makes
        # the independent-samples interval slightly wide (conservative)
        chg = {k: (change_ci(on[k], on[f"{k}_se"], prev[k], prev[f"{k}_se"]) if prev else None)
               for k in ("ctr", "conversion")}
        f["yoy"] = {k: (None if v is None else {"prev": v["prev"], "diff": v["change"], "lo": v["ci_lo"],
                                                "hi": v["ci_hi"], "significant": v["significant"]})
                    for k, v in chg.items()}
        on_top = on["lead"]
        best = on["rows"].set_index("algo").loc[on_top["top"]]
        figs += [
            keyfigures.figure("rec_ctr", on["ctr"], "rate", prev["ctr"] if prev else None,
                              lo=chg["ctr"]["ci_lo"] if prev else None,
                              hi=chg["ctr"]["ci_hi"] if prev else None,
                              significant=chg["ctr"]["significant"] if prev else None, digits=2),
            keyfigures.figure("best_ctr_lift", best.ctr_lift if on_top["top"] != CONTROL else None,
                              "rate"),
            keyfigures.figure("click_conversion", on["conversion"], "rate",
                              prev["conversion"] if prev else None,
                              lo=chg["conversion"]["ci_lo"] if prev else None,
                              hi=chg["conversion"]["ci_hi"] if prev else None,
                              significant=chg["conversion"]["significant"] if prev else None)]
    if "offline" not in missing:
        figs.append(keyfigures.figure("offline_ndcg", f["offline"]["lead"][OFFLINE_KEY]["top_value"],
                                      "num", digits=3))
    if "agreement" not in missing:
        f["agreement"] = _agreement(f["offline"], f["online"])
    order = ["rec_ctr", "best_ctr_lift", "offline_ndcg", "click_conversion"]
    f["keyfigures"] = sorted(figs, key=lambda k: order.index(k["id"]))
    return f
