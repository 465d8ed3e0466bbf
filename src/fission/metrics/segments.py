"""Segment case studies and chapter-3 summaries the other metric modules do not compute.

Segments (``SEGMENTS``) split users by a predicate on ``users`` columns into the segment
(``in_segment = True``) and the rest:

* ``lower_tier`` – 三线及以下城市: ``city_tier >= 3``;
* ``age_18_30`` – 18–30 岁: ``age_band IN ('18-24', '25-30')``.

Segment definitions follow :mod:`fission.metrics.viral` and :mod:`fission.metrics.overview`:

* ``new_users`` – users of the segment whose ``signup_ts`` falls in the year;
* ``referred_share`` – share of those new users with a non-null ``referrer_user_id``;
* the **fully observed cohort** – the year's new users with ``signup_ts + window <= data end``;
* ``k_factor`` – referred signups (share_visits with a ``signup_user_id``) from shares the cohort
  sent within ``window`` of its signup, divided by the cohort size (the same K as
  :func:`fission.metrics.viral.viral_k`, restricted to the segment);
* ``first_order_rate`` – share of the fully observed cohort with ≥ 1 non-cancelled order in
  ``[signup_ts, signup_ts + window)``;
* ``buyers`` – distinct users of the segment with a non-cancelled order in the year.

Pure summaries of already computed tables: :func:`viral_amplification`,
:func:`sv_reference`, :func:`virality_by_size`, :func:`cascade_summary`,
:func:`annual_growth`, :func:`uplift_by_type`. Comparisons with intervals (what the chapter
may call higher, lower or changed): :func:`segment_compare`, :func:`segment_k_gaps`,
:func:`cascade_change`.
"""
from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
from scipy import stats as _stats

from . import viral
from ._sql import interval_days, query, require, ts_literal
from ._sql import data_end as _data_end

#: key → (SQL predicate on users, Chinese name of the segment, Chinese name of the rest)
SEGMENTS = {
    "lower_tier": ("city_tier >= 3", "三线及以下城市", "一二线城市"),
    "age_18_30": ("age_band IN ('18-24', '25-30')", "18–30 岁", "其他年龄"),
}


def _segment(segment: str) -> tuple[str, str, str]:
    if segment not in SEGMENTS:
        raise ValueError(f"segment must be one of {tuple(SEGMENTS)}, got {segment!r}")
    return SEGMENTS[segment]


def _window(window_days: float) -> str:
    if window_days <= 0:
        raise ValueError("window_days must be positive")
    return interval_days(window_days)


# ------------------------------------------------------------------ segment case study
def segment_viral(con: duckdb.DuckDBPyConnection, segment: str, year: int,
                  window_days: float = 30, data_end=None) -> pd.DataFrame:
    """K-factor of the year's fully observed signup cohort split by segment: one row per
    ``in_segment`` (True / False) × mechanism (plus ``'all'``) with cohort_size, shares,
    signups, invites_per_user (shares / cohort), invite_conversion (signups / shares) and
    k_factor (signups / cohort). See the module docstring."""
    pred, name_in, name_out = _segment(segment)
    df = viral.cohort_k(con, f"coalesce(({pred}), FALSE)", window_days,
                        where_sql=f"year(signup_ts) = {int(year)}", data_end=data_end)
    df = df.rename(columns={"cohort": "in_segment"})
    df["in_segment"] = df["in_segment"].astype(bool)
    df = pd.concat([df[df["in_segment"]], df[~df["in_segment"]]], ignore_index=True)  # segment first
    df.insert(0, "segment", np.where(df["in_segment"], name_in, name_out))
    df.attrs.update(segment=segment)
    return df


def segment_profile(con: duckdb.DuckDBPyConnection, segment: str, year: int, compare_year: int,
                    window_days: float = 30, data_end=None) -> pd.DataFrame:
    """One row per side of the segment (segment first, then the rest): new_users and
    new_users_prev (signups in ``year`` / ``compare_year``) with new_users_growth, each side's
    share of the year's new users, referred_share, first_order_rate, k_factor and its k_se (as
    in :func:`segment_viral`, pooled over mechanisms), buyers and buyers_prev with buyers_growth.
    See the module docstring for the definitions."""
    require(con, "users", "orders", needed_for="the segment case study (chapter 3)")
    pred, name_in, name_out = _segment(segment)
    win = _window(window_days)
    dend = _data_end(con) if data_end is None else pd.Timestamp(data_end)
    y, py = int(year), int(compare_year)
    df = query(con, f"""
    WITH u AS (
        SELECT user_id, signup_ts, referrer_user_id, coalesce(({pred}), FALSE) AS in_segment
        FROM users
    ), fo AS (
        SELECT DISTINCT u.user_id FROM u JOIN orders o ON o.user_id = u.user_id
        WHERE o.status <> 'cancelled' AND o.order_ts >= u.signup_ts
          AND o.order_ts < u.signup_ts + {win}
          AND year(u.signup_ts) = {y} AND u.signup_ts + {win} <= {ts_literal(dend)}
    ), nu AS (
        SELECT in_segment,
               count(*) FILTER (WHERE year(signup_ts) = {y}) AS new_users,
               count(*) FILTER (WHERE year(signup_ts) = {py}) AS new_users_prev,
               count(*) FILTER (WHERE year(signup_ts) = {y} AND referrer_user_id IS NOT NULL)
                   AS referred,
               count(*) FILTER (WHERE year(signup_ts) = {y}
                                AND signup_ts + {win} <= {ts_literal(dend)}) AS observed,
               count(fo.user_id) AS first_orders
        FROM u LEFT JOIN fo USING (user_id) GROUP BY 1
    ), b AS (
        SELECT u.in_segment,
               count(DISTINCT o.user_id) FILTER (WHERE year(o.order_ts) = {y}) AS buyers,
               count(DISTINCT o.user_id) FILTER (WHERE year(o.order_ts) = {py}) AS buyers_prev
        FROM orders o JOIN u ON u.user_id = o.user_id
        WHERE o.status <> 'cancelled' GROUP BY 1
    )
    SELECT nu.*, coalesce(b.buyers, 0) AS buyers, coalesce(b.buyers_prev, 0) AS buyers_prev
    FROM nu LEFT JOIN b USING (in_segment)""")
    grid = pd.DataFrame({"in_segment": [True, False]})
    df["in_segment"] = df["in_segment"].astype(bool)
    df = grid.merge(df, on="in_segment", how="left").fillna(0)
    for c in ("new_users", "new_users_prev", "referred", "observed", "first_orders", "buyers",
              "buyers_prev"):
        df[c] = df[c].astype("int64")
    df.insert(0, "segment", np.where(df["in_segment"], name_in, name_out))
    total = df["new_users"].sum()
    df["new_user_share"] = df["new_users"] / total if total else np.nan
    df["new_users_growth"] = df["new_users"] / df["new_users_prev"].where(df["new_users_prev"] > 0) - 1
    df["referred_share"] = df["referred"] / df["new_users"].where(df["new_users"] > 0)
    df["first_order_rate"] = df["first_orders"] / df["observed"].where(df["observed"] > 0)
    df["buyers_growth"] = df["buyers"] / df["buyers_prev"].where(df["buyers_prev"] > 0) - 1
    k = segment_viral(con, segment, year, window_days, dend) if _has_sharing(con) else None
    if k is not None:
        kall = k[k["mechanism"] == "all"].set_index("in_segment")
        df["k_factor"] = df["in_segment"].map(kall["k_factor"])
        df["k_se"] = df["in_segment"].map(kall["k_se"])
    else:
        df["k_factor"] = df["k_se"] = np.nan
    df.attrs.update(segment=segment, window_days=window_days, data_end=str(dend))
    return df


def segment_compare(profile: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """The segment against the rest (two rows of :func:`segment_profile`), one row per measure
    the chapter compares: new_users_growth and buyers_growth (year-on-year growth of the
    counts, read as Poisson rates), referred_share and first_order_rate (shares: Newcombe
    interval, score test), k_factor (means with their k_se). Columns: metric, segment, rest
    (the two values), gap = segment − rest with its (1 − alpha) interval, p_value and
    significant — say "higher/lower" only when significant."""
    from .experiments import _verdict, change_ci, proportion_change
    p = profile.set_index("in_segment")
    if not {True, False} <= set(p.index):
        raise ValueError("segment_compare needs the two rows of segment_profile")
    i, o = p.loc[True], p.loc[False]
    rows = []
    for m, cur, prev in (("new_users_growth", "new_users", "new_users_prev"),
                         ("buyers_growth", "buyers", "buyers_prev")):
        gi, go = i[cur] / i[prev] - 1 if i[prev] else np.nan, o[cur] / o[prev] - 1 if o[prev] else np.nan
        # delta method on each rate ratio: Var(a/b) ≈ (a/b)² (1/a + 1/b) for Poisson counts
        var = lambda r: ((r[cur] / r[prev]) ** 2 * (1 / r[cur] + 1 / r[prev])
                         if r[cur] > 0 and r[prev] > 0 else np.nan)
        v = _verdict(float(gi - go), float(np.sqrt(var(i) + var(o))), alpha)
        rows.append({"metric": m, "segment": gi, "rest": go, **v})
    for m, x, n in (("referred_share", "referred", "new_users"),
                    ("first_order_rate", "first_orders", "observed")):
        v = proportion_change(i[x], i[n], o[x], o[n], alpha)
        rows.append({"metric": m, "segment": v.pop("value"), "rest": v.pop("prev"), **v})
    v = change_ci(i["k_factor"], i["k_se"], o["k_factor"], o["k_se"], alpha)
    rows.append({"metric": "k_factor", "segment": v.pop("value"), "rest": v.pop("prev"), **v})
    out = pd.DataFrame(rows).rename(columns={"change": "gap"})
    out.attrs.update(segment=profile.attrs.get("segment"), alpha=alpha)
    return out


def segment_k_gaps(seg_k: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """Per mechanism of a :func:`segment_viral` table: K of the segment and of the rest, gap
    (segment − rest) with its (1 − alpha) interval, p_value, significant. Name the mechanism
    with the largest gap only when :func:`fission.metrics.experiments.significant_leader`
    says it leads."""
    from .experiments import change_ci
    rows = []
    for m, g in seg_k.groupby("mechanism", sort=False):
        g = g.set_index("in_segment")
        if not {True, False} <= set(g.index):
            continue
        v = change_ci(g.loc[True, "k_factor"], g.loc[True, "k_se"], g.loc[False, "k_factor"],
                      g.loc[False, "k_se"], alpha)
        rows.append({"mechanism": m, "k_segment": v.pop("value"), "k_rest": v.pop("prev"), **v})
    out = pd.DataFrame(rows).rename(columns={"change": "gap"})
    out.attrs.update(segment=seg_k.attrs.get("segment"), alpha=alpha)
    return out


def _has_sharing(con) -> bool:
    from ._sql import has_table
    return has_table(con, "shares") and has_table(con, "share_visits")


# ------------------------------------------------------------------ viral amplification
def viral_amplification(k) -> np.ndarray | float:
    """Total users per seed user when every user brings ``k`` more on average:
    1 + k + k² + … = 1 / (1 − k) for 0 ≤ k < 1, infinite for k ≥ 1 (self-sustaining growth)."""
    k_arr = np.asarray(k, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(k_arr < 1, 1.0 / (1.0 - k_arr), np.inf)
    return float(out) if out.ndim == 0 else out


# ------------------------------------------------------------------ cascades
def sv_reference(sizes) -> pd.DataFrame:
    """Structural virality of the two extreme trees of ``n`` users: a star (one sharer
    broadcasting to n − 1 friends) 2(n − 1)/n, and a chain (each user refers the next)
    (n + 1)/3. Every tree of n users lies between them."""
    n = np.asarray(sizes, dtype=float)
    if (n < 2).any():
        raise ValueError("a tree needs at least 2 users")
    return pd.DataFrame({"size": n.astype("int64"), "star": 2 * (n - 1) / n, "chain": (n + 1) / 3})


def virality_by_size(stats: pd.DataFrame, min_trees: int = 10, q=(0.1, 0.9)) -> pd.DataFrame:
    """Structural virality per exact tree size (rows of :func:`cascade_stats`): trees, users,
    mean, median and the ``q`` quantiles; sizes with fewer than ``min_trees`` trees are left
    out (so no single tree is shown) and counted in ``attrs['dropped_trees']``."""
    g = stats.groupby("size")["structural_virality"]
    out = pd.DataFrame({"trees": g.size(), "sv_mean": g.mean(), "sv_median": g.median(),
                        "sv_lo": g.quantile(q[0]), "sv_hi": g.quantile(q[1])}).reset_index()
    out["users"] = out["size"] * out["trees"]
    keep = out["trees"] >= min_trees
    dropped = int(out.loc[~keep, "trees"].sum())
    out = out[keep].reset_index(drop=True)
    out.attrs.update(dropped_trees=dropped, min_trees=min_trees, q=q)
    return out


def cascade_summary(stats: pd.DataFrame, years=None, large: int = 10) -> pd.DataFrame:
    """Per year of the root's signup (``root_month`` from :func:`referral_cascades`): trees,
    users in them, mean_size, share_users_large (share of those users in trees of ≥ ``large``
    users), mean_depth, share_deep (share of trees with depth ≥ 2, i.e. referred users who
    referred again) and sv_mean (mean structural virality). ``years`` limits and orders the
    rows (missing years give zero trees). Trees cut at an observation window
    (:func:`fission.metrics.cascades.referral_cascades` with ``window_days``) count only when
    ``complete``: a root whose window outlasts the data has not had the time to grow, so
    comparing it would understate the later year (``attrs['incomplete_trees']`` counts them)."""
    if "root_month" not in stats.columns:
        raise KeyError("cascade_summary needs root_month: use referral_cascades(with_root_info=True)")
    stats, incomplete = _complete_trees(stats)
    s = stats.assign(root_year=pd.to_datetime(stats["root_month"]).dt.year,
                     large_users=np.where(stats["size"] >= large, stats["size"], 0),
                     deep=(stats["depth"] >= 2).astype(int))
    g = s.groupby("root_year")
    out = pd.DataFrame({"trees": g.size(), "users": g["size"].sum(),
                        "large_users": g["large_users"].sum(), "mean_depth": g["depth"].mean(),
                        "deep": g["deep"].sum(), "sv_mean": g["structural_virality"].mean()})
    if years is not None:
        out = out.reindex(list(years))
        out[["trees", "users", "large_users", "deep"]] = out[["trees", "users", "large_users",
                                                              "deep"]].fillna(0)
    out = out.rename_axis("root_year").reset_index()
    for c in ("trees", "users", "large_users", "deep"):
        out[c] = out[c].astype("int64")
    trees = out["trees"].where(out["trees"] > 0)
    out["mean_size"] = out["users"] / trees
    out["share_users_large"] = out["large_users"] / out["users"].where(out["users"] > 0)
    out["share_deep"] = out["deep"] / trees
    out.attrs.update(large=large, incomplete_trees=incomplete,
                     window_days=stats.attrs.get("window_days"))
    return out


def _complete_trees(stats: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    if "complete" not in stats.columns:
        return stats, 0
    keep = stats["complete"].astype(bool)
    out = stats[keep]
    out.attrs = stats.attrs
    return out, int((~keep).sum())


#: cascade_change metrics → (per-tree numerator, per-tree denominator) of a ratio of sums
_CASCADE_RATIOS = {
    "mean_size": (lambda s, L: s["size"], lambda s, L: np.ones(len(s))),
    "share_users_large": (lambda s, L: s["size"].where(s["size"] >= L, 0), lambda s, L: s["size"]),
    "share_deep": (lambda s, L: (s["depth"] >= 2).astype(float), lambda s, L: np.ones(len(s))),
    "mean_depth": (lambda s, L: s["depth"], lambda s, L: np.ones(len(s))),
    "sv_mean": (lambda s, L: s["structural_virality"], lambda s, L: np.ones(len(s))),
}


def cascade_change(stats: pd.DataFrame, year: int, compare_year: int, large: int = 10,
                   alpha: float = 0.05) -> pd.DataFrame:
    """Year-on-year change of :func:`cascade_summary`'s measures (mean_size,
    share_users_large, share_deep, mean_depth, sv_mean) between the trees of roots who signed
    up in ``year`` and in ``compare_year``, complete trees only (see :func:`cascade_summary`),
    each with its (1 − alpha) interval clustered by tree (a tree's users grow together):
    value, prev, change, se, ci_lo, ci_hi, p_value, significant."""
    from .experiments import ratio_change
    if "root_month" not in stats.columns:
        raise KeyError("cascade_change needs root_month: use referral_cascades(with_root_info=True)")
    st, incomplete = _complete_trees(stats)
    ry = pd.to_datetime(st["root_month"]).dt.year
    a, b = st[ry == int(year)], st[ry == int(compare_year)]
    pad = lambda v, before, after: np.r_[np.zeros(before), np.asarray(v, float), np.zeros(after)]
    rows = []
    for name, (num, den) in _CASCADE_RATIOS.items():
        r = ratio_change(pad(num(a, large), 0, len(b)), pad(den(a, large), 0, len(b)),
                         pad(num(b, large), len(a), 0), pad(den(b, large), len(a), 0), alpha)
        rows.append({"metric": name, **r})
    out = pd.DataFrame(rows)
    out.attrs.update(year=int(year), compare_year=int(compare_year), large=large,
                     trees=len(a), trees_prev=len(b), incomplete_trees=incomplete,
                     window_days=stats.attrs.get("window_days"))
    return out


# ------------------------------------------------------------------ growth accounting per year
def annual_growth(ga: pd.DataFrame, year: int) -> pd.Series:
    """Sum of a :func:`fission.metrics.growth.growth_accounting` table over the periods starting
    in ``year``: periods, mean_active, new, retained, resurrected, churned, quick_ratio
    = (new + resurrected) / churned, retention_rate = retained / Σ active of the previous
    periods, and periods_qr_above_1 (periods whose quick ratio ≥ 1). The first row's previous
    period is the baseline period of a truncated history (``attrs["baseline_active"]``), so its
    retained users are divided by the baseline's actives like every other period's."""
    prev_active = ga["active"].shift(1)
    base = ga.attrs.get("baseline_active")
    if len(ga) and base is not None:
        prev_active.iloc[0] = base
    m = pd.to_datetime(ga["period"]).dt.year == int(year)
    d = ga[m]
    s = {k: int(d[k].sum()) for k in ("new", "retained", "resurrected", "churned")}
    pa = prev_active[m].sum()
    return pd.Series({
        "periods": int(m.sum()),
        "mean_active": float(d["active"].mean()) if len(d) else np.nan,
        **s,
        "quick_ratio": (s["new"] + s["resurrected"]) / s["churned"] if s["churned"] else np.nan,
        "retention_rate": s["retained"] / pa if pa else np.nan,
        "periods_qr_above_1": int((d["quick_ratio"] >= 1).sum()),
    }, name=int(year))


# ------------------------------------------------------------------ campaign uplift per type
def uplift_by_type(uplift: pd.DataFrame, metric: str = "signups", year: int | None = None,
                   by: str = "type", alpha: float = 0.05) -> pd.DataFrame:
    """Average campaign uplift per ``by`` group from :func:`campaign_uplift` rows of one
    ``metric`` (campaigns starting in ``year`` if given). Campaigns of a group sharing the
    same window have identical platform-wide uplift and count once (``windows``). Per group:
    campaigns, windows, mean_days, mean_rel_lift over windows with a Student-t (1 − alpha) CI
    from the spread across windows (NaN for one window), share_sig_pos / share_sig_neg
    (windows whose own CI lies above / below 0). Campaigns without an estimate (``rel_lift``
    NaN: not estimable by :func:`campaign_uplift`) are left out."""
    d = uplift[(uplift["metric"] == metric) & uplift["rel_lift"].notna()]
    if year is not None:
        d = d[pd.to_datetime(d["start"]).dt.year == int(year)]
    rows = []
    for key, g in d.groupby(by, sort=False):
        w = g.drop_duplicates(["start", "end"])
        n = len(w)
        mean = float(w["rel_lift"].mean())
        se = float(w["rel_lift"].std(ddof=1) / np.sqrt(n)) if n > 1 else np.nan
        z = _stats.t.ppf(1 - alpha / 2, n - 1) if n > 1 else np.nan   # few windows: Student t
        rows.append({by: key, "campaigns": int(g["campaign_id"].nunique()), "windows": n,
                     "mean_days": float(w["days"].mean()), "mean_rel_lift": mean,
                     "ci_lo": mean - z * se, "ci_hi": mean + z * se,
                     "share_sig_pos": float((w["rel_lo"] > 0).mean()),
                     "share_sig_neg": float((w["rel_hi"] < 0).mean())})
    out = pd.DataFrame(rows, columns=[by, "campaigns", "windows", "mean_days", "mean_rel_lift",
                                      "ci_lo", "ci_hi", "share_sig_pos", "share_sig_neg"])
    out.attrs.update(metric=metric, alpha=alpha)
    return out.sort_values("mean_rel_lift", ascending=False, ignore_index=True)


def campaign_kol_tier(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """campaign_id → the tier (head, mid, tail) of the campaign's KOL (KOL campaigns only)."""
    require(con, "campaigns", "kols", needed_for="KOL campaign uplift by tier (chapter 3)")
    return query(con, """SELECT c.campaign_id, k.tier AS kol_tier FROM campaigns c
                         JOIN kols k ON k.kol_id = c.kol_id ORDER BY c.campaign_id""")
