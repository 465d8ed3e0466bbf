"""The Online Retail book's numbers against an independent pandas computation from the raw CSV.

The example edition (params/examples/online_retail.yaml) maps the UCI Online Retail export onto
the contract; its book shows the platform's year (chapter 1), growth accounting (chapter 3) and
cohort retention (chapter 6). Here the same figures are computed again with pandas straight
from the order lines — guests set aside, cancellations by their C prefix, London time moved to
UTC+8 — on the committed sample and, where this machine has it, on the full file.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from test_mapping import OR_SAMPLE, SHARED, online_retail_mapping

from fission.chapters import growth as growth_chapter
from fission.chapters import industry, retention
from fission.data.load import connect
from fission.data.mapping import apply_mapping

YEAR, COMPARE = 2011, 2010


def stage(csv: Path, tmp: Path) -> Path:
    """The mapping applied to ``csv`` with guests set aside, and its report as the manifest (so
    the placeholders count as missing, as in a staged edition)."""
    m = online_retail_mapping(tmp)
    if csv != OR_SAMPLE:
        m.write_text(m.read_text(encoding="utf-8").replace(OR_SAMPLE.as_posix(), csv.as_posix()),
                     encoding="utf-8")
    out = tmp / "staged"
    rep = apply_mapping(m, out, quarantine=True)
    (out / "manifest.json").write_text(json.dumps({"mapping": rep}, default=str), encoding="utf-8")
    return out


def lines(csv: Path) -> pd.DataFrame:
    """The order lines with a customer, in UTC+8, with their order and status."""
    d = pd.read_csv(csv, dtype={"InvoiceNo": str, "StockCode": str}, parse_dates=["InvoiceDate"])
    d = d[d["CustomerID"].notna()].copy()
    d["user"] = d["CustomerID"].astype(int)
    d["ts"] = (d["InvoiceDate"].dt.tz_localize("Europe/London").dt.tz_convert("Asia/Shanghai")
               .dt.tz_localize(None))
    d["order"] = d["InvoiceNo"].str.extract(r"(\d+)", expand=False)
    d["cancelled"] = d["InvoiceNo"].str.startswith("C")
    d["amount"] = d["Quantity"].abs() * d["UnitPrice"]
    return d


def orders_of(d: pd.DataFrame) -> pd.DataFrame:
    o = d.groupby("order").agg(user=("user", "first"), ts=("ts", "min"), gmv=("amount", "sum"),
                               cancelled=("cancelled", "all"))
    o["month"] = o["ts"].dt.to_period("M")
    return o


def whole_months(d: pd.DataFrame) -> pd.PeriodIndex:
    """The months observed from their first to their last day."""
    start, end = d["ts"].min().normalize(), d["ts"].max().normalize()
    months = pd.period_range(start, end, freq="M")
    return months[(months.start_time >= start) & (months.end_time.normalize() <= end)]


@pytest.fixture(scope="module", params=["sample", "full"])
def retail(request, tmp_path_factory):
    csv = OR_SAMPLE if request.param == "sample" else SHARED
    if not csv.is_file():
        pytest.skip("the shared Online Retail file is not on this machine")
    out = stage(csv, tmp_path_factory.mktemp(request.param))
    return connect(out), lines(csv)


def test_the_year_and_its_months(retail):
    con, d = retail
    f = industry.facts(con, YEAR, COMPARE)
    o = orders_of(d)
    paid = o[~o["cancelled"] & (o["ts"].dt.year == YEAR)]
    signup = d.groupby("user")["ts"].min()
    k = f["kpi"]
    assert k["gmv"]["value"] == pytest.approx(paid["gmv"].sum(), rel=1e-9)
    assert k["orders"]["value"] == len(paid)
    assert k["buyers"]["value"] == paid["user"].nunique()
    assert k["new_users"]["value"] == (signup.dt.year == YEAR).sum()
    assert k["aov"]["value"] == pytest.approx(paid["gmv"].sum() / len(paid), rel=1e-9)
    # 2010 holds only December and 2011 ends on 9 December: no year-on-year figure
    assert not f["period"]["comparable"] and not k["comparable"]
    assert k["gmv"]["previous"] is None and all(x["previous"] is None for x in f["keyfigures"])
    assert f["period"]["year"] == {"year": YEAR, "start": f"{YEAR}-01-01",
                                   "end": f"{d['ts'].max():%Y-%m-%d}", "days": f["period"]["year"]["days"],
                                   "complete": False}
    monthly = paid.groupby(paid["month"].dt.month)["gmv"].sum()
    whole = [m.month for m in whole_months(d) if m.year == YEAR]
    assert f["monthly"]["partial"] == sorted(set(monthly.index) - set(whole))
    assert f["monthly"]["peak_month"] == monthly.loc[whole].idxmax()
    assert f["monthly"]["low_month"] == monthly.loc[whole].idxmin()
    assert f["monthly"]["peak_gmv"] == pytest.approx(monthly.loc[whole].max(), rel=1e-9)


def test_growth_accounting(retail):
    con, d = retail
    g = growth_chapter.facts(con, YEAR, COMPARE)["growth"]
    o = orders_of(d)
    active = o[~o["cancelled"]].groupby("month")["user"].apply(set)
    months = whole_months(d)
    active = active.reindex(pd.period_range(months.min(), months.max(), freq="M"), fill_value=set())
    seen, rows = set(), []
    prev = set()
    for m, users in active.items():
        rows.append({"month": m, "active": len(users), "prev_active": len(prev),
                     "new": len(users - seen), "retained": len(users & prev),
                     "resurrected": len((users - prev) & seen), "churned": len(prev - users)})
        seen |= users
        prev = users
    t = pd.DataFrame(rows).set_index("month")
    y = t[(t.index.year == YEAR) & t.index.isin(months)]
    cur = g["cur"]
    assert not g["comparable"]
    for k in ("new", "retained", "resurrected", "churned"):
        assert cur[k] == y[k].sum(), k
    assert cur["periods"] == len(y)
    assert cur["mean_active"] == pytest.approx(y["active"].mean())
    assert cur["quick_ratio"] == pytest.approx((y["new"].sum() + y["resurrected"].sum()) / y["churned"].sum())
    assert cur["retention_rate"] == pytest.approx(y["retained"].sum() / y["prev_active"].sum())


def test_cohort_retention(retail):
    con, d = retail
    c = retention.facts(con, YEAR, COMPARE, min_group_size=1)["cohort"]   # the sample's cohorts are small
    o = orders_of(d)
    cohort = d.groupby("user")["ts"].min().dt.to_period("M")
    active = o[~o["cancelled"]].groupby(["user", "month"]).size().reset_index()[["user", "month"]]
    end = d["ts"].max().normalize() + pd.Timedelta(days=1)
    assert not c["comparable"]
    for n, key in ((1, "m1"), (3, "m3")):
        months = [p for p in cohort.unique() if p.year == YEAR and (p + n + 1).start_time <= end]
        users = cohort[cohort.isin(months)]
        hit = active.merge(users.rename("cohort"), left_on="user", right_index=True)
        retained = hit[hit["month"] == hit["cohort"] + n]["user"].nunique()
        assert c[key]["users"] == len(users)
        assert c[key]["retention"] == pytest.approx(retained / len(users))
        assert c[key]["lo"] < c[key]["retention"] < c[key]["hi"]
    assert c["months"] == {"first": 1, "last": max(p.month for p in cohort.unique()
                                                 if p.year == YEAR and (p + 4).start_time <= end)}
    # month 0: the share of each cohort (2010-12 … 2011-12) with a paid order in its first month
    first = active.merge(cohort.rename("cohort"), left_on="user", right_index=True)
    m0 = (first[first["month"] == first["cohort"]].groupby("cohort")["user"].nunique()
          / cohort.value_counts()).fillna(0)
    assert c["m0_min"] == pytest.approx(m0.min()) and c["m0_max"] == pytest.approx(m0.max())
