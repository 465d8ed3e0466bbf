"""Supply chain and logistics (chapter 8): a supplier scorecard with empirical-Bayes shrinkage,
stock-outs and a reorder-point policy with a back-test, a weekly demand forecast back-tested
against a seasonal-naive baseline, and delivery times by carrier, city tier and region.

Censoring: a purchase order promised after the data end is still open and left out; a shipment
less than ``DELIVERY_HORIZON_DAYS`` before the data end may not be delivered yet and is left out.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
from scipy import optimize, stats

from ._sql import data_end, query, require
from .experiments import shopping_calendar
from .overview import proportion_ci

DELIVERY_HORIZON_DAYS = 20
# Province → the seven logistics regions of the warehouses (the usual 大区 split of China).
REGION_OF = {p: r for r, ps in {
    "east": ["上海", "江苏", "浙江", "安徽", "山东", "福建", "江西"],
    "south": ["广东", "广西", "海南"],
    "north": ["北京", "天津", "河北", "山西", "内蒙古"],
    "central": ["河南", "湖北", "湖南"],
    "southwest": ["四川", "重庆", "贵州", "云南", "西藏"],
    "northwest": ["陕西", "甘肃", "青海", "宁夏", "新疆"],
    "northeast": ["辽宁", "吉林", "黑龙江"]}.items() for p in ps}


def _require(con, *tables):
    require(con, *tables, needed_for="chapter 8 (供应链管理与物流优化)")


def _year(year: int) -> tuple[str, str]:
    return f"{year}-01-01", f"{year + 1}-01-01"


# ------------------------------------------------------------------ empirical Bayes
# A beta-binomial fit by maximum likelihood with scipy: small enough to write here, and no
# maintained package in the environment does empirical-Bayes shrinkage of proportions.

MAX_PRIOR_WEIGHT = 1e7    # a + b beyond this: the fit found no between-group spread


def beta_binomial_prior(x, n) -> tuple[float, float]:
    """Beta(a, b) prior of the groups' rates, fitted by maximum likelihood of the
    beta-binomial on successes ``x`` out of ``n`` per group."""
    x, n = np.asarray(x, float), np.asarray(n, float)
    keep = n > 0
    x, n = x[keep], n[keep]
    if len(x) < 3:
        raise ValueError(f"empirical Bayes needs at least 3 groups with data, got {len(x)}")
    p = x.sum() / n.sum()

    def nll(t):
        a, b = np.exp(t)
        return -np.sum(stats.betabinom.logpmf(x, n, a, b))
    m = np.clip(p, 1e-4, 1 - 1e-4)
    best = min((optimize.minimize(nll, np.log([m * k, (1 - m) * k]), method="Nelder-Mead")
                for k in (2.0, 20.0, 200.0)), key=lambda r: r.fun)
    a, b = np.exp(best.x)
    if a + b > MAX_PRIOR_WEIGHT:        # no spread between groups: all rates are the pooled one
        a, b = p * MAX_PRIOR_WEIGHT, (1 - p) * MAX_PRIOR_WEIGHT
    return float(a), float(b)


def shrink(x, n, a: float, b: float, alpha: float = 0.05) -> pd.DataFrame:
    """Posterior mean and (1−alpha) equal-tailed interval of each group's rate under Beta(a, b)."""
    x, n = np.asarray(x, float), np.asarray(n, float)
    post_a, post_b = a + x, b + n - x
    return pd.DataFrame({"shrunk": post_a / (post_a + post_b),
                         "post_lo": stats.beta.ppf(alpha / 2, post_a, post_b),
                         "post_hi": stats.beta.ppf(1 - alpha / 2, post_a, post_b)})


# ------------------------------------------------------------------ suppliers
def purchase_orders(con, year: int) -> pd.DataFrame:
    """The year's purchase orders promised before the data end: late (received after the
    promise, or not received by the data end), lead days (actual and promised), defects."""
    _require(con, "purchase_orders", "suppliers")
    a, b = _year(year)
    end = data_end(con)
    df = query(con, f"""
        SELECT p.supplier_id, p.item_id, p.qty, p.defect_qty, s.category, s.region,
               (date_diff('microsecond', p.ordered_ts, p.promised_ts) / 1e6) / 86400.0 AS promised_days,
               (date_diff('microsecond', p.ordered_ts, p.received_ts) / 1e6) / 86400.0 AS lead_days,
               coalesce(p.received_ts > p.promised_ts, TRUE) AS late
        FROM purchase_orders p JOIN suppliers s USING (supplier_id)
        WHERE p.ordered_ts >= '{a}' AND p.ordered_ts < '{b}'
          AND p.promised_ts < TIMESTAMP '{end}'""")
    bad = df.defect_qty > df.qty
    if bad.any():
        raise ValueError(f"purchase_orders: defect_qty > qty in {int(bad.sum())} rows "
                         "(rule: defect_qty <= qty)")
    return df


def supplier_scorecard(con, year: int, alpha: float = 0.05) -> pd.DataFrame:
    """Per supplier: POs, late rate (raw with Wilson interval, and shrunk towards the
    platform by empirical Bayes with its posterior interval), mean actual against promised
    lead days, defect rate per unit (raw, Wilson, shrunk), and ``act``: the suppliers whose
    shrunk late or defect rate is credibly above the platform's level (the prior mean: the
    posterior interval lies above it)."""
    df = purchase_orders(con, year)
    g = df.groupby(["supplier_id", "category", "region"]).agg(
        pos=("late", "size"), late=("late", "sum"), units=("qty", "sum"),
        defects=("defect_qty", "sum"), lead_days=("lead_days", "mean"),
        promised_days=("promised_days", "mean")).reset_index()
    g["late_rate"] = g.late / g.pos
    g["defect_rate"] = g.defects / g.units
    out = [g]
    for x, n, k in (("late", "pos", "late"), ("defects", "units", "defect")):
        ci = [proportion_ci(a, b, alpha) for a, b in zip(g[x], g[n])]
        a, b = beta_binomial_prior(g[x], g[n])
        s = shrink(g[x], g[n], a, b, alpha).add_prefix(f"{k}_")
        s[f"{k}_lo"], s[f"{k}_hi"] = [c[0] for c in ci], [c[1] for c in ci]
        s[f"{k}_prior_mean"] = a / (a + b)
        out.append(s)
    sc = pd.concat(out, axis=1)
    sc["late_platform"] = sc.late.sum() / sc.pos.sum()
    sc["defect_platform"] = sc.defects.sum() / sc.units.sum()
    # credibly worse: the posterior interval lies above the prior mean (the platform's level
    # the rates shrink towards); a margin keeps rounding from flagging a fully pooled group
    sc["late_flag"] = sc.late_post_lo > sc.late_prior_mean * (1 + 1e-6)
    sc["defect_flag"] = sc.defect_post_lo > sc.defect_prior_mean * (1 + 1e-6)
    sc["act"] = sc.late_flag | sc.defect_flag
    sc["lead_gap_days"] = sc.lead_days - sc.promised_days
    return sc.sort_values("late_shrunk", ascending=False).reset_index(drop=True)


# ------------------------------------------------------------------ demand and inventory
def _weeks(con):
    """The snapshot calendar: week k ends on the k-th snapshot date (inclusive)."""
    _require(con, "inventory")
    d = pd.to_datetime(query(con, "SELECT DISTINCT snapshot_date FROM inventory ORDER BY 1").iloc[:, 0])
    return d


def weekly_demand(con) -> pd.DataFrame:
    """Units sold (non-cancelled orders) per item × warehouse × snapshot week (the week ending
    on the snapshot date), over the whole data."""
    _require(con, "orders", "order_items", "items")
    snaps = _weeks(con)
    start = snaps.iloc[0] - pd.Timedelta(days=6)
    df = query(con, f"""
        SELECT oi.item_id, o.warehouse_id, i.category,
               floor(datediff('day', DATE '{start.date()}', o.order_ts::DATE) / 7)::INT AS week,
               sum(oi.qty) AS units
        FROM orders o JOIN order_items oi USING (order_id) JOIN items i USING (item_id)
        WHERE o.status <> 'cancelled' AND o.warehouse_id IS NOT NULL
          AND o.order_ts >= TIMESTAMP '{start}'
        GROUP BY ALL""")
    df = df[(df.week >= 0) & (df.week < len(snaps))]
    df["week_end"] = snaps.values[df.week.to_numpy()]
    return df


def stock_by_category(con, year: int, demand: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per category in the year: the stock-out rate (share of item × warehouse weekly
    snapshots with nothing on hand, among pairs that sell), and days of cover (units on hand
    ÷ average daily units sold)."""
    demand = weekly_demand(con) if demand is None else demand
    a, b = _year(year)
    inv = query(con, f"""
        SELECT v.snapshot_date, v.item_id, v.warehouse_id, v.on_hand, i.category
        FROM inventory v JOIN items i USING (item_id)
        WHERE v.snapshot_date >= '{a}' AND v.snapshot_date < '{b}'""")
    d = demand[(demand.week_end >= a) & (demand.week_end < b)]
    sold = d.groupby("category").units.sum()
    weeks = d.week.nunique()
    g = inv.groupby("category").agg(snapshots=("on_hand", "size"),
                                    stockouts=("on_hand", lambda s: int((s == 0).sum())),
                                    on_hand=("on_hand", "mean")).reset_index()
    g["stockout_rate"] = g.stockouts / g.snapshots
    ci = [proportion_ci(x, n) for x, n in zip(g.stockouts, g.snapshots)]
    g["lo"], g["hi"] = [c[0] for c in ci], [c[1] for c in ci]
    pairs = inv.groupby("category").apply(lambda x: x[["item_id", "warehouse_id"]].drop_duplicates().shape[0],
                                          include_groups=False)
    g["daily_units"] = g.category.map(sold / (weeks * 7)).fillna(0)
    g["cover_days"] = g.on_hand * g.category.map(pairs) / g.daily_units.replace(0, np.nan)
    return g.sort_values("stockout_rate", ascending=False).reset_index(drop=True)


def abc_class(units: pd.Series) -> pd.Series:
    """ABC class of items by units sold: A the items making the first 80 % of units, B the
    next 15 %, C the rest."""
    s = units.sort_values(ascending=False)
    share = s.cumsum() / s.sum()
    cls = np.where(share.shift(fill_value=0) < 0.8, "A", np.where(share.shift(fill_value=0) < 0.95, "B", "C"))
    return pd.Series(cls, index=s.index).reindex(units.index)


def _lead_weeks(con, year: int) -> pd.DataFrame:
    """Per item: mean and sd of the actual lead time (weeks) of its received POs in the year."""
    a, b = _year(year)
    df = query(con, f"""
        SELECT item_id, (date_diff('microsecond', ordered_ts, received_ts) / 1e6) / 604800.0 AS lead
        FROM purchase_orders WHERE received_ts IS NOT NULL
          AND ordered_ts >= '{a}' AND ordered_ts < '{b}'""")
    return df.groupby("item_id").lead.agg(lead_mean="mean", lead_sd="std", lead_n="size")


def reorder_policy(con, fit_year: int, service_level: float = 0.95,
                   demand: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per item × warehouse, from ``fit_year``'s weekly demand (mean d, sd σ_d) and its
    item's lead times (mean L, sd σ_L, weeks): safety stock z·√(L σ_d² + d² σ_L²) at the
    ``service_level`` (cycle service level, z its normal quantile), reorder point d·L + SS."""
    if not 0.5 < service_level < 1:
        raise ValueError(f"service_level must be in (0.5, 1), got {service_level}")
    demand = weekly_demand(con) if demand is None else demand
    a, b = _year(fit_year)
    d = demand[(demand.week_end >= a) & (demand.week_end < b)]
    weeks = sorted(d.week.unique())
    wide = d.pivot_table(index=["item_id", "warehouse_id"], columns="week", values="units",
                         aggfunc="sum", fill_value=0).reindex(columns=weeks, fill_value=0)
    pol = pd.DataFrame({"d": wide.mean(axis=1), "sd": wide.std(axis=1, ddof=1)}).reset_index()
    lead = _lead_weeks(con, fit_year)
    pol = pol.merge(lead, left_on="item_id", right_index=True, how="left")
    pol["lead_mean"] = pol.lead_mean.fillna(lead.lead_mean.median())
    pol["lead_sd"] = pol.lead_sd.fillna(lead.lead_sd.median())
    z = stats.norm.ppf(service_level)
    pol["safety"] = z * np.sqrt(pol.lead_mean * pol.sd ** 2 + pol.d ** 2 * pol.lead_sd ** 2)
    pol["rop"] = pol.d * pol.lead_mean + pol.safety
    units = d.groupby("item_id").units.sum()
    pol["cls"] = pol.item_id.map(abc_class(units))
    return pol


def current_policy(con, year: int) -> pd.DataFrame:
    """The (s, S) policy in place per item × warehouse, read off the year's snapshots: the
    inventory position (on hand + on order) after the weekly ordering is never below s (a
    position under s triggers an order up to S) and never above S, so s ≈ the lowest and
    S ≈ the highest position seen (``reorder_at``, ``order_up_to``)."""
    a, b = _year(year)
    return query(con, f"""
        SELECT item_id, warehouse_id, min(on_hand + on_order) AS reorder_at,
               max(on_hand + on_order) AS order_up_to
        FROM inventory WHERE snapshot_date >= '{a}' AND snapshot_date < '{b}'
        GROUP BY ALL""")


def replay(demand: np.ndarray, s: np.ndarray, S: np.ndarray, lead_weeks: np.ndarray,
           start: np.ndarray | None = None) -> dict:
    """Replay weekly demand [pairs, weeks] against a periodic-review (s, S) policy: each week
    stock arrives, demand is served from stock (lost when out), and when the inventory
    position falls below s an order brings it up to S, arriving ``lead_weeks`` later (rounded
    up). Returns the share of weeks ending with nothing on hand, mean units on hand, and the
    fill rate (units served / demanded)."""
    P, K = demand.shape
    L = np.maximum(np.ceil(lead_weeks).astype(int), 1)
    on_hand = (S if start is None else start).astype(float).copy()
    pipe = np.zeros((K + L.max() + 2, P))
    on_order = np.zeros(P)
    out = np.zeros((P, K), bool)
    held = np.zeros((P, K))
    served = 0.0
    for k in range(K):
        on_hand += pipe[k]
        on_order -= pipe[k]
        sold = np.minimum(on_hand, demand[:, k])
        served += sold.sum()
        on_hand -= sold
        pos = on_hand + on_order
        need = pos < s
        q = np.where(need, S - pos, 0.0)
        np.add.at(pipe, (k + L, np.arange(P)), q)
        on_order += q
        out[:, k] = on_hand <= 0
        held[:, k] = on_hand
    total = demand.sum()
    return {"stockout_rate": float(out.mean()), "on_hand": float(held.mean()),
            "fill_rate": float(served / total) if total else math.nan,
            "stockout_by_pair": out.mean(axis=1), "on_hand_by_pair": held.mean(axis=1)}


def policy_backtest(con, year: int, service_level: float = 0.95,
                    demand: pd.DataFrame | None = None) -> pd.DataFrame:
    """Back-test on ``year``: the recommended reorder points (fitted on the year before) and
    the current policy (read off the year's snapshots), both replayed on the year's actual
    weekly demand with the same order-up-to quantity (S − s of the current policy) and the
    items' observed lead times; the observed snapshots check the replay of the current policy.
    Per ABC class: pairs, stock-out rate and mean units on hand observed, replayed current and
    replayed recommended, fill rates, and mean safety stock and reorder point."""
    demand = weekly_demand(con) if demand is None else demand
    pol = reorder_policy(con, year - 1, service_level, demand)
    cur = current_policy(con, year)
    lead = _lead_weeks(con, year)
    a, b = _year(year)
    d = demand[(demand.week_end >= a) & (demand.week_end < b)]
    weeks = sorted(d.week.unique())
    pairs = cur.merge(pol, on=["item_id", "warehouse_id"], how="inner")
    wide = d.pivot_table(index=["item_id", "warehouse_id"], columns="week", values="units",
                         aggfunc="sum", fill_value=0).reindex(columns=weeks, fill_value=0)
    keys = pd.MultiIndex.from_frame(pairs[["item_id", "warehouse_id"]])
    dem = wide.reindex(keys, fill_value=0).to_numpy(float)
    L = pairs.item_id.map(lead.lead_mean).fillna(pairs.lead_mean).to_numpy()
    q = (pairs.order_up_to - pairs.reorder_at).clip(lower=1).to_numpy(float)
    rc = replay(dem, pairs.reorder_at.to_numpy(float), pairs.order_up_to.to_numpy(float), L)
    rec_s = np.ceil(pairs.rop.to_numpy())
    rr = replay(dem, rec_s, rec_s + q, L)
    inv = query(con, f"""
        SELECT item_id, warehouse_id, avg((on_hand = 0)::INT) AS obs_stockout, avg(on_hand) AS obs_on_hand
        FROM inventory WHERE snapshot_date >= '{a}' AND snapshot_date < '{b}' GROUP BY ALL""")
    pairs = pairs.merge(inv, on=["item_id", "warehouse_id"], how="left")
    pairs["cur_stockout"], pairs["cur_on_hand"] = rc["stockout_by_pair"], rc["on_hand_by_pair"]
    pairs["rec_stockout"], pairs["rec_on_hand"] = rr["stockout_by_pair"], rr["on_hand_by_pair"]
    pairs["units"] = dem.sum(axis=1)
    rows = []
    for cls, g in list(pairs.groupby("cls")) + [("all", pairs)]:
        rows.append({"cls": cls, "pairs": int(len(g)), "units": float(g.units.sum()),
                     "safety": float(g.safety.mean()), "rop": float(g.rop.mean()),
                     "s_current": float(g.reorder_at.mean()),
                     **{k: float(g[k].mean()) for k in ("obs_stockout", "obs_on_hand", "cur_stockout",
                                                        "cur_on_hand", "rec_stockout", "rec_on_hand")}})
    out = pd.DataFrame(rows)
    out.attrs.update(fill_current=rc["fill_rate"], fill_recommended=rr["fill_rate"],
                     service_level=service_level)
    return out


# ------------------------------------------------------------------ demand forecast
HOLIDAYS = {"spring_festival": ("spring_festival",),
            "spring_festival_around": ("spring_festival_pre", "spring_festival_post"),
            "618_warmup": ("618_warmup",), "618": ("06-16", "06-17", "06-18"),
            "double11_warmup": ("double11_warmup",), "double11": ("11-10", "11-11", "11-12")}


def holiday_weeks(week_ends: pd.Series) -> pd.DataFrame:
    """Per week (ending on the given dates): the share of its 7 days in each period of
    :data:`HOLIDAYS` — 春节 (its week, and the weeks around it), the 618 and 双11 warm-ups and
    peak days (days of :func:`fission.metrics.experiments.shopping_calendar`)."""
    we = pd.DatetimeIndex(week_ends)
    days = pd.date_range(we.min() - pd.Timedelta(days=6), we.max())
    cal = shopping_calendar(days)
    cols = {k: cal[list(v)].max(axis=1) for k, v in HOLIDAYS.items()}
    daily = pd.DataFrame(cols, index=days)
    return pd.DataFrame([daily.loc[w - pd.Timedelta(days=6):w].mean() for w in we]).reset_index(drop=True)


def weekly_category(con, demand: pd.DataFrame | None = None) -> pd.DataFrame:
    """Units per category per snapshot week (columns: category, week_end, units)."""
    demand = weekly_demand(con) if demand is None else demand
    g = demand.groupby(["category", "week_end"]).units.sum()
    full = pd.MultiIndex.from_product([sorted(demand.category.unique()),
                                       sorted(demand.week_end.unique())], names=["category", "week_end"])
    return g.reindex(full, fill_value=0).reset_index()


def wape(actual, forecast) -> float:
    a, f = np.asarray(actual, float), np.asarray(forecast, float)
    return float(np.abs(a - f).sum() / np.abs(a).sum()) if np.abs(a).sum() else math.nan


def wape_gain(actual, model, baseline, alpha: float = 0.05) -> dict:
    """WAPE(baseline) − WAPE(model) with a (1−alpha) interval from the paired weekly
    differences of absolute errors (t interval over the weeks, scaled by the actual total)."""
    a = np.asarray(actual, float)
    dlt = np.abs(a - np.asarray(baseline, float)) - np.abs(a - np.asarray(model, float))
    scale = np.abs(a).sum()
    gain = dlt.sum() / scale
    if len(dlt) < 2:
        return {"gain": gain, "gain_lo": math.nan, "gain_hi": math.nan}
    half = stats.t.ppf(1 - alpha / 2, len(dlt) - 1) * dlt.std(ddof=1) / math.sqrt(len(dlt)) * len(dlt) / scale
    return {"gain": float(gain), "gain_lo": float(gain - half), "gain_hi": float(gain + half)}


def _sarimax(y: np.ndarray, X: pd.DataFrame, X_new: pd.DataFrame, steps: int, alpha: float):
    """Log-demand SARIMAX(1,0,0) with a constant, a linear time trend and the holiday
    regressors (the trend as a regressor: statsmodels' own ``trend="ct"`` drifts quadratically
    with a near-unit AR term); the forecast and its interval back on the units scale (exp of
    the log forecast: the median)."""
    from statsmodels.tsa.statespace.sarimax import SARIMAX
    t = np.arange(len(y) + steps) / 52.0
    ex, ex_new = np.c_[X.to_numpy(float), t[:len(y)]], np.c_[X_new.to_numpy(float), t[len(y):]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = SARIMAX(np.log1p(y), exog=ex, order=(1, 0, 0), trend="c").fit(disp=False)
        fc = m.get_forecast(steps, exog=ex_new)
    ci = fc.conf_int(alpha=alpha)
    return np.expm1(fc.predicted_mean), np.expm1(ci[:, 0]), np.expm1(ci[:, 1])


def forecast_backtest(con, holdout: int = 12, horizon: int = 13, alpha: float = 0.05,
                      demand: pd.DataFrame | None = None) -> dict:
    """Per category: a SARIMAX on weekly log units with trend and holiday regressors
    (statsmodels), back-tested on the last ``holdout`` weeks against the seasonal-naive
    forecast (the same week a year earlier), WAPE for both; then refitted on all weeks to
    forecast the next ``horizon`` weeks with a (1−alpha) interval. The total is modelled as a
    series of its own (summing the categories' intervals would not give its interval).
    Returns ``backtest`` (per category and the total: WAPE of both, the share of held-out
    weeks inside the model's interval, and whether the model wins), ``series``
    (actual, back-test forecasts) and ``forecast`` (next weeks, per category)."""
    wc = weekly_category(con, demand)
    weeks = pd.DatetimeIndex(sorted(wc.week_end.unique()))
    if len(weeks) < 52 + holdout:
        raise ValueError(f"forecast back-test needs {52 + holdout} weeks of demand, got {len(weeks)}")
    future = pd.date_range(weeks[-1] + pd.Timedelta(days=7), periods=horizon, freq="7D")
    X_all = holiday_weeks(pd.Series(weeks.append(future)))
    X, X_fut = X_all.iloc[:len(weeks)], X_all.iloc[len(weeks):]
    keep = [c for c in X.columns if X[c].iloc[:-holdout].any()]
    tot = wc.groupby("week_end", as_index=False).units.sum().assign(category="total")
    wc = pd.concat([wc, tot], ignore_index=True)          # the total gets its own model
    rows, series, fut = [], [], []
    for cat, g in wc.groupby("category", sort=False):
        y = g.set_index("week_end").units.reindex(weeks).to_numpy(float)
        tr, te = y[:-holdout], y[-holdout:]
        f, lo, hi = _sarimax(tr, X[keep].iloc[:-holdout], X[keep].iloc[-holdout:], holdout, alpha)
        naive = y[-holdout - 52:-52]
        rows.append({"category": cat, "units": float(te.sum()), "wape_model": wape(te, f),
                     "wape_naive": wape(te, naive), **wape_gain(te, f, naive, alpha),
                     "covered": float(np.mean((te >= lo) & (te <= hi)))})
        series.append(pd.DataFrame({"category": cat, "week_end": weeks, "actual": y,
                                    "model": np.r_[np.full(len(tr), np.nan), f],
                                    "naive": np.r_[np.full(len(tr), np.nan), naive]}))
        f2, lo2, hi2 = _sarimax(y, X[keep], X_fut[keep], horizon, alpha)
        fut.append(pd.DataFrame({"category": cat, "week_end": future, "forecast": f2, "lo": lo2, "hi": hi2}))
    bt = pd.DataFrame(rows)
    s = pd.concat(series)
    bt["model_better"] = bt.gain_lo > 0
    return {"backtest": bt, "series": s, "forecast": pd.concat(fut), "holdout": holdout,
            "horizon": horizon, "regressors": keep}


# ------------------------------------------------------------------ logistics
def _deliveries_sql(con, year: int) -> str:
    """SQL of the year's delivered orders shipped ≥ ``DELIVERY_HORIZON_DAYS`` before the data
    end: carrier, the user's city tier, whether the warehouse is outside the user's region,
    and days from shipping to delivery and from order to delivery."""
    _require(con, "orders", "users")
    a, b = _year(year)
    end = data_end(con)
    region = "CASE u.province " + " ".join(f"WHEN '{p}' THEN '{r}'" for p, r in REGION_OF.items()) + " END"
    return f"""
        SELECT o.order_id, o.carrier, u.city_tier, u.province, {region} AS region,
               o.warehouse_id <> {region} AS cross_region,
               (date_diff('microsecond', o.shipped_ts, o.delivered_ts) / 1e6) / 86400.0 AS transit_days,
               (date_diff('microsecond', o.order_ts, o.delivered_ts) / 1e6) / 86400.0 AS delivery_days
        FROM orders o JOIN users u USING (user_id)
        WHERE o.delivered_ts IS NOT NULL AND o.order_ts >= '{a}' AND o.order_ts < '{b}'
          AND o.shipped_ts <= TIMESTAMP '{end}' - INTERVAL {DELIVERY_HORIZON_DAYS} DAY"""


def _check_regions(con, sql: str) -> None:
    bad = query(con, f"SELECT province, count(*) AS n FROM ({sql}) WHERE region IS NULL GROUP BY 1")
    if len(bad):
        ex = ", ".join(map(str, bad.province.head(5)))
        raise ValueError(f"users.province: {int(bad.n.sum())} delivered orders go to provinces "
                         f"with no logistics region (e.g. {ex}); add them to "
                         "fission.metrics.supply.REGION_OF")


def deliveries(con, year: int, max_rows: int | None = None) -> pd.DataFrame:
    """The delivered orders of :func:`_deliveries_sql` as a table (carrier, city_tier,
    cross_region, transit_days, delivery_days); with ``max_rows``, a reproducible sample of
    about that many (by the md5 of the order id) — enough for the transit model on any size."""
    sql = _deliveries_sql(con, year)
    _check_regions(con, sql)
    where = ""
    if max_rows:
        n = query(con, f"SELECT count(*) AS n FROM ({sql})").n.iloc[0]
        m = int(math.ceil(n / max_rows))
        # md5, not hash(): the same orders on every engine (fission.engine); its first 8 hex
        # digits below 16^8/m keep 1 in m, a filter that streams (no sort, unlike a LIMIT)
        where = (f"WHERE substr(md5(CAST(order_id AS VARCHAR)), 1, 8) < '{16 ** 8 // m:08x}'"
                 if m > 1 else "")
    return query(con, f"""SELECT carrier, city_tier, cross_region, transit_days, delivery_days
                          FROM ({sql}) {where}""")


def delivery_summary(con, year: int, late_days: float = 4.0) -> dict:
    """All of the year's delivered orders (counted in the database): orders, late (transit over
    ``late_days``), median transit and order-to-door days, and the cross-region share."""
    sql = _deliveries_sql(con, year)
    r = query(con, f"""SELECT count(*) AS orders, count(*) FILTER (WHERE transit_days > {late_days}) AS late,
                              median(transit_days) AS median_days, median(delivery_days) AS order_to_door,
                              avg(cross_region::INT) AS cross_share FROM ({sql})""").iloc[0]
    return {k: (int(v) if k in ("orders", "late") else float(v)) for k, v in r.items()}


def transit_model(df: pd.DataFrame) -> pd.DataFrame:
    """OLS of log transit days on carrier, city tier and cross-region shipping (statsmodels,
    robust errors): each term as a multiplier with its 95% interval. The carrier terms are the
    typical (geometric-mean) transit days to a tier-1 city from the home region; tier and
    cross-region terms multiply them."""
    import statsmodels.formula.api as smf
    d = df[df.transit_days > 0].copy()
    d["log_t"] = np.log(d.transit_days)
    d["tier"] = d.city_tier.astype(str)
    d["cross"] = d.cross_region.astype(int)
    m = smf.ols("log_t ~ 0 + C(carrier) + C(tier, Treatment('1')) + cross", d).fit(cov_type="HC1")
    ci = m.conf_int()
    out = pd.DataFrame({"term": m.params.index, "coef": np.exp(m.params.values),
                        "lo": np.exp(ci[0].values), "hi": np.exp(ci[1].values)})
    out["kind"] = np.select([out.term.str.startswith("C(carrier)"), out.term.str.startswith("C(tier")],
                            ["carrier", "tier"], "cross")
    out["level"] = out.term.str.extract(r"\[(?:T\.)?([^\]]+)\]")[0].fillna("cross")
    return out[["kind", "level", "coef", "lo", "hi"]]


def delivery_by(con, year: int, by: str, late_days: float = 4.0) -> pd.DataFrame:
    """Per ``by`` (carrier, city_tier or cross_region), counted in the database: orders, median,
    mean and 90th-percentile transit days, median order-to-door days, and the late rate
    (transit over ``late_days``) with its Wilson interval."""
    if by not in ("carrier", "city_tier", "cross_region"):
        raise ValueError(f"delivery_by: by must be carrier, city_tier or cross_region, got {by!r}")
    g = query(con, f"""
        SELECT {by}, count(*) AS orders, median(transit_days) AS median, avg(transit_days) AS mean,
               quantile_cont(transit_days, 0.9) AS p90,
               count(*) FILTER (WHERE transit_days > {late_days}) AS late,
               median(delivery_days) AS order_to_door
        FROM ({_deliveries_sql(con, year)}) GROUP BY 1 ORDER BY 1""")
    g["late_rate"] = g.late / g.orders
    ci = [proportion_ci(x, n) for x, n in zip(g.late, g.orders)]
    g["lo"], g["hi"] = [c[0] for c in ci], [c[1] for c in ci]
    return g
