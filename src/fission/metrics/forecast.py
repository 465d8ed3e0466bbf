"""Next year's new users and GMV (chapter 10), each back-tested on held-out months.

* **New users**: the Bass diffusion model (Bass 1969) in its discrete form,
  ``n_t = (p + q·N_{t-1}/m)·(m − N_{t-1})``, fitted by non-linear least squares
  (:func:`scipy.optimize.curve_fit`) on the monthly sign-ups, where ``N_{t-1}`` counts every
  user signed up before month t (the installed base included). The log-linear trend below is
  the well-known alternative; the model with the smaller back-test WAPE is used. The interval
  of the Bass forecast comes from a residual bootstrap (refit on resampled series, plus
  resampled month noise).
* **GMV** (and the alternative for new users): a log-linear trend, OLS (statsmodels) of the
  log monthly value on a linear trend, dummies for June (618) and November (Double 11) and
  the share of the month in the Spring Festival lull (dates from a public calendar). The
  interval of next year's total comes from years simulated under coefficients drawn from
  their estimated distribution plus month noise (estimation error and noise; not a change of
  regime). A seasonal ARIMA needs more than two years to estimate a yearly season; an AR(1)
  term was tried and left out: its estimate was unstable on 24 months and the residuals'
  autocorrelation is small (reported as ``acf1``).
* **Back-test**: fit on every month before the last ``holdout`` months of the data, forecast
  those months, and report MAPE (per month) and WAPE (over the held-out total) beside the
  seasonal naive forecast (the same month one year earlier).

With two years of monthly data these models are weak: a Bass model identifies the market
potential ``m`` only once growth slows, and 24 points cannot separate trend from seasonality
well. The words say so.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import optimize

from ._sql import data_end, data_start, query, require

PEAK_MONTHS = (6, 11)        # 618 and Double 11: fixed-date shopping festivals
# Spring Festival (lunar new year) dates: shopping and sign-ups dip in the weeks around it,
# in January or February depending on the year (a public calendar fact, not fitted).
SPRING_FESTIVAL = {2020: "2020-01-25", 2021: "2021-02-12", 2022: "2022-02-01", 2023: "2023-01-22",
                   2024: "2024-02-10", 2025: "2025-01-29", 2026: "2026-02-17", 2027: "2027-02-06",
                   2028: "2028-01-26", 2029: "2029-02-13", 2030: "2030-02-03"}
SF_WINDOW = (-7, 14)         # days around the festival when activity is low


# ------------------------------------------------------------------ data
MIN_MONTHS = 12     # a year of complete months: one of each calendar month for the seasonality


class ShortHistory(ValueError):
    """Too few complete months to forecast: a property of the data, shown in the report as a
    missing section (``what`` the column counted, ``have`` and ``need`` complete months)."""

    def __init__(self, what: str, have: int, need: int):
        self.what, self.have, self.need = what, int(have), int(need)
        table = what.split(".")[0]
        super().__init__(f"table {table}: {have} complete months of {what}; the forecast needs at "
                         f"least {need}")


def _complete_months(con, first: pd.Timestamp) -> pd.DatetimeIndex:
    """Calendar months from ``first`` to the last month the data cover to its last day."""
    end = data_end(con)
    last = end.to_period("M")
    if end.floor("D") < last.end_time.floor("D"):      # the data end inside a month: not complete
        last -= 1
    return pd.period_range(pd.Timestamp(first).to_period("M"), last, freq="M").to_timestamp()


def monthly_signups(con) -> pd.DataFrame:
    """Sign-ups per complete calendar month of the observed data (columns ``month``, ``n``);
    ``attrs["base"]`` is the installed base: users who signed up before the first month."""
    require(con, "users", needed_for="the new-user forecast (chapter 10)")
    ds = data_start(con)
    if ds is None:
        ds = pd.Timestamp(query(con, "SELECT min(signup_ts)::TIMESTAMP AS t FROM users").t.iloc[0])
    first = ds.to_period("M")
    if ds != first.start_time:           # a partial first month is not compared as complete
        first += 1
    months = _complete_months(con, first.start_time)
    df = query(con, "SELECT date_trunc('month', signup_ts)::DATE AS month, count(*) AS n "
                    "FROM users GROUP BY 1")
    df["month"] = pd.to_datetime(df["month"])
    out = pd.DataFrame({"month": months}).merge(df, on="month", how="left").fillna({"n": 0})
    out["n"] = out["n"].astype(float)
    out.attrs["base"] = float(df.loc[df.month < months[0], "n"].sum())
    if len(out) < MIN_MONTHS:
        raise ShortHistory("users.signup_ts", len(out), MIN_MONTHS)
    return out


def monthly_gmv(con) -> pd.DataFrame:
    """GMV (non-cancelled orders) per complete calendar month (columns ``month``, ``gmv``)."""
    require(con, "orders", needed_for="the GMV forecast (chapter 10)")
    first = pd.Timestamp(query(con, "SELECT min(order_ts)::TIMESTAMP AS t FROM orders").t.iloc[0])
    p = first.to_period("M")
    if first.floor("D") != p.start_time:
        p += 1
    months = _complete_months(con, p.start_time)
    df = query(con, "SELECT date_trunc('month', order_ts)::DATE AS month, "
                    "sum(gmv::DECIMAL(38, 4))::DOUBLE AS gmv FROM orders "
                    "WHERE status <> 'cancelled' GROUP BY 1")
    df["month"] = pd.to_datetime(df["month"])
    out = pd.DataFrame({"month": months}).merge(df, on="month", how="left").fillna({"gmv": 0.0})
    if len(out) < MIN_MONTHS:
        raise ShortHistory("orders.order_ts", len(out), MIN_MONTHS)
    return out


def new_buyer_value(con, year: int, days: int = 365) -> dict:
    """Mean GMV in the ``days`` after a first order, over users whose first non-cancelled order
    fell in ``year`` (from the data start on) and whose window is complete: what one more new
    buyer is worth in a year, the conversion chapter 10 uses to put recommendations in yuan."""
    require(con, "orders", needed_for="the value of a new buyer (chapter 10)")
    end = data_end(con)
    ds = data_start(con)
    # a user signed up before the data start may have bought before it: not a known first order
    start = (f"AND user_id IN (SELECT user_id FROM users WHERE signup_ts >= TIMESTAMP '{ds}')"
             if ds is not None else "")
    r = query(con, f"""
        WITH o AS (SELECT user_id, order_ts, gmv::DOUBLE AS gmv FROM orders WHERE status <> 'cancelled'),
        f AS (SELECT user_id, min(order_ts) AS first_ts FROM o WHERE TRUE {start} GROUP BY 1)
        SELECT count(DISTINCT f.user_id) AS buyers, sum(o.gmv) AS gmv
        FROM f JOIN o ON o.user_id = f.user_id AND o.order_ts < f.first_ts + INTERVAL {int(days)} DAY
        WHERE year(f.first_ts) = {int(year)}
          AND f.first_ts + INTERVAL {int(days)} DAY <= TIMESTAMP '{end}'""").iloc[0]
    buyers = int(r.buyers or 0)
    if buyers == 0:
        raise ValueError(f"table orders: no first-time buyer of {year} with {days} days observed "
                         f"after the first order (data end {end:%Y-%m-%d})")
    return {"year": int(year), "days": int(days), "buyers": buyers,
            "value": float(r.gmv) / buyers}


# ------------------------------------------------------------------ Bass
def bass_step(N_prev, p, q, m):
    """Discrete Bass: adopters in a period given cumulative adopters before it."""
    return (p + q * N_prev / m) * (m - N_prev)


def bass_path(p, q, m, N0, h) -> np.ndarray:
    """``h`` periods of adopters from cumulative ``N0``, following the model's own path."""
    out, N = [], N0
    for _ in range(h):
        n = max(bass_step(N, p, q, m), 0.0)
        out.append(n)
        N += n
    return np.array(out)


def fit_bass(n, base: float = 0.0) -> dict:
    """Bass p, q, m by non-linear least squares on monthly adopters ``n`` (the cumulative count
    before each month is ``base`` + the earlier months'). ``m`` is bounded to at most 50 × the
    adopters so far; ``m_at_bound`` says when the data could not bound it (still growing)."""
    n = np.asarray(n, float)
    N_prev = base + np.concatenate([[0.0], np.cumsum(n)[:-1]])
    total = base + n.sum()
    m_hi = 50 * total

    def f(Np, p, q, m):
        return bass_step(Np, p, q, m)
    best = None
    for m0 in (1.5 * total, 3 * total, 10 * total):     # a few starts: NLS on Bass is multimodal
        try:
            par, cov = optimize.curve_fit(f, N_prev, n, p0=[max(n[0] / m0, 1e-4), 0.1, m0],
                                          bounds=([1e-7, 0.0, total], [1.0, 3.0, m_hi]),
                                          maxfev=20000)
        except RuntimeError:
            continue
        sse = float(((f(N_prev, *par) - n) ** 2).sum())
        if best is None or sse < best[2]:
            best = (par, cov, sse)
    if best is None:
        raise ValueError("the Bass model did not converge on the monthly sign-ups")
    (p, q, m), cov, sse = best
    return {"p": float(p), "q": float(q), "m": float(m), "fitted": f(N_prev, p, q, m),
            "cum": float(total), "m_at_bound": bool(m > 0.99 * m_hi), "sse": sse}


def bass_forecast(n, base: float, h: int, n_boot: int = 200, seed: int = 0) -> dict:
    """Fit Bass on ``n`` and forecast ``h`` months; 95% interval of the monthly values and of
    the total by a residual bootstrap (multiplicative residuals, as the noise grows with the
    level)."""
    fit = fit_bass(n, base)
    n = np.asarray(n, float)
    path = bass_path(fit["p"], fit["q"], fit["m"], fit["cum"], h)
    ratio = n / np.maximum(fit["fitted"], 1e-9)
    rng = np.random.default_rng(seed)
    sims = []
    for _ in range(n_boot):
        y = fit["fitted"] * rng.choice(ratio, len(n))
        try:
            b = fit_bass(y, base)
        except ValueError:
            continue
        sims.append(bass_path(b["p"], b["q"], b["m"], base + y.sum(), h) * rng.choice(ratio, h))
    sims = np.array(sims)
    tot = sims.sum(axis=1)
    return {"model": "bass", "fit": {k: fit[k] for k in ("p", "q", "m", "m_at_bound")},
            "mean": path, "lo": np.quantile(sims, 0.025, axis=0), "hi": np.quantile(sims, 0.975, axis=0),
            "total": float(path.sum()), "total_lo": float(np.quantile(tot, 0.025)),
            "total_hi": float(np.quantile(tot, 0.975)), "n_boot": int(len(sims))}


# ------------------------------------------------------------------ SARIMAX
def spring_festival_share(months: pd.DatetimeIndex) -> np.ndarray:
    """Share of each month's days inside the Spring Festival window."""
    out = []
    for m in months:
        sf = SPRING_FESTIVAL.get(m.year)
        if sf is None:
            raise ValueError(f"no Spring Festival date for {m.year}: add it to SPRING_FESTIVAL")
        lo = pd.Timestamp(sf) + pd.Timedelta(days=SF_WINDOW[0])
        hi = pd.Timestamp(sf) + pd.Timedelta(days=SF_WINDOW[1])
        days = pd.date_range(m, m + pd.offsets.MonthEnd(0), freq="D")
        out.append(float(((days >= lo) & (days <= hi)).mean()))
    return np.array(out)


def _exog(months: pd.DatetimeIndex) -> np.ndarray:
    """Columns: June, November, Spring Festival share."""
    return np.column_stack([(months.month == m).astype(float) for m in PEAK_MONTHS]
                           + [spring_festival_share(months)])


def trend_forecast(y, months, h: int, reps: int = 2000, seed: int = 0) -> dict:
    """Log-linear trend: OLS of log ``y`` on a constant, a linear trend, the festival-month
    dummies and the Spring Festival share of each month (statsmodels). Per month: the mean
    (of a log-normal) and the 95% prediction interval (noise and estimation error); the
    ``h``-month total's interval from ``reps`` simulated years, each under coefficients drawn
    from their estimated distribution plus month noise. The residuals' lag-1 autocorrelation
    is reported (``fit.acf1``): the intervals assume it is small."""
    import statsmodels.api as sm

    months = pd.DatetimeIndex(months)
    y = np.asarray(y, float)
    if (y <= 0).any():
        raise ValueError("the log-trend model needs positive monthly values")
    fut = pd.date_range(months[-1] + pd.offsets.MonthBegin(1), periods=h, freq="MS")

    def design(ms, t0):
        return np.column_stack([np.ones(len(ms)), np.arange(t0, t0 + len(ms)) / 12.0, _exog(ms)])
    X, Xf = design(months, 0), design(fut, len(months))
    res = sm.OLS(np.log(y), X).fit()
    pred = res.get_prediction(Xf).summary_frame(alpha=0.05)
    s2_obs = np.asarray(pred["mean_se"]) ** 2 + res.scale
    mean = np.exp(np.asarray(pred["mean"]) + s2_obs / 2)
    rng = np.random.default_rng(seed)
    beta = rng.multivariate_normal(res.params, res.cov_params(), size=reps)
    sigma = np.sqrt(res.scale * res.df_resid / rng.chisquare(res.df_resid, size=reps))
    paths = np.exp(beta @ Xf.T + rng.standard_normal((reps, h)) * sigma[:, None])
    tot = paths.sum(axis=1)
    resid = np.asarray(res.resid)
    acf1 = float(np.corrcoef(resid[:-1], resid[1:])[0, 1]) if len(resid) > 2 else None
    return {"model": "trend", "fit": {"growth_per_year": float(np.exp(res.params[1]) - 1),
                                      "r2": float(res.rsquared), "acf1": acf1},
            "mean": mean, "lo": np.exp(np.asarray(pred["obs_ci_lower"])),
            "hi": np.exp(np.asarray(pred["obs_ci_upper"])),
            "total": float(mean.sum()), "total_lo": float(np.quantile(tot, 0.025)),
            "total_hi": float(np.quantile(tot, 0.975)), "months": fut}


# ------------------------------------------------------------------ back-test
def errors(actual, forecast) -> dict:
    """MAPE (mean of monthly absolute % errors) and WAPE (sum of absolute errors / sum of
    actuals), and the bias of the total (forecast / actual − 1)."""
    a, f = np.asarray(actual, float), np.asarray(forecast, float)
    return {"mape": float(np.mean(np.abs(f - a) / a)), "wape": float(np.abs(f - a).sum() / a.sum()),
            "bias": float(f.sum() / a.sum() - 1)}


def seasonal_naive(y, h: int) -> np.ndarray:
    """The same months one year earlier (needs 12 months before the forecast)."""
    y = np.asarray(y, float)
    if len(y) < 12:
        raise ValueError("the seasonal naive forecast needs 12 months")
    return np.array([y[len(y) - 12 + (i % 12)] for i in range(h)])


def backtest(y, months, holdout: int, model: str, base: float = 0.0, seed: int = 0) -> dict:
    """Fit ``model`` ("bass" or "trend") on all but the last ``holdout`` months, forecast them
    and compare with the actual values and with the seasonal naive forecast."""
    y = np.asarray(y, float)
    months = pd.DatetimeIndex(months)
    train, test = y[:-holdout], y[-holdout:]
    if model == "bass":
        fc = bass_forecast(train, base, holdout, n_boot=50, seed=seed)
    else:
        fc = trend_forecast(train, months[:-holdout], holdout, seed=seed)
    naive = seasonal_naive(train, holdout)
    return {"model": model, "from": f"{months[-holdout]:%Y-%m}", "to": f"{months[-1]:%Y-%m}",
            "holdout": int(holdout), "train_months": int(len(train)),
            **errors(test, fc["mean"]), "naive": errors(test, naive),
            "covered": float(np.mean((test >= fc["lo"]) & (test <= fc["hi"]))),
            "rows": pd.DataFrame({"month": months[-holdout:].strftime("%Y-%m"), "actual": test,
                                  "forecast": fc["mean"], "lo": fc["lo"], "hi": fc["hi"],
                                  "naive": naive})}


def _next_year(last: pd.Timestamp, h: int) -> pd.DatetimeIndex:
    return pd.date_range(last + pd.offsets.MonthBegin(1), periods=h, freq="MS")


def forecast_new_users(con, holdout: int = 6, horizon: int = 12, n_boot: int = 200,
                       seed: int = 0) -> dict:
    """Next ``horizon`` months of sign-ups: Bass and the log-trend model back-tested on the last
    ``holdout`` months; the one with the smaller WAPE is refitted on all months and forecast."""
    s = monthly_signups(con)
    y, months, base = s.n.to_numpy(), pd.DatetimeIndex(s.month), s.attrs["base"]
    tests = {m: backtest(y, months, holdout, m, base=base, seed=seed) for m in ("bass", "trend")}
    chosen = min(tests, key=lambda m: tests[m]["wape"])
    fc = (bass_forecast(y, base, horizon, n_boot=n_boot, seed=seed) if chosen == "bass"
          else trend_forecast(y, months, horizon, seed=seed))
    bass = fc["fit"] if chosen == "bass" else fit_bass(y, base)
    return _result(s.rename(columns={"n": "value"}), fc, tests, chosen, horizon,
                   {"base": base, "bass": {k: bass[k] for k in ("p", "q", "m", "m_at_bound")}})


def forecast_gmv(con, holdout: int = 6, horizon: int = 12, seed: int = 0) -> dict:
    """Next ``horizon`` months of GMV with the log-trend SARIMAX, back-tested on the last
    ``holdout`` months against the seasonal naive forecast."""
    g = monthly_gmv(con)
    y, months = g.gmv.to_numpy(), pd.DatetimeIndex(g.month)
    tests = {"trend": backtest(y, months, holdout, "trend", seed=seed)}
    fc = trend_forecast(y, months, horizon, seed=seed)
    return _result(g.rename(columns={"gmv": "value"}), fc, tests, "trend", horizon, {})


def _result(hist, fc, tests, chosen, horizon, extra) -> dict:
    months = _next_year(pd.Timestamp(hist.month.iloc[-1]), horizon)
    last12 = float(hist.value.iloc[-12:].sum())
    return {"model": chosen, "fit": fc["fit"], "backtest": tests[chosen], "candidates": {
                m: {k: t[k] for k in ("wape", "mape", "bias", "covered")} for m, t in tests.items()},
            "history": pd.DataFrame({"month": pd.DatetimeIndex(hist.month).strftime("%Y-%m"),
                                     "value": hist.value.to_numpy()}),
            "future": pd.DataFrame({"month": months.strftime("%Y-%m"), "forecast": fc["mean"],
                                    "lo": fc["lo"], "hi": fc["hi"]}),
            "total": fc["total"], "total_lo": fc["total_lo"], "total_hi": fc["total_hi"],
            "last12": last12, "growth": fc["total"] / last12 - 1,
            "growth_lo": fc["total_lo"] / last12 - 1, "growth_hi": fc["total_hi"] / last12 - 1,
            "year": int(months[0].year), **extra}


# ------------------------------------------------------------------ viral scenarios
def k_scenarios(seeds: float, k_now: float, invites_per_user: float, conversion: float,
                ks) -> pd.DataFrame:
    """Referral users a year's ``seeds`` (non-referral new users) bring over the whole cascade
    at each viral coefficient K in ``ks``: seeds × K / (1 − K) (a geometric series: each
    generation brings K per member), the change on today's K, and what a K would take —
    the invites per user at today's conversion, or the conversion (sign-ups per share) at
    today's invites per user (K = invites per user × sign-ups per share)."""
    rows = []
    for k in ks:
        if not 0 <= k < 1:
            raise ValueError(f"viral coefficient {k}: the cascade is finite only for 0 <= K < 1")
        ref = seeds * k / (1 - k)
        rows.append({"k": float(k), "referral_users": ref,
                     "extra_users": ref - seeds * k_now / (1 - k_now),
                     "invites_needed": k / conversion, "conversion_needed": k / invites_per_user,
                     "current": bool(abs(k - k_now) < 1e-9)})
    return pd.DataFrame(rows)
