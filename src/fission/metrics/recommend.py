"""Chapter 5 (个性化推荐与精准营销): offline evaluation of recommenders on a time split, and the
online A/B comparison of the live algorithm variants.

Offline (:func:`offline_evaluation`) takes any (user, item, time) interactions — the platform's
or an analyst's own logs:

* **time split** – train on interactions with ``ts ≤ cutoff``; the test is what users buy
  (the *targets*, by default the interactions themselves) in the next ``horizon_days`` (28).
  Evaluated users have history (≥ 1 training interaction) and ≥ 1 test item they had not
  bought before the cutoff; items bought before are neither recommended nor counted as hits
  (a list of repeats is not a recommendation); items nobody had before the cutoff cannot be
  recommended by any algorithm and are left out of the test. **New** users' first training interaction lies
  within ``new_days`` (90) of the cutoff, the others are **returning**.
* **recommenders** – popularity (most users in training), item-kNN (cosine, ``implicit``),
  ALS (``implicit``'s implicit-feedback matrix factorisation) and social ("friends bought":
  items bought by the user's referrer and referees, counted per friend, ties and users without
  friends' purchases filled by popularity). Hyper-parameters are fixed beforehand, not tuned on
  the test period (that would flatter the tuned model).
* **metrics at k = 10**, per user then averaged: precision, recall, NDCG (binary gain, ideal
  DCG over min(|relevant|, k)), MAP (AP@k = Σ P@i·relᵢ / min(|relevant|, k)), novelty (mean
  −log₂ of the share of training users who had the recommended item, Zhou et al. 2010);
  over the lists: catalogue coverage (share of training items recommended to anyone) and
  popularity bias (Gini coefficient of how often each item is recommended). Intervals from a
  user bootstrap (the same resampled users for every algorithm, so differences are paired).

Online (:func:`online_ab`): per live ``algo_variant`` the recommendation CTR
(``rec_click`` / ``rec_impression``) and the click-to-order conversion (a click followed by a
non-cancelled order of the same item by the same user within ``order_days``), both ratios of
sums clustered by user (delta method); the non-cancelled orders per exposed user in the period
(the causal comparison: a click that ends in an order may be an order the user would have
placed anyway); the relative lift of each against a control variant (delta method), and a
sample-ratio-mismatch test of the users per variant.
"""
from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")   # implicit is slow (and warns) with threaded BLAS

from dataclasses import dataclass  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import scipy.sparse as sp  # noqa: E402
from scipy import stats  # noqa: E402

from ._sql import query, require  # noqa: E402
from .experiments import lift_ci, ratio_from_sums, srm_test  # noqa: E402

K = 10
ALGOS = ("popularity", "itemknn", "als", "social")
USER_METRICS = ("precision", "recall", "ndcg", "map", "novelty")
LIST_METRICS = ("coverage", "gini")
Z = stats.norm.ppf(0.975)
#: chosen once on a validation split (the 4 weeks before the default test period of the
#: simulated 2025 edition), among 10–128 factors and alpha 1–20: NDCG@10 rose with the factors
#: (alpha 2: 10 → 0.14, 32 → 0.20, 64 → 0.25; 128 with alpha 1 → 0.30) but the fit time grows
#: with their square; 64 keeps the chapter well within its minute
ALS_PARAMS = dict(factors=64, regularization=0.05, alpha=2.0, iterations=12)
KNN_NEIGHBOURS = 50


# ------------------------------------------------------------------ input checks
def check_interactions(df: pd.DataFrame, name: str = "interactions") -> pd.DataFrame:
    """(user_id, item_id, ts[, weight]) with no nulls; a clear error otherwise."""
    need = ["user_id", "item_id", "ts"]
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise ValueError(f"{name}: column(s) {', '.join(missing)} missing; the evaluation needs "
                         f"one row per (user_id, item_id, ts) interaction")
    cols = need + (["weight"] if "weight" in df.columns else [])
    for c in cols:
        bad = df[c].isna()
        if bad.any():
            ex = df.loc[bad].head(3).to_dict(orient="records")
            raise ValueError(f"{name}.{c}: rule not_null broken in {int(bad.sum())} rows, e.g. {ex}")
    if "weight" in df.columns and (df.weight <= 0).any():
        bad = df.weight <= 0
        raise ValueError(f"{name}.weight: rule > 0 broken in {int(bad.sum())} rows, "
                         f"e.g. {df.loc[bad].head(3).to_dict(orient='records')}")
    out = df[cols].copy()
    out["ts"] = pd.to_datetime(out.ts)
    return out


# ------------------------------------------------------------------ the split
@dataclass
class Split:
    cutoff: pd.Timestamp
    horizon_days: int
    items: np.ndarray            # item ids, index = column of the matrices
    train: sp.csr_matrix         # all training users × items, summed weights
    bought: sp.csr_matrix        # training users × items, targets before the cutoff (0/1)
    train_users: np.ndarray      # user ids, index = row of train / bought
    eval_rows: np.ndarray        # rows (into train) of the evaluated users
    relevant: list               # per evaluated user: item columns bought in the test period
    new: np.ndarray              # per evaluated user: first interaction within new_days
    eligible: int                # users eligible before sampling
    popularity: np.ndarray       # share of training users who interacted with each item


def _ordered(df: pd.DataFrame) -> pd.DataFrame:
    return df.sort_values(list(df.columns), kind="mergesort", ignore_index=True)


def time_split(interactions: pd.DataFrame, cutoff, horizon_days: int = 28,
               targets: pd.DataFrame | None = None, new_days: int = 90,
               max_users: int | None = None, seed: int = 0, eval_users=None) -> Split:
    """Train ≤ ``cutoff``, test = ``targets`` in (cutoff, cutoff + horizon] (module docstring).
    ``max_users``: evaluate a random sample of that many eligible users (all are trained on);
    ``eval_users``: only these users can be evaluated (the others are trained on only)."""
    # a fixed row order: the database returns rows in any order, and summing duplicate
    # weights in another order changes the matrices (and ALS) in the last bits
    inter = _ordered(check_interactions(interactions))
    tg = inter if targets is None else _ordered(check_interactions(targets, "targets"))
    cutoff = pd.Timestamp(cutoff)
    end = cutoff + pd.Timedelta(days=horizon_days)
    tr = inter[inter.ts <= cutoff]
    if tr.empty:
        raise ValueError(f"interactions: none at or before the cutoff {cutoff}")
    tg_tr = tg[tg.ts <= cutoff]
    tg_te = tg[(tg.ts > cutoff) & (tg.ts <= end)]
    users = np.unique(tr.user_id.to_numpy())
    items = np.unique(np.concatenate([tr.item_id.to_numpy(), tg_tr.item_id.to_numpy()]))
    ui = pd.Index(users)
    ii = pd.Index(items)
    w = tr["weight"].to_numpy(float) if "weight" in tr.columns else np.ones(len(tr))
    train = sp.csr_matrix((w, (ui.get_indexer(tr.user_id), ii.get_indexer(tr.item_id))),
                          shape=(len(users), len(items)))
    b = tg_tr[tg_tr.user_id.isin(ui)]
    bought = sp.csr_matrix((np.ones(len(b)), (ui.get_indexer(b.user_id), ii.get_indexer(b.item_id))),
                           shape=train.shape)
    bought.data[:] = 1.0
    popularity = np.asarray((train > 0).sum(axis=0)).ravel() / len(users)
    # test: items of known users, known items, not bought before
    te = tg_te[tg_te.user_id.isin(ui) & tg_te.item_id.isin(ii)]
    te = te.assign(r=ui.get_indexer(te.user_id), c=ii.get_indexer(te.item_id))[["r", "c"]].drop_duplicates()
    seen = pd.DataFrame({"r": ui.get_indexer(b.user_id), "c": ii.get_indexer(b.item_id)}).drop_duplicates()
    te = te.merge(seen, how="left", indicator=True)
    te = te[te._merge == "left_only"][["r", "c"]]
    rel = te.groupby("r").c.apply(np.array)
    if eval_users is not None:
        rel = rel[np.isin(users[rel.index.to_numpy()], np.asarray(eval_users))]
    rows = rel.index.to_numpy()
    eligible = len(rows)
    if max_users is not None and eligible > max_users:
        pick = np.sort(np.random.default_rng(seed).choice(eligible, max_users, replace=False))
        rel = rel.iloc[pick]
        rows = rel.index.to_numpy()
    first = tr.groupby("user_id").ts.min()
    new = (first.reindex(users[rows]).to_numpy() > (cutoff - pd.Timedelta(days=new_days)).to_datetime64())
    return Split(cutoff, horizon_days, items, train, bought, users, rows, list(rel.to_numpy()),
                 np.asarray(new, bool), eligible, popularity)


# ------------------------------------------------------------------ recommenders
def top_k(scores: np.ndarray, exclude: sp.csr_matrix, k: int = K) -> np.ndarray:
    """The k highest-scoring columns per row, excluding the nonzero entries of ``exclude``
    (items already bought); ties by column order."""
    s = np.array(scores, dtype=float, copy=True)
    ex = exclude.tocoo()
    s[ex.row, ex.col] = -np.inf
    k = min(k, s.shape[1])
    idx = np.argsort(-s, axis=1, kind="stable")[:, :k]
    return np.where(np.isfinite(np.take_along_axis(s, idx, 1)), idx, -1)


def _batches(split: Split, size: int = 5000):
    for i in range(0, len(split.eval_rows), size):
        yield split.eval_rows[i:i + size]


def recommend_popularity(split: Split, k: int = K) -> np.ndarray:
    """The items most training users interacted with."""
    out = [top_k(np.broadcast_to(split.popularity, (len(r), len(split.items))), split.bought[r], k)
           for r in _batches(split)]
    return np.vstack(out)


def recommend_itemknn(split: Split, k: int = K, neighbours: int = KNN_NEIGHBOURS) -> np.ndarray:
    """Item-kNN: a user's items times the cosine item–item similarity (``implicit``'s
    CosineRecommender keeps each item's ``neighbours`` nearest)."""
    from implicit.nearest_neighbours import CosineRecommender
    import warnings
    m = CosineRecommender(K=neighbours, num_threads=1)
    with warnings.catch_warnings():     # implicit converts its own normalised matrix and warns
        warnings.filterwarnings("ignore", message="Method expects CSR input")
        m.fit(split.train.astype(np.float32).tocsr(), show_progress=False)
    sim = m.similarity.tocsr()     # row i: item i's neighbours, as implicit's own scorer reads it
    # popularity breaks ties and fills users whose items have no neighbours
    out = [top_k((split.train[r] @ sim).toarray() + 1e-9 * split.popularity, split.bought[r], k)
           for r in _batches(split)]
    return np.vstack(out)


def recommend_als(split: Split, k: int = K, seed: int = 0, params: dict | None = None) -> np.ndarray:
    """Implicit-feedback ALS (Hu, Koren & Volinsky 2008) from ``implicit``."""
    from implicit.cpu.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits      # a dependency of implicit
    # numpy may have started BLAS threads before this module set OPENBLAS_NUM_THREADS
    with threadpool_limits(1, "blas"):
        m = AlternatingLeastSquares(**{**ALS_PARAMS, **(params or {})}, random_state=seed,
                                    num_threads=1)
        m.fit(split.train.astype(np.float32).tocsr(), show_progress=False)
    uf, itf = np.asarray(m.user_factors), np.asarray(m.item_factors)
    return np.vstack([top_k(uf[r] @ itf.T, split.bought[r], k) for r in _batches(split)])


def friends_matrix(split: Split, edges: pd.DataFrame) -> sp.csr_matrix:
    """Training users × training users, 1 where one referred the other (either direction)."""
    need = {"user_id", "friend_id"}
    if not need <= set(edges.columns):
        raise ValueError(f"friends: columns {sorted(need - set(edges.columns))} missing; give one "
                         "row per (user_id, friend_id) pair, e.g. referee and referrer")
    ui = pd.Index(split.train_users)
    a, b = ui.get_indexer(edges.user_id), ui.get_indexer(edges.friend_id)
    ok = (a >= 0) & (b >= 0) & (a != b)
    n = len(ui)
    f = sp.csr_matrix((np.ones(ok.sum()), (a[ok], b[ok])), shape=(n, n))
    f = ((f + f.T) > 0).astype(float)
    return f.tocsr()


def recommend_social(split: Split, edges: pd.DataFrame, k: int = K) -> np.ndarray:
    """"Friends bought": items ranked by how many of the user's referrer and referees bought
    them before the cutoff; popularity breaks ties and fills the rest of the list."""
    f = friends_matrix(split, edges)
    out = [top_k((f[r] @ split.bought).toarray() + 1e-3 * split.popularity / max(split.popularity.max(), 1e-12),
                 split.bought[r], k) for r in _batches(split)]
    return np.vstack(out)


# ------------------------------------------------------------------ metrics
def user_metrics(recs: np.ndarray, relevant: list, popularity: np.ndarray, k: int = K) -> pd.DataFrame:
    """Per user: precision, recall, NDCG, AP at k and novelty (module docstring). ``recs``:
    item columns per user (−1 = empty slot); ``relevant``: arrays of item columns."""
    n = len(relevant)
    hits = np.zeros((n, k), bool)
    nrel = np.array([len(r) for r in relevant])
    for i, r in enumerate(relevant):
        hits[i] = np.isin(recs[i, :k], r) & (recs[i, :k] >= 0)
    h = hits.sum(axis=1)
    disc = 1 / np.log2(np.arange(2, k + 2))
    dcg = (hits * disc).sum(axis=1)
    ideal = np.array([disc[:min(m, k)].sum() for m in nrel])
    prec_at = np.cumsum(hits, axis=1) / np.arange(1, k + 1)
    ap = (prec_at * hits).sum(axis=1) / np.minimum(nrel, k)
    valid = recs[:, :k] >= 0
    info = -np.log2(np.where(valid, popularity[np.where(valid, recs[:, :k], 0)], 1.0).clip(1e-12))
    novelty = np.where(valid.any(axis=1), (info * valid).sum(axis=1) / valid.sum(axis=1).clip(1), np.nan)
    return pd.DataFrame({"precision": h / k, "recall": h / nrel, "ndcg": dcg / ideal, "map": ap,
                         "novelty": novelty})


def gini(counts) -> float:
    """Gini coefficient of non-negative counts (0 = every item recommended equally often, → 1 =
    all recommendations on one item). Written out because it is a one-line formula (sorted
    cumulative shares) that no library in the stack exposes."""
    x = np.sort(np.asarray(counts, float))
    n, s = len(x), x.sum()
    if n == 0 or s == 0:
        return float("nan")
    return float((2 * np.arange(1, n + 1) - n - 1) @ x / (n * s))


def list_metrics(recs: np.ndarray, n_items: int) -> dict:
    r = recs[recs >= 0]
    counts = np.bincount(r, minlength=n_items)
    return {"coverage": float((counts > 0).mean()), "gini": gini(counts)}


def _bootstrap(per_user: dict, recs: dict, n_items: int, n_boot: int, seed: int):
    """Paired user bootstrap: (B × algo × metric) array of resampled values."""
    n = len(next(iter(per_user.values())))
    rng = np.random.default_rng(seed)
    algos = list(per_user)
    metrics = list(USER_METRICS) + list(LIST_METRICS)
    out = np.empty((n_boot, len(algos), len(metrics)))
    for b in range(n_boot):
        idx = rng.integers(0, n, n)
        for a, name in enumerate(algos):
            um = per_user[name].to_numpy()[idx]
            out[b, a, :len(USER_METRICS)] = np.nanmean(um, axis=0)
            lm = list_metrics(recs[name][idx], n_items)
            out[b, a, len(USER_METRICS):] = [lm[m] for m in LIST_METRICS]
    return out, algos, metrics


def summarise(per_user: dict, recs: dict, n_items: int, n_boot: int = 200, seed: int = 0) -> dict:
    """Point values with percentile intervals per algorithm (``rows``), and every pairwise
    difference of every metric with its paired interval (``pairs``)."""
    boot, algos, metrics = _bootstrap(per_user, recs, n_items, n_boot, seed)
    rows = []
    for a, name in enumerate(algos):
        row = {"algo": name, "users": int(len(per_user[name]))}
        point = {**per_user[name].mean().to_dict(), **list_metrics(recs[name], n_items)}
        for m_i, m in enumerate(metrics):
            lo, hi = np.quantile(boot[:, a, m_i], [0.025, 0.975])
            row.update({m: float(point[m]), f"{m}_lo": float(lo), f"{m}_hi": float(hi)})
        rows.append(row)
    pairs = []
    for i, x in enumerate(algos):
        for j, y in enumerate(algos):
            if i >= j:
                continue
            for m_i, m in enumerate(metrics):
                d = boot[:, i, m_i] - boot[:, j, m_i]
                lo, hi = np.quantile(d, [0.025, 0.975])
                px = next(r[m] for r in rows if r["algo"] == x)
                py = next(r[m] for r in rows if r["algo"] == y)
                pairs.append({"a": x, "b": y, "metric": m, "diff": px - py, "lo": float(lo),
                              "hi": float(hi), "significant": bool(lo > 0 or hi < 0)})
    return {"rows": pd.DataFrame(rows), "pairs": pd.DataFrame(pairs), "n_boot": n_boot}


def offline_evaluation(interactions: pd.DataFrame, cutoff, horizon_days: int = 28,
                       targets: pd.DataFrame | None = None, friends: pd.DataFrame | None = None,
                       k: int = K, new_days: int = 90, max_users: int | None = None,
                       n_boot: int = 200, seed: int = 0, eval_users=None) -> dict:
    """Evaluate popularity, item-kNN, ALS and (with ``friends``: user_id, friend_id pairs) the
    social recommender on a time split (module docstring). Returns the split's sizes, the
    metrics per algorithm with intervals for all users (``all``) and per segment (``new``,
    ``returning``), the paired differences, and the seconds each algorithm took."""
    import time
    split = time_split(interactions, cutoff, horizon_days, targets, new_days, max_users, seed,
                       eval_users)
    if not len(split.eval_rows):
        raise ValueError(f"no user has both history before {split.cutoff:%Y-%m-%d} and a new "
                         f"target in the {horizon_days} days after it")
    fns = {"popularity": recommend_popularity, "itemknn": recommend_itemknn, "als": recommend_als}
    social_signal = None
    if friends is not None:
        fns["social"] = lambda s, k: recommend_social(s, friends, k)
        fb = friends_matrix(split, friends)[split.eval_rows] @ split.bought
        social_signal = float((np.asarray(fb.sum(axis=1)).ravel() > 0).mean())
    recs, per_user, seconds = {}, {}, {}
    for name, fn in fns.items():
        t0 = time.perf_counter()
        recs[name] = fn(split, k)
        per_user[name] = user_metrics(recs[name], split.relevant, split.popularity, k)
        seconds[name] = time.perf_counter() - t0
    n_items = len(split.items)
    out = {"cutoff": split.cutoff, "horizon_days": horizon_days, "k": k, "new_days": new_days,
           "eligible_users": split.eligible, "users": int(len(split.eval_rows)),
           "sampled": split.eligible > len(split.eval_rows), "train_users": int(len(split.train_users)),
           "items": n_items, "train_interactions": int(split.train.nnz),
           "relevant_per_user": float(np.mean([len(r) for r in split.relevant])),
           "seconds": seconds, "social_signal": social_signal}
    seg = {"all": np.ones(len(split.eval_rows), bool), "new": split.new, "returning": ~split.new}
    for s, mask in seg.items():
        if mask.sum() < 2:
            out[s] = None
            continue
        out[s] = summarise({a: v[mask].reset_index(drop=True) for a, v in per_user.items()},
                           {a: v[mask] for a, v in recs.items()}, n_items, n_boot, seed)
        out[s]["users"] = int(mask.sum())
    return out


# ------------------------------------------------------------------ online A/B
def online_ab(con, start, end, control: str = "popularity", planned_shares: dict | None = None,
              order_days: int = 7, srm_alpha: float = 0.001) -> dict:
    """Per ``events.algo_variant`` over impressions in [start, end): users, impressions, clicks,
    CTR and click-to-order conversion (ratios clustered by user, delta-method intervals), their
    lift against ``control``, and the SRM test of users per variant against ``planned_shares``
    (default: equal). Clicks later than ``order_days`` before the data's last event are left
    out of the conversion (their order window is cut off)."""
    require(con, "events", "orders", "order_items", needed_for="the online A/B of chapter 5")
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    last = pd.Timestamp(con.execute("SELECT max(ts) FROM events").fetchone()[0])
    conv_end = min(end, last - pd.Timedelta(days=order_days))
    # per user and variant in the database; only per-variant sums reach the driver (the
    # clustered ratios need Σy, Σx and the residual sum of squares, metrics.experiments)
    per_user = f"""
    WITH e AS (
        SELECT user_id, item_id, ts, event_type, algo_variant FROM events
        WHERE algo_variant IS NOT NULL AND ts >= ? AND ts < ?
    ), clk AS (
        SELECT DISTINCT e.user_id, e.item_id, e.ts, e.algo_variant FROM e
        WHERE e.event_type = 'rec_click' AND e.ts < ?
    ), conv AS (
        SELECT c.user_id, c.algo_variant, c.ts, c.item_id,
               max((o.order_id IS NOT NULL)::INTEGER) AS ordered
        FROM clk c LEFT JOIN (
            SELECT o.order_id, o.user_id, o.order_ts, oi.item_id FROM orders o
            JOIN order_items oi USING (order_id) WHERE o.status <> 'cancelled'
        ) o ON o.user_id = c.user_id AND o.item_id = c.item_id AND o.order_ts >= c.ts
           AND o.order_ts <= c.ts + INTERVAL {int(order_days)} DAY
        GROUP BY ALL
    ), cu AS (
        SELECT user_id, algo_variant, count(*) AS conv_clicks, sum(ordered) AS orders
        FROM conv GROUP BY ALL
    ), eu AS (
        SELECT user_id, algo_variant,
               count(*) FILTER (WHERE event_type = 'rec_impression') AS impressions,
               count(*) FILTER (WHERE event_type = 'rec_click') AS clicks
        FROM e GROUP BY ALL
    ), ou AS (
        SELECT user_id, count(*) AS user_orders FROM orders
        WHERE status <> 'cancelled' AND order_ts >= ? AND order_ts < ? GROUP BY ALL
    ), u AS (
        SELECT eu.*, coalesce(cu.conv_clicks, 0) AS conv_clicks, coalesce(cu.orders, 0) AS orders,
               coalesce(ou.user_orders, 0) AS user_orders
        FROM eu LEFT JOIN cu USING (user_id, algo_variant) LEFT JOIN ou USING (user_id)
    )"""
    params = [start, end, conv_end, start, end]
    v = query(con, per_user + """, r AS (
        SELECT algo_variant, count(*) AS users,
               sum(impressions) AS impressions, sum(clicks) AS clicks,
               sum(conv_clicks) AS conv_clicks, sum(orders) AS orders, sum(user_orders) AS user_orders,
               sum(clicks)::DOUBLE / nullif(sum(impressions), 0) AS ctr,
               sum(orders)::DOUBLE / nullif(sum(conv_clicks), 0) AS cv,
               avg(user_orders::DOUBLE) AS opu
        FROM u GROUP BY algo_variant
    ), a AS (
        SELECT sum(clicks)::DOUBLE / nullif(sum(impressions), 0) AS ctr,
               sum(orders)::DOUBLE / nullif(sum(conv_clicks), 0) AS cv,
               count(DISTINCT user_id) AS distinct_users
        FROM u
    )
    SELECT r.algo_variant, r.users, r.impressions, r.clicks, r.conv_clicks, r.orders, r.user_orders,
           sum((u.clicks - r.ctr * u.impressions) * (u.clicks - r.ctr * u.impressions)) AS ctr_ss,
           sum((u.orders - r.cv * u.conv_clicks) * (u.orders - r.cv * u.conv_clicks)) AS cv_ss,
           sum((u.user_orders - r.opu) * (u.user_orders - r.opu)) AS opu_ss,
           sum((u.clicks - a.ctr * u.impressions) * (u.clicks - a.ctr * u.impressions)) AS tot_ctr_ss,
           sum((u.orders - a.cv * u.conv_clicks) * (u.orders - a.cv * u.conv_clicks)) AS tot_cv_ss,
           max(a.distinct_users) AS distinct_users
    FROM u JOIN r USING (algo_variant) CROSS JOIN a
    GROUP BY r.algo_variant, r.users, r.impressions, r.clicks, r.conv_clicks, r.orders, r.user_orders""",
              params)
    if v.empty:
        raise ValueError(f"events: no rec_impression with an algo_variant between {start:%Y-%m-%d} "
                         f"and {end:%Y-%m-%d}")
    if int(v.users.sum()) != int(v.distinct_users.iloc[0]):
        multi = query(con, per_user + """
            SELECT user_id, count(*) OVER () AS n FROM u GROUP BY user_id HAVING count(*) > 1
            ORDER BY user_id LIMIT 3""", params)
        raise ValueError(f"events.algo_variant: rule one variant per user broken for "
                         f"{int(multi.n.iloc[0])} users, e.g. user_id {multi.user_id.tolist()}; an A/B "
                         "needs a stable assignment")
    variants = sorted(v.algo_variant, key=lambda x: (x != control, x))
    if control not in variants:
        raise ValueError(f"events.algo_variant: control {control!r} not among {variants}")
    v = v.set_index("algo_variant").loc[variants]
    rows = []
    for name, g in v.iterrows():
        n = int(g.users)
        ctr, ctr_se = ratio_from_sums(n, g.clicks, g.impressions, g.ctr_ss)
        cv, cv_se = ratio_from_sums(n, g.orders, g.conv_clicks, g.cv_ss)
        rows.append({"variant": name, "users": n, "impressions": int(g.impressions),
                     "clicks": int(g.clicks), "ctr": ctr, "ctr_se": ctr_se,
                     "ctr_lo": ctr - Z * ctr_se, "ctr_hi": ctr + Z * ctr_se,
                     "conv_clicks": int(g.conv_clicks), "orders": int(g.orders),
                     "conversion": cv, "conversion_se": cv_se,
                     "conversion_lo": cv - Z * cv_se, "conversion_hi": cv + Z * cv_se,
                     "orders_per_user": g.user_orders / n,
                     "orders_per_user_se": (np.sqrt(g.opu_ss / (n - 1)) / np.sqrt(n)
                                            if n > 1 else np.nan)})
    df = pd.DataFrame(rows)
    c = df.iloc[0]
    for m in ("ctr", "conversion", "orders_per_user"):
        lifts = [lift_ci(r[m], r[f"{m}_se"] ** 2, 1, c[m], c[f"{m}_se"] ** 2, 1) for _, r in df.iterrows()]
        df[f"{m}_lift"] = [x["rel_lift"] for x in lifts]
        df[f"{m}_lift_lo"] = [x["rel_lo"] for x in lifts]
        df[f"{m}_lift_hi"] = [x["rel_hi"] for x in lifts]
        df[f"{m}_p"] = [x["p_value"] for x in lifts]
        df[f"{m}_significant"] = [bool(x["p_value"] < 0.05) for x in lifts]
        df.loc[0, [f"{m}_lift", f"{m}_lift_lo", f"{m}_lift_hi", f"{m}_p"]] = np.nan
        df.loc[0, f"{m}_significant"] = False
    # every user is in one variant (checked above), so the users of all variants are the clusters
    n_all = int(v.users.sum())
    tot_ctr, tot_ctr_se = ratio_from_sums(n_all, v.clicks.sum(), v.impressions.sum(),
                                          v.tot_ctr_ss.sum(min_count=1))
    tot_cv, tot_cv_se = ratio_from_sums(n_all, v.orders.sum(), v.conv_clicks.sum(),
                                        v.tot_cv_ss.sum(min_count=1))
    shares = planned_shares or {v: 1.0 for v in variants}
    srm = srm_test(df.users.to_numpy(), [shares[v] for v in variants], srm_alpha)
    return {"rows": df, "control": control, "srm_p": srm.p_value, "srm": srm.srm,
            "srm_chi2": srm.chi2, "order_days": order_days, "conversion_end": conv_end,
            "users": int(df.users.sum()), "impressions": int(df.impressions.sum()),
            "clicks": int(df.clicks.sum()), "ctr": tot_ctr, "ctr_se": tot_ctr_se,
            "conversion": tot_cv, "conversion_se": tot_cv_se}


def pair_order(values: dict, ses_or_pairs, names: list) -> list[dict]:
    """Every pair (a, b) of ``names``: which is higher and whether significantly. ``ses_or_pairs``
    is either {name: standard error} (independent groups: z-test) or a function (a, b) →
    (lo, hi) of the difference a − b (paired bootstrap)."""
    out = []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            d = values[a] - values[b]
            if callable(ses_or_pairs):
                lo, hi = ses_or_pairs(a, b)
            else:
                se = float(np.hypot(ses_or_pairs[a], ses_or_pairs[b]))
                lo, hi = d - Z * se, d + Z * se
            out.append({"a": a, "b": b, "diff": float(d), "lo": float(lo), "hi": float(hi),
                        "significant": bool(lo > 0 or hi < 0), "higher": a if d > 0 else b})
    return out


def rank_agreement(offline: list[dict], online: list[dict]) -> dict:
    """Compare two sets of pairwise orders (:func:`pair_order`) of the same names: the pairs
    both order significantly, the ones where they agree and where they contradict each other."""
    on = {(p["a"], p["b"]): p for p in online}
    both, agree, disagree = [], [], []
    for p in offline:
        q = on.get((p["a"], p["b"]))
        if q is None or not (p["significant"] and q["significant"]):
            continue
        both.append((p["a"], p["b"]))
        rec = {"a": p["a"], "b": p["b"], "offline_higher": p["higher"], "online_higher": q["higher"]}
        (agree if p["higher"] == q["higher"] else disagree).append(rec)
    return {"pairs_compared": len(both), "agree": agree, "disagree": disagree}
