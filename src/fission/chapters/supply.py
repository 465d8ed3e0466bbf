"""Chapter 8 (供应链管理与物流优化): every number, table and decision the chapter publishes.

Suppliers are scored on the edition year's purchase orders with empirical-Bayes shrinkage; a
supplier is named for action only when its shrunk late or defect rate is credibly above the
platform's. The reorder policy is fitted on the year before and back-tested on the edition year;
the demand forecast is back-tested on the last weeks against a seasonal-naive baseline; transit
times come from a log-linear model with robust intervals.
"""
from __future__ import annotations

import pandas as pd

from .. import coverage, keyfigures
from ..metrics import supply as M
from ..metrics.experiments import SPRING_FESTIVAL
from ..metrics.overview import diff_proportions

SCORECARD_ROWS = 12      # suppliers shown in the ranked table
MODEL_ROWS = 500_000     # delivered orders sampled for the transit model (intervals stay tight)


def _suppliers(con, year, compare_year) -> dict:
    sc = M.supplier_scorecard(con, year)
    prev = M.purchase_orders(con, compare_year)
    late = diff_proportions(sc.late.sum(), sc.pos.sum(), prev.late.sum(), len(prev))
    defect = diff_proportions(sc.defects.sum(), sc.units.sum(), prev.defect_qty.sum(), prev.qty.sum())
    act = sc[sc.act]
    return {"n": int(len(sc)), "pos": int(sc.pos.sum()),
            "late_rate": late["p1"], "late_prev": late["p2"], "late_change": _gap(late),
            "defect_rate": defect["p1"], "defect_prev": defect["p2"], "defect_change": _gap(defect),
            "lead_gap_days": float((sc.lead_gap_days * sc.pos).sum() / sc.pos.sum()),
            "min_pos": int(sc.pos.min()), "max_pos": int(sc.pos.max()),
            "max_shift": float((sc.late_rate - sc.late_shrunk).abs().max()),
            "late_prior_mean": float(sc.late_prior_mean.iloc[0]),
            "defect_prior_mean": float(sc.defect_prior_mean.iloc[0]),
            "late_flagged": int(sc.late_flag.sum()), "defect_flagged": int(sc.defect_flag.sum()),
            "both_flagged": int((sc.late_flag & sc.defect_flag).sum()), "act": int(len(act)),
            "priority": sc[sc.late_flag & sc.defect_flag].supplier_id.tolist(),
            "rows": sc.head(SCORECARD_ROWS)[[
                "supplier_id", "category", "region", "pos", "late_rate", "late_shrunk",
                "late_post_lo", "late_post_hi", "lead_days", "promised_days", "defect_rate",
                "defect_shrunk", "late_flag", "defect_flag"]],
            "all": sc[["supplier_id", "pos", "late_rate", "late_lo", "late_hi", "late_shrunk",
                       "late_post_lo", "late_post_hi", "defect_rate", "defect_shrunk", "act"]]}


def _gap(d: dict) -> dict:
    return {k: d.get(k) for k in ("diff", "lo", "hi", "significant")}


def _inventory(con, year, service_level, demand) -> dict:
    stock = M.stock_by_category(con, year, demand)
    bt = M.policy_backtest(con, year, service_level, demand)
    allr = bt[bt.cls == "all"].iloc[0]
    return {"by_category": stock, "service_level": service_level,
            "stockout_rate": float((stock.stockouts.sum()) / stock.snapshots.sum()),
            "cover_days": float((stock.cover_days * stock.daily_units).sum() / stock.daily_units.sum()),
            "top": stock.iloc[0].category, "top_rate": float(stock.iloc[0].stockout_rate),
            "top_separate": bool(stock.iloc[0].lo > stock.iloc[1].hi),
            "bottom": stock.iloc[-1].category, "bottom_rate": float(stock.iloc[-1].stockout_rate),
            "backtest": bt[bt.cls != "all"], "all": allr.to_dict(),
            "replay_error": float(allr.cur_stockout - allr.obs_stockout),
            "stock_change": float(allr.rec_on_hand / allr.cur_on_hand - 1),
            "fill_current": bt.attrs["fill_current"], "fill_recommended": bt.attrs["fill_recommended"]}


def _forecast(con, demand) -> dict:
    fb = M.forecast_backtest(con, demand=demand)
    bt = fb["backtest"]
    tot = bt[bt.category == "total"].iloc[0]
    cats = bt[bt.category != "total"]
    fut = fb["forecast"]
    ft = fut[fut.category == "total"]
    series = fb["series"]
    return {"holdout": fb["holdout"], "horizon": fb["horizon"], "backtest": cats,
            "total": tot.to_dict(), "model_better_all": bool(cats.model_better.all()),
            "model_better_n": int(cats.model_better.sum()),
            "worst": cats.sort_values("wape_model").iloc[-1].category,
            "worst_wape": float(cats.wape_model.max()),
            "next_quarter": {"units": float(ft.forecast.sum()), "lo": float(ft.lo.sum()),
                             "hi": float(ft.hi.sum()), "first_week": ft.week_end.min(),
                             "last_week": ft.week_end.max(),
                             "low_week": ft.week_end.iloc[int(ft.forecast.values.argmin())],
                             "low_units": float(ft.forecast.min()),
                             "median_units": float(ft.forecast.median()),
                             "low_is_spring_festival": bool(_near_spring_festival(
                                 ft.week_end.iloc[int(ft.forecast.values.argmin())]))},
            "series": series[series.category == "total"][["week_end", "actual", "model", "naive"]],
            "future": ft[["week_end", "forecast", "lo", "hi"]],
            "future_by_category": fut[fut.category != "total"].groupby("category", as_index=False)[
                ["forecast"]].sum()}


def _near_spring_festival(week_end) -> bool:
    """Whether a week (ending on ``week_end``) overlaps 春节 ± its surrounding weeks."""
    sf = SPRING_FESTIVAL.get(pd.Timestamp(week_end).year)
    if sf is None:
        return False
    off = (pd.Timestamp(week_end) - pd.Timestamp(sf)).days
    return -7 <= off <= 20


def _logistics(con, year, compare_year, late_days) -> dict:
    cur, prev = M.delivery_summary(con, year, late_days), M.delivery_summary(con, compare_year, late_days)
    model = M.transit_model(M.deliveries(con, year, max_rows=MODEL_ROWS))
    car = M.delivery_by(con, year, "carrier", late_days).sort_values("median")
    late = diff_proportions(cur["late"], cur["orders"], prev["late"], prev["orders"])
    cm = model.set_index(["kind", "level"])
    carriers = model[model.kind == "carrier"].sort_values("coef")
    fastest, second = carriers.iloc[0], carriers.iloc[1]
    return {"late_days": late_days, "orders": cur["orders"], "late_rate": late["p1"],
            "late_prev": late["p2"], "late_change": _gap(late),
            "median_days": cur["median_days"], "order_to_door": cur["order_to_door"],
            "by_carrier": car, "model": model,
            "cross": cm.loc[("cross", "cross")].to_dict(),
            "tier5": cm.loc[("tier", "5")].to_dict(),
            "cross_share": cur["cross_share"],
            "fastest": fastest.level, "fastest_days": float(fastest.coef),
            "fastest_separate": bool(fastest.hi < second.lo), "second": second.level,
            "slowest": carriers.iloc[-1].level, "slowest_days": float(carriers.iloc[-1].coef)}


_ORDERS = ["order_id", "order_ts", "status", "warehouse_id"]
_DEMAND = {"orders": _ORDERS, "order_items": ["order_id", "item_id", "qty"],
           "items": ["item_id", "category"], "inventory": ["snapshot_date", "item_id", "warehouse_id"]}
#: the tables and columns each section needs (fission.coverage): with partial data the sections
#: whose needs are met are built, the others replaced by a notice
NEEDS = {
    "suppliers": {"purchase_orders": ["supplier_id", "item_id", "qty", "defect_qty", "ordered_ts",
                                      "promised_ts", "received_ts"],
                  "suppliers": ["supplier_id", "category", "region"]},
    "inventory": {**_DEMAND, "inventory": ["snapshot_date", "item_id", "warehouse_id", "on_hand",
                                           "on_order"],
                  "purchase_orders": ["item_id", "ordered_ts", "received_ts"]},
    "forecast": _DEMAND,
    "logistics": {"orders": ["order_id", "user_id", "order_ts", "carrier", "warehouse_id",
                             "shipped_ts", "delivered_ts"],
                  "users": ["user_id", "city_tier", "province"]},
}


def facts(con, year: int, compare_year: int, min_group_size: int = 50,
          service_level: float = 0.95, late_days: float = 4.0) -> dict:
    """Every number, table and decision of chapter 8 for ``year`` against ``compare_year``
    (of the sections the data can build: ``missing`` names the others); ``service_level`` is
    the reorder policy's target, ``late_days`` the transit time after which a delivery counts
    as late."""
    missing = coverage.gaps(con, NEEDS)
    f = {"year": int(year), "missing": missing}
    figs = []
    if "suppliers" not in missing:
        s = f["suppliers"] = _suppliers(con, year, compare_year)
        figs += [keyfigures.figure("supplier_late", s["late_rate"], "rate", s["late_prev"],
                                   lo=s["late_change"]["lo"], hi=s["late_change"]["hi"],
                                   significant=s["late_change"]["significant"]),
                 keyfigures.figure("suppliers_priority", s["both_flagged"], "count")]
    # weekly demand feeds both the inventory and the forecast sections: computed once
    demand = (M.weekly_demand(con) if not {"inventory", "forecast"} <= set(missing) else None)
    if "inventory" not in missing:
        f["inventory"] = _inventory(con, year, service_level, demand)
        figs.append(keyfigures.figure("stockout_rate", f["inventory"]["stockout_rate"], "rate"))
    if "forecast" not in missing:
        f["forecast"] = _forecast(con, demand)
        figs.append(keyfigures.figure("forecast_wape", f["forecast"]["total"]["wape_model"], "rate"))
    if "logistics" not in missing:
        lg = f["logistics"] = _logistics(con, year, compare_year, late_days)
        figs.append(keyfigures.figure("late_delivery", lg["late_rate"], "rate", lg["late_prev"],
                                      lo=lg["late_change"]["lo"], hi=lg["late_change"]["hi"],
                                      significant=lg["late_change"]["significant"]))
    f["keyfigures"] = figs          # built in the published order
    return f
