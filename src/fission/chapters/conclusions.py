"""Chapter 10 (结论与展望): the KPI scorecard, next year's forecast and the recommendations.

It reads the facts of whichever chapters the edition built (``chapter_facts``, any subset,
even none): the scorecard, key messages and recommendations come from
:mod:`fission.scorecard`; the forecast (:mod:`fission.metrics.forecast`) needs only the data.
Recommendations are ranked by their estimated impact in yuan of GMV per year (a new buyer
is worth the measured 12-month GMV of last year's first-time buyers); the viral-coefficient
scenarios use chapter 3's K when present, otherwise the same K computed here.
"""
from __future__ import annotations

import pandas as pd

from .. import coverage, keyfigures, scorecard as sc
from ..metrics import forecast as F
from ..metrics import overview, viral
from ..metrics._sql import query

K_WINDOW = 30          # days after signup in which a user's referrals count (as in chapter 3)


def base(con, year: int, compare_year: int) -> dict:
    """What :func:`fission.scorecard.recommendations` converts impacts with: this year's GMV and
    the 12-month GMV of a first-time buyer of ``compare_year`` (complete windows)."""
    kpi = overview.yearly_kpis(con, year, compare_year).set_index("metric")
    nbv = F.new_buyer_value(con, compare_year)
    return {"gmv": float(kpi.loc["gmv", "value"]), "new_buyer_value": nbv["value"],
            "value_year": nbv["year"], "value_buyers": nbv["buyers"]}


def _viral(con, year, chapter_facts, k_targets) -> dict:
    ky = viral.viral_k(con, window_days=K_WINDOW, period="year")
    row = ky[(ky.mechanism == "all") & (ky.cohort.astype(str).str[:4] == str(year))]
    if row.empty:
        raise ValueError(f"no sign-up cohort of {year} with a complete {K_WINDOW}-day window "
                         "for the viral coefficient")
    row = row.iloc[0]
    k3 = (chapter_facts.get("03_growth_strategy") or {}).get("viral", {}).get("k")
    k = float(k3) if k3 is not None else float(row.k_factor)
    seeds = float(query(con, f"SELECT count(*) AS n FROM users WHERE year(signup_ts) = {int(year)} "
                             "AND acquisition_channel <> 'referral'").n.iloc[0])
    referral = float(query(con, f"SELECT count(*) AS n FROM users WHERE year(signup_ts) = {int(year)} "
                                "AND acquisition_channel = 'referral'").n.iloc[0])
    if k_targets is None:    # today's K and three steps of 0.02 above it
        k_targets = [round(k, 2) + 0.02 * i for i in range(1, 4)]
    ks = sorted({k, *[float(t) for t in k_targets]})
    sc_ = F.k_scenarios(seeds, k, float(row.invites_per_user), float(row.invite_conversion), ks)
    return {"k": k, "source": "chapter" if k3 is not None else "computed",
            "window_days": K_WINDOW, "seeds": seeds, "referral_observed": referral,
            "referral_modelled": seeds * k / (1 - k), "invites_per_user": float(row.invites_per_user),
            "conversion": float(row.invite_conversion), "scenarios": sc_,
            "k_low": min(ks), "k_high": max(ks)}


def _forecast(con, holdout, horizon, n_boot, seed) -> dict:
    u = F.forecast_new_users(con, holdout=holdout, horizon=horizon, n_boot=n_boot, seed=seed)
    g = F.forecast_gmv(con, holdout=holdout, horizon=horizon, seed=seed)
    for d in (u, g):
        bt = d["backtest"]
        d["beats_naive"] = bool(bt["wape"] < bt["naive"]["wape"])
        d["growth_significant"] = bool(d["growth_lo"] > 0 or d["growth_hi"] < 0)
    # the stricter test: learn from the first year alone and forecast the whole second year
    year_bt = {}
    series = (("users", u["history"], ("bass", "trend"), u["base"]),
              ("gmv", g["history"], ("trend",), 0.0))
    for key, hist, models, base_ in series:
        if len(hist) < 24:
            continue
        y, months = hist.value.to_numpy(), pd.to_datetime(hist.month)
        tests = {m: F.backtest(y, months, 12, m, base=base_, seed=seed) for m in models}
        year_bt[key] = {"naive": tests[models[0]]["naive"]["wape"],
                        **{m: t["wape"] for m, t in tests.items()},
                        "beats_naive": {m: bool(t["wape"] < t["naive"]["wape"])
                                        for m, t in tests.items()},
                        "covered": {m: t["covered"] for m, t in tests.items()}}
    bu, bg = u["backtest"]["rows"], g["backtest"]["rows"]
    rows = bu[["month"]].assign(users=bu.actual.to_numpy(), users_forecast=bu.forecast.to_numpy(),
                                users_naive=bu.naive.to_numpy()).merge(
        bg[["month", "actual", "forecast", "naive"]].rename(
            columns={"actual": "gmv", "forecast": "gmv_forecast", "naive": "gmv_naive"}), on="month")
    return {"users": u, "gmv": g, "holdout": holdout, "horizon": horizon, "backtest_rows": rows,
            "year_backtest": year_bt,
            "backtest_from": u["backtest"]["from"], "backtest_to": u["backtest"]["to"],
            "next_year": u["year"], "bass_chosen": u["model"] == "bass"}


_ORDERS = ["order_id", "user_id", "order_ts", "gmv", "status"]
#: the tables and columns each data-driven section needs (fission.coverage); the scorecard is
#: built from the other chapters' facts alone, so it is not listed
NEEDS = {
    "forecast": {"users": ["user_id", "signup_ts"], "orders": _ORDERS},
    "viral": {"users": ["user_id", "signup_ts", "acquisition_channel"],
              "shares": ["share_id", "user_id", "share_ts", "mechanism"],
              "share_visits": ["share_id", "signup_user_id"]},
    # the conversion base: this year's GMV and a new buyer's 12-month GMV
    "recommendations": {"orders": _ORDERS, "users": ["user_id", "signup_ts"]},
}


def facts(con, year: int, compare_year: int, min_group_size: int = 50,
          chapter_facts: dict[str, dict] | None = None, names=None, holdout: int = 6,
          horizon: int = 12, n_boot: int = 200, k_targets=None, seed: int = 0) -> dict:
    """Every number, table and decision of chapter 10 (of the sections the data can build:
    ``missing`` names the others). ``chapter_facts``: {chapter id: facts}
    of the edition's other chapters that built; ``names``: ``(chapter, figure id) -> name``
    for the scorecard (the chapters' words); ``holdout``: months held out at the end of the
    data for the back-tests; ``k_targets``: the viral coefficients of the scenarios."""
    chapter_facts = {k: v for k, v in (chapter_facts or {}).items() if k != "10_conclusions"}
    missing = coverage.gaps(con, NEEDS)
    rows = sc.scorecard(chapter_facts, names)
    f = {"year": int(year), "missing": missing, "chapters": sorted(chapter_facts),
         # the chapters with key figures (one whose data is all missing has none)
         "n_chapters": len({r["chapter"] for r in rows}),
         "scorecard": {"rows": rows, "n": len(rows),
                       "compared": sum(1 for r in rows if r["previous"] is not None),
                       "intervals": sum(1 for r in rows if r["lo"] is not None),
                       "significant": sum(1 for r in rows if r["significant"] is True),
                       "not_significant": sum(1 for r in rows if r["significant"] is False),
                       "census": sum(1 for r in rows if r["census"])},
         "messages": sc.key_messages(rows), "min_group_size": min_group_size}
    if "recommendations" not in missing:
        base_ = f["base"] = base(con, year, compare_year)
        recs = sc.recommendations(chapter_facts, base_)
        q = [r for r in recs if r["impact"] is not None]
        f["recommendations"] = {"rows": recs, "n": len(recs), "quantified": len(q),
                                "top": q[0]["id"] if q else None,
                                "top_separated": bool(q[0]["separated"]) if q else False}
    figs = []
    if "forecast" not in missing:
        try:
            f["forecast"] = _forecast(con, holdout, horizon, n_boot, seed)
        except F.ShortHistory as e:     # too short a history is missing data, not an error
            missing["forecast"] = [{"history": e.what, "have": e.have, "need": e.need}]
    if "forecast" not in missing:
        fc = f["forecast"]
        u, g = fc["users"], fc["gmv"]
        figs = [
            keyfigures.figure("next_new_users", u["total"], "count", u["last12"], lo=u["growth_lo"],
                              hi=u["growth_hi"], significant=u["growth_significant"]),
            keyfigures.figure("next_gmv", g["total"], "yuan", g["last12"], lo=g["growth_lo"],
                              hi=g["growth_hi"], significant=g["growth_significant"]),
            keyfigures.figure("users_backtest_wape", u["backtest"]["wape"], "rate"),
            keyfigures.figure("gmv_backtest_wape", g["backtest"]["wape"], "rate"),
        ]
        for k in figs[:2]:     # next year against this year: not a change that happened
            k["forecast"] = True
    if "viral" not in missing:
        f["viral"] = _viral(con, year, chapter_facts, k_targets)
    f["keyfigures"] = figs
    return f


def chapter_names(chapters: list[str], chapter_facts: dict[str, dict], language: str,
                  edition: dict | None = None):
    """``(chapter, figure id) -> name`` from each chapter's words (``keyfigures.<id>``) in
    ``language``, for :func:`fission.scorecard.scorecard`."""
    from ..words import Words, WordsError

    words = {}
    for ch in chapters:
        try:
            words[ch] = Words(ch, language, edition)
        except WordsError:
            pass

    def name(ch, fid):
        w = words.get(ch)
        if w is None:
            return fid
        try:
            return w.render(f"keyfigures.{fid}", chapter_facts.get(ch), markdown=False)
        except WordsError:
            return fid
    return name
