"""Chapter 1 (行业背景与裂变营销策略): every number, table and decision the chapter publishes.

Platform totals (GMV, orders, users, buyers, costs) are a census: they are stated without
intervals and the facts say so (``census``). Rates and shares that are compared (a tier
group's share of new users year on year, the mechanisms' visit→sign-up rates) carry a 95%
interval and a ``significant`` flag; a mechanism is named as leading only when it is
significantly ahead of the runner-up. The acquisition cost is the full cost (campaign spend
plus every incentive, :mod:`fission.metrics.incentives`), the same ledger chapter 2 uses.
"""
from __future__ import annotations

import pandas as pd

from .. import coverage, keyfigures
from ..metrics import funnel, incentives, overview, periods, privacy

LOW_TIERS = (3, 4, 5)          # 三线及以下: where price-led mechanisms spread
YOUNG = ("18-24", "25-30")


def _market(con) -> dict:
    m = overview.market_trend(con)
    first, latest = m.iloc[0], m.iloc[-1]
    years = int(latest.year - first.year)
    y2020 = m[m.year == 2020]
    return {
        "rows": m[["year", "market_size_cny", "growth"]],
        "first": {"year": int(first.year), "size": float(first.market_size_cny)},
        "latest": {"year": int(latest.year), "size": float(latest.market_size_cny),
                   "growth": float(latest.growth)},
        "cagr": (latest.market_size_cny / first.market_size_cny) ** (1 / years) - 1 if years else None,
        "y2020": None if y2020.empty else {"size": float(y2020.market_size_cny.iloc[0]),
                                           "growth": float(y2020.growth.iloc[0])},
    }


def _kpis(con, year, compare_year, period: dict) -> dict:
    k = overview.yearly_kpis(con, year, compare_year)
    unit = {"gmv": "yuan", "aov": "yuan", "orders": "count", "new_users": "count", "buyers": "count"}
    k["unit"] = k["metric"].map(unit)
    if not period["comparable"]:       # part-years are not set against each other
        k["previous"], k["yoy"] = None, None
    by = k.set_index("metric")
    # GMV = buyers × orders per buyer × AOV: name the larger of the two growth drivers shown
    driver = None if not period["comparable"] else \
        "buyers" if by.loc["buyers", "yoy"] > by.loc["aov", "yoy"] else "aov"
    return {"rows": k[["metric", "unit", "value", "previous", "yoy"]],
            **{m: {"value": float(by.loc[m, "value"]), "previous": by.loc[m, "previous"],
                   "yoy": by.loc[m, "yoy"]} for m in unit},
            "driver": driver, "census": True, "comparable": period["comparable"]}


def _monthly(con, year, compare_year, period: dict) -> dict:
    m = overview.monthly_gmv(con, [compare_year, year])
    start, end = pd.Timestamp(period["start"]), pd.Timestamp(period["end"])
    first = pd.to_datetime(dict(year=m.year, month=m.month, day=1))
    m["complete"] = periods.complete_months(start, end, first).to_numpy()
    # the peak and the low are named among whole months only: a part-month is not a low season
    cur = m[(m.year == year) & m.complete].set_index("month").gmv
    return {"rows": m, "peak_month": int(cur.idxmax()), "peak_gmv": float(cur.max()),
            "peak_to_mean": float(cur.max() / cur.mean()), "low_month": int(cur.idxmin()),
            "low_gmv": float(cur.min()), "partial": [int(x) for x in m[(m.year == year) & ~m.complete].month]}


def _tiers(con, year, compare_year) -> dict:
    t = overview.users_by_tier(con, year, compare_year)
    low = t[t.city_tier.isin(LOW_TIERS)]
    ch = overview.diff_proportions(low.new_users.sum(), t.total.iloc[0],
                                   low.new_users_prev.sum(), t.total_prev.iloc[0])
    t1 = t[t.city_tier == 1].iloc[0]
    return {"rows": t[["city_tier", "new_users", "new_users_prev", "share", "share_prev", "yoy",
                       "diff", "diff_lo", "diff_hi", "significant"]],
            "low_share": float(ch["p1"]), "low_share_prev": float(ch["p2"]),
            "low_share_change": {k: ch[k] for k in ("diff", "lo", "hi", "p_value", "significant")},
            "low_growth": float(low.new_users.sum() / low.new_users_prev.sum() - 1),
            "tier1_growth": float(t1.yoy)}


def _ages(con, year, min_group_size) -> dict:
    a = overview.buyers_by_age(con, year)
    a["age_band"] = a["age_band"].astype(str)
    shown, hidden = privacy.suppress_small(a, "buyers", min_group_size)
    young = a[a.age_band.isin(YOUNG)]
    top = a.sort_values("buyers", ascending=False).iloc[0]
    return {"rows": shown[["age_band", "buyers", "buyer_share", "gmv", "gmv_share"]],
            "hidden": hidden, "young_buyer_share": float(young.buyer_share.sum()),
            "young_gmv_share": float(young.gmv_share.sum()), "top_band": str(top.age_band)}


def _acquisition(con, year, min_group_size) -> dict:
    a = overview.acquisition_by_channel(con, year)
    shown, hidden = privacy.suppress_small(a, "new_users", min_group_size)
    fis = a[a.channel.isin(incentives.FISSION_CHANNELS)]
    costed = shown[shown.total_cost > 0].sort_values("cac")
    return {
        "rows": shown[["channel", "new_users", "share", "campaign_spend", "incentives",
                       "total_cost", "cac", "conversion_30d", "conversion_lo", "conversion_hi"]],
        "hidden": hidden, "conversion_days": overview.CONVERSION_DAYS,
        "fission_share": float(fis.new_users.sum() / a.new_users.sum()),
        "fission_cost": float(fis.total_cost.sum()),
        "fission_incentives": float(fis.incentives.sum()),
        "fission_cac": float(fis.total_cost.sum() / fis.new_users.sum()) if fis.new_users.sum() else None,
        "cheapest": {"channel": costed.channel.iloc[0], "cac": float(costed.cac.iloc[0])}
        if len(costed) else None,
        "dearest": {"channel": costed.channel.iloc[-1], "cac": float(costed.cac.iloc[-1])}
        if len(costed) else None,
        "census": True,
    }


def _mechanisms(con, year, min_group_size) -> dict:
    m = overview.sharing_by_mechanism(con, year)
    m, hidden = privacy.suppress_small(m, "signups", min_group_size)
    # sharing_by_mechanism names the funnel's visit→sign-up rate signup_rate
    lead = overview.leaders(m.rename(columns={"signup_rate": "visit_to_signup",
                                              "signup_rate_se": "visit_to_signup_se"}),
                            "mechanism", "visit_to_signup", funnel.rate_compare("visit_to_signup"))
    most = m.iloc[0] if len(m) else None
    gap = lead["top_vs_next"] or {}
    return {"rows": m[["mechanism", "shares", "visits", "signups", "first_orders", "signup_rate"]],
            "hidden": hidden,
            "most_signups": None if most is None else {"mechanism": most.mechanism,
                                                       "signups": int(most.signups)},
            "best_rate": {"mechanism": lead["top"], "rate": lead["top_value"],
                          "runner_up": lead["order"][1] if len(lead["order"]) > 1 else None,
                          "significant": lead["top_significant"],
                          "diff": gap.get("diff"), "lo": gap.get("lo"), "hi": gap.get("hi")}}


_ORDERS = ["order_id", "user_id", "order_ts", "gmv", "status"]
#: the tables and columns each section needs (fission.coverage): with partial data the sections
#: whose needs are met are built, the others replaced by a notice
NEEDS = {
    "market": {"market": ["year", "market_size_cny", "growth"]},
    "kpi": {"orders": _ORDERS, "users": ["user_id", "signup_ts"]},
    "users": {"users": ["user_id", "signup_ts", "city_tier", "age_band"], "orders": _ORDERS},
    "acquisition": {"users": ["user_id", "signup_ts", "acquisition_channel"], "orders": _ORDERS,
                    "shares": ["share_id", "share_ts", "mechanism"],
                    "share_visits": ["share_id", "visit_ts", "signup_user_id", "first_order_id"]},
}


def facts(con, year: int, compare_year: int, min_group_size: int = 50) -> dict:
    """Every number, table and decision of chapter 1 for ``year`` against ``compare_year``
    (of the sections the data can build: ``missing`` names the others)."""
    missing = coverage.gaps(con, NEEDS)
    f = {"missing": missing}
    figs = []
    if "market" not in missing:
        f["market"] = _market(con)
    if "kpi" not in missing:
        f["period"] = periods.edition_periods(con, year, compare_year)
        f["kpi"] = _kpis(con, year, compare_year, f["period"])
        f["monthly"] = _monthly(con, year, compare_year, f["period"])
        k = f["kpi"]
        figs += [keyfigures.figure(m, k[m]["value"], "yuan" if m == "gmv" else "count", k[m]["previous"])
                 for m in ("gmv", "orders", "new_users", "buyers")]
    if "users" not in missing:
        f["tiers"], f["ages"] = _tiers(con, year, compare_year), _ages(con, year, min_group_size)
        low = f["tiers"]["low_share_change"]
        figs.append(keyfigures.figure("low_tier_share", f["tiers"]["low_share"], "rate",
                                      f["tiers"]["low_share_prev"], lo=low["lo"], hi=low["hi"],
                                      significant=low["significant"]))
    if "acquisition" not in missing:
        f["acquisition"] = _acquisition(con, year, min_group_size)
        f["mechanisms"] = _mechanisms(con, year, min_group_size)
        figs += [keyfigures.figure("fission_share", f["acquisition"]["fission_share"], "rate"),
                 keyfigures.figure("fission_cac", f["acquisition"]["fission_cac"], "yuan")]
    order = ["gmv", "orders", "new_users", "buyers", "fission_share", "fission_cac", "low_tier_share"]
    f["keyfigures"] = sorted(figs, key=lambda k: order.index(k["id"]))
    return f

