"""Customer lifetime value with BG/NBD (purchase count) and Gamma–Gamma (spend) (chapter 6).

Why hand-written: PyMC-Marketing needs pymc/pytensor (a heavy install that compiles C at run
time, unacceptable on the report machines) and ``lifetimes`` is archived and unmaintained.
Both models are small maximum-likelihood problems, so they are fitted here with
``scipy.optimize`` on the published log-likelihoods:

* BG/NBD — Fader, Hardie & Lee (2005), "Counting your customers the easy way: an alternative
  to the Pareto/NBD model", Marketing Science 24(2), eq. (6), with E[Y(t) | x, t_x, T] (eq. 10)
  and P(alive | x, t_x, T);
* Gamma–Gamma — Fader & Hardie (2013), "The Gamma-Gamma model of monetary value", eqs. (1)–(5).

RFM conventions (as in Fader–Hardie and ``lifetimes``): purchases are aggregated to calendar
days; ``frequency`` = number of purchase days − 1 (repeat purchase days); ``recency`` = days
from the first to the last purchase day; ``T`` = days from the first purchase day to the
observation end; ``monetary_value`` = mean spend per repeat purchase day (0 if none). Time unit:
days.

Left truncation: the RFM summary is built from the *observed* purchases only. For customers who
signed up before the data start (an installed base) the first observed purchase stands in for
the first purchase, so T counts from it (not from the true first purchase, which is not in the
data) and frequency counts repeat purchases inside the data only. This is the usual practice
with a fixed observation window (the customer "enters" at the first observed purchase); it is
consistent with BG/NBD's conditioning on the first purchase, at the cost of treating long-time
customers' first observed purchase as a trial. Time is never measured from ``signup_ts``.
"""
from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd
from scipy import optimize, special

from ._sql import data_end as _data_end
from ._sql import query, require, ts_literal


# ------------------------------------------------------------------ RFM from orders (SQL)
def rfm_summary(con: duckdb.DuckDBPyConnection, observation_end=None, statuses=("paid",),
                segment: str | None = "acquisition_channel", max_users: int | None = None,
                seed: int = 0) -> pd.DataFrame:
    """Per customer with ≥ 1 purchase (orders with ``status`` in ``statuses`` before
    ``observation_end``, default the data end): user_id, [segment], frequency, recency, T,
    monetary_value (module docstring). ``max_users`` keeps a seeded hash subsample."""
    require(con, "orders", needed_for="lifetime value (chapter 6)")
    if segment:
        require(con, "users", needed_for="lifetime value by segment (chapter 6)")
    end = _data_end(con) if observation_end is None else pd.Timestamp(observation_end)
    st = ", ".join(f"'{s}'" for s in statuses)
    seg_sel = f", u.{segment}::VARCHAR AS {segment}" if segment else ""
    seg_join = "JOIN users u ON u.user_id = s.user_id" if segment else ""
    sql = f"""
    WITH d AS (
        SELECT user_id, order_ts::DATE AS day, sum(gmv) AS spend FROM orders
        WHERE status IN ({st}) AND order_ts < {ts_literal(end)} GROUP BY ALL
    ), s AS (
        SELECT user_id, count(*) - 1 AS frequency, min(day) AS first_day, max(day) AS last_day,
               (sum(spend) - arg_min(spend, day)) / nullif(count(*) - 1, 0) AS monetary_value
        FROM d GROUP BY user_id
    )
    SELECT s.user_id{seg_sel}, s.frequency::BIGINT AS frequency,
           date_diff('day', first_day, last_day)::DOUBLE AS recency,
           date_diff('day', first_day, {ts_literal(end)}::DATE)::DOUBLE AS T,
           coalesce(monetary_value, 0)::DOUBLE AS monetary_value
    FROM s {seg_join}
    """
    if max_users is not None:
        sql = f"SELECT * FROM ({sql}) ORDER BY hash(user_id + {int(seed)}), user_id LIMIT {int(max_users)}"
    df = query(con, sql)
    df.attrs["observation_end"] = str(end)
    return df


# ------------------------------------------------------------------ BG/NBD
@dataclass
class BGNBD:
    r: float
    alpha: float
    a: float
    b: float
    loglik: float
    n: float
    converged: bool

    @property
    def params(self):
        return np.array([self.r, self.alpha, self.a, self.b])


def bgnbd_loglik_terms(params, x, t_x, T) -> np.ndarray:
    """Per-customer BG/NBD log-likelihood ln L(r, α, a, b | x, t_x, T) (FHL 2005 eq. 6):
    L = B(a, b+x)/B(a, b) · Γ(r+x) α^r / (Γ(r) (α+T)^(r+x))
        + 1{x>0} · B(a+1, b+x−1)/B(a, b) · Γ(r+x) α^r / (Γ(r) (α+t_x)^(r+x))."""
    r, alpha, a, b = params
    x = np.asarray(x, dtype=float)
    t_x = np.asarray(t_x, dtype=float)
    T = np.asarray(T, dtype=float)
    a1 = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
    a2 = special.betaln(a, b + x) - special.betaln(a, b) - (r + x) * np.log(alpha + T)
    with np.errstate(invalid="ignore", divide="ignore"):
        a3 = np.where(x > 0, special.betaln(a + 1, np.maximum(b + x - 1, 1e-300)) - special.betaln(a, b)
                      - (r + x) * np.log(alpha + t_x), -np.inf)
    return a1 + np.logaddexp(a2, a3)


def bgnbd_loglik(params, x, t_x, T, weights=None) -> float:
    """Total (weighted) BG/NBD log-likelihood."""
    ll = bgnbd_loglik_terms(params, x, t_x, T)
    return float(np.sum(ll if weights is None else ll * np.asarray(weights, dtype=float)))


def fit_bgnbd(frequency, recency, T, weights=None, penalizer: float = 0.0,
              init=None) -> BGNBD:
    """Maximum-likelihood BG/NBD fit (parameters optimised on the log scale with L-BFGS-B,
    polished with Nelder–Mead). ``penalizer`` adds an L2 penalty on the parameters (like
    ``lifetimes``); ``weights`` lets identical (x, t_x, T) rows be fitted once."""
    x = np.asarray(frequency, dtype=float)
    tx = np.asarray(recency, dtype=float)
    TT = np.asarray(T, dtype=float)
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=float)
    if np.any(tx > TT) or np.any(x < 0):
        raise ValueError("need 0 <= recency <= T and frequency >= 0")
    # identical (x, t_x, T) rows are evaluated once (days are integers, so this compresses well)
    uniq = pd.DataFrame({"x": x, "tx": tx, "T": TT, "w": w}).groupby(["x", "tx", "T"], sort=False)["w"].sum()
    ux = uniq.index.get_level_values(0).to_numpy(float)
    utx = uniq.index.get_level_values(1).to_numpy(float)
    uT = uniq.index.get_level_values(2).to_numpy(float)
    uw = uniq.to_numpy(float)
    n = uw.sum()
    scale = max(float(np.average(uT, weights=uw)), 1e-9)   # keep α near 1 for the optimiser

    def nll(lp):
        p = np.exp(lp)
        val = -bgnbd_loglik((p[0], p[1] * scale, p[2], p[3]), ux, utx, uT, uw) / n
        return val + penalizer * np.sum(p ** 2) if np.isfinite(val) else 1e100

    lp0 = np.log(init / np.array([1, scale, 1, 1])) if init is not None else np.zeros(4)
    best = _minimize(nll, lp0, bound=_LOG_BOUND)
    p = np.exp(best.x)
    params = (p[0], p[1] * scale, p[2], p[3])
    return BGNBD(*params, loglik=bgnbd_loglik(params, ux, utx, uT, uw), n=float(n),
                 converged=bool(best.success and np.all(np.abs(best.x) < _LOG_BOUND - 1e-3)))


# parameters live in exp([-12, 12]) (relative to the data's scale); a fit at the bound means the
# model does not describe the data (e.g. no drop-out at all) and is flagged ``converged=False``
_LOG_BOUND = 12.0


def _minimize(fun, x0, bound):
    """L-BFGS-B within box bounds on the log parameters, polished by a bounded Nelder–Mead."""
    bounds = [(-bound, bound)] * len(x0)
    res = optimize.minimize(fun, x0, method="L-BFGS-B", bounds=bounds, options={"maxiter": 500})
    res2 = optimize.minimize(fun, res.x, method="Nelder-Mead", bounds=bounds,
                             options={"xatol": 1e-7, "fatol": 1e-11, "maxiter": 800})
    best = res2 if res2.fun <= res.fun else res
    best.success = bool(res.success or res2.success)
    return best


def _log_odds_dead(m: BGNBD, x, t_x, T):
    x = np.asarray(x, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (np.log(m.a) - np.log(np.maximum(m.b + x - 1, 1e-300))
             + (m.r + x) * (np.log(m.alpha + np.asarray(T, float))
                            - np.log(m.alpha + np.asarray(t_x, float))))
    return np.where(x > 0, z, -np.inf)


def bgnbd_p_alive(m: BGNBD, frequency, recency, T) -> np.ndarray:
    """P(alive | x, t_x, T) = 1 / (1 + 1{x>0} · a/(b+x−1) · ((α+T)/(α+t_x))^(r+x))."""
    return special.expit(-_log_odds_dead(m, frequency, recency, T))


def bgnbd_expected_purchases(m: BGNBD, t, frequency, recency, T) -> np.ndarray:
    """E[Y(t) | x, t_x, T]: expected purchases in the next ``t`` days (FHL 2005 eq. 10)."""
    x = np.asarray(frequency, float)
    TT = np.asarray(T, float)
    t = np.asarray(t, float)
    r, alpha, a, b = m.r, m.alpha, m.a, m.b
    z = t / (alpha + TT + t)
    hyp = special.hyp2f1(r + x, b + x, a + b + x - 1, z)
    head = (a + b + x - 1) / (a - 1)
    body = 1 - np.exp((r + x) * (np.log(alpha + TT) - np.log(alpha + TT + t))) * hyp
    return head * body * bgnbd_p_alive(m, x, recency, TT)


def bgnbd_expected_purchases_new(m: BGNBD, t) -> np.ndarray:
    """E[X(t)] for a customer just acquired (FHL 2005 eq. 9)."""
    t = np.asarray(t, float)
    r, alpha, a, b = m.r, m.alpha, m.a, m.b
    hyp = special.hyp2f1(r, b, a + b - 1, t / (alpha + t))
    return (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r * hyp)


# ------------------------------------------------------------------ Gamma–Gamma
@dataclass
class GammaGamma:
    p: float
    q: float
    v: float
    loglik: float
    n: int
    converged: bool

    @property
    def mean_spend(self) -> float:
        """Population mean transaction value E[M] = p·v/(q−1) (q > 1)."""
        return self.p * self.v / (self.q - 1) if self.q > 1 else np.inf


def gamma_gamma_loglik_terms(params, frequency, monetary_value) -> np.ndarray:
    """ln f(m̄ | p, q, v, x) = ln Γ(px+q) − ln Γ(px) − ln Γ(q) + q ln v + (px−1) ln m̄
    + px ln x − (px+q) ln(v + x m̄)   (Fader & Hardie 2013, eq. 4)."""
    p, q, v = params
    x = np.asarray(frequency, float)
    m = np.asarray(monetary_value, float)
    return (special.gammaln(p * x + q) - special.gammaln(p * x) - special.gammaln(q)
            + q * np.log(v) + (p * x - 1) * np.log(m) + p * x * np.log(x)
            - (p * x + q) * np.log(v + x * m))


def fit_gamma_gamma(frequency, monetary_value, penalizer: float = 0.0) -> GammaGamma:
    """ML fit of Gamma–Gamma on customers with frequency > 0 and monetary_value > 0 (others
    are ignored). Assumes spend is independent of purchase frequency."""
    x = np.asarray(frequency, float)
    m = np.asarray(monetary_value, float)
    keep = (x > 0) & (m > 0)
    x, m = x[keep], m[keep]
    if len(x) < 3:
        raise ValueError("Gamma–Gamma needs at least 3 customers with repeat purchases")
    scale = float(np.mean(m))

    def nll(lp):
        p, q, v = np.exp(lp)
        ll = gamma_gamma_loglik_terms((p, q, v * scale), x, m).sum() / len(x)
        return -ll + penalizer * (p * p + q * q + v * v) if np.isfinite(ll) else 1e100

    best = _minimize(nll, np.log([1.0, 2.0, 1.0]), bound=_LOG_BOUND)
    p, q, v = np.exp(best.x)
    v *= scale
    return GammaGamma(p, q, v, float(gamma_gamma_loglik_terms((p, q, v), x, m).sum()), len(x),
                      bool(best.success and np.all(np.abs(best.x) < _LOG_BOUND - 1e-3)))


def gamma_gamma_expected_spend(m: GammaGamma, frequency, monetary_value) -> np.ndarray:
    """E[M | x, m̄] = (p(v + x m̄)) / (px + q − 1): a weighted mean of the population mean and
    the customer's observed mean (eq. 5); the population mean where x = 0."""
    x = np.asarray(frequency, float)
    mb = np.asarray(monetary_value, float)
    return m.p * (m.v + x * mb) / (m.p * x + m.q - 1)


# ------------------------------------------------------------------ CLV
def clv(bg: BGNBD, gg: GammaGamma, frequency, recency, T, monetary_value, months: int = 12,
        monthly_discount: float = 0.01, days_per_month: float = 30.0) -> np.ndarray:
    """Discounted expected value of the next ``months`` months:
    Σ_{i=1..months} (E[Y(i·d)] − E[Y((i−1)·d)]) · E[M] / (1 + monthly_discount)^i
    with d = ``days_per_month`` and E[M] from Gamma–Gamma."""
    spend = gamma_gamma_expected_spend(gg, frequency, monetary_value)
    total = np.zeros(np.shape(np.asarray(frequency, float)))
    prev = 0.0
    for i in range(1, months + 1):
        cur = bgnbd_expected_purchases(bg, i * days_per_month, frequency, recency, T)
        total = total + (cur - prev) * spend / (1 + monthly_discount) ** i
        prev = cur
    return total


@dataclass
class LTVResult:
    by_segment: pd.DataFrame
    bgnbd: BGNBD
    gamma_gamma: GammaGamma
    customers: int
    subsampled: bool
    months: int
    monthly_discount: float


def ltv_by_segment(con: duckdb.DuckDBPyConnection, segment: str = "acquisition_channel",
                   months: int = 12, monthly_discount: float = 0.01, observation_end=None,
                   max_users: int | None = 100_000, seed: int = 0) -> LTVResult:
    """Fit BG/NBD + Gamma–Gamma on (a seeded subsample of at most ``max_users``) customers and
    report per segment: customers, mean frequency, mean P(alive), expected purchases and
    discounted CLV over ``months`` months (mean per customer) and the expected spend per order."""
    rfm = rfm_summary(con, observation_end, segment=segment, max_users=max_users, seed=seed)
    if len(rfm) < 10:
        raise ValueError("too few customers with purchases to fit BG/NBD")
    total = int(con.execute("SELECT count(DISTINCT user_id) FROM orders WHERE status = 'paid'"
                            ).fetchone()[0])
    bg = fit_bgnbd(rfm["frequency"], rfm["recency"], rfm["T"])
    gg = fit_gamma_gamma(rfm["frequency"], rfm["monetary_value"])
    f, r, t, mv = (rfm[c].to_numpy(float) for c in ("frequency", "recency", "T", "monetary_value"))
    rfm["p_alive"] = bgnbd_p_alive(bg, f, r, t)
    rfm["expected_purchases"] = bgnbd_expected_purchases(bg, months * 30.0, f, r, t)
    rfm["expected_spend"] = gamma_gamma_expected_spend(gg, f, mv)
    rfm["clv"] = clv(bg, gg, f, r, t, mv, months, monthly_discount)
    g = rfm.groupby(segment) if segment else rfm.assign(_all="all").groupby("_all")
    out = g.agg(customers=("frequency", "size"), frequency=("frequency", "mean"),
                p_alive=("p_alive", "mean"), expected_purchases=("expected_purchases", "mean"),
                expected_spend=("expected_spend", "mean"), clv=("clv", "mean")).reset_index()
    return LTVResult(out, bg, gg, customers=len(rfm), subsampled=len(rfm) < total,
                     months=months, monthly_discount=monthly_discount)
