"""Simulation clock: the two-year horizon, daily seasonality (春节, 618, 双11) and time sampling.

Behind the data end the clock runs on for ``CONTINUATION_DAYS`` (to ``t_ext``): users keep buying
there, so that the latent truths the estimators target (true churn times, the next 12 months'
purchases) come from an uncensored history. Nothing after ``t_end`` is written to the tables.

Times are int64 seconds since 1970-01-01 of naive UTC+8 wall time; the writer turns them into
``timestamp[us]``."""
from __future__ import annotations

import datetime as dt

import numpy as np

DAY = 86_400
HOUR = 3_600

# Real 春节 (Spring Festival, 正月初一) dates.
SPRING_FESTIVAL = {2022: "2022-02-01", 2023: "2023-01-22", 2024: "2024-02-10", 2025: "2025-01-29",
                   2026: "2026-02-17", 2027: "2027-02-06", 2028: "2028-01-26"}

# Hour-of-day profile of activity (sums to 1): quiet nights, lunch and evening peaks.
HOUR_PROFILE = np.array([1.2, 0.7, 0.4, 0.3, 0.3, 0.4, 0.8, 1.6, 2.6, 3.4, 4.0, 4.4,
                         5.2, 4.8, 4.2, 4.2, 4.4, 4.6, 5.0, 6.0, 7.2, 7.8, 6.8, 3.6])
HOUR_PROFILE = HOUR_PROFILE / HOUR_PROFILE.sum()

# Multipliers of the base daily rate (signups); orders use these raised to ORDER_EXPONENT.
SEASON = {
    "spring_festival_pre": {"days": "SF-7..SF-1", "multiplier": 0.75},
    "spring_festival": {"days": "SF..SF+6", "multiplier": 0.5},
    "spring_festival_post": {"days": "SF+7..SF+14", "multiplier": 0.8},
    "618_warmup": {"days": "06-01..06-15", "multiplier": 1.25},
    "618": {"days": "06-16..06-18", "multiplier": 2.0, "peak_day_06_18": 2.4},
    "double11_warmup": {"days": "10-25..11-09", "multiplier": 1.3},
    "double11": {"days": "11-10..11-12", "multiplier": [2.0, 2.8, 1.4]},
    "double12": {"days": "12-12", "multiplier": 1.5},
    "weekend": {"days": "Sat, Sun", "multiplier": 1.08},
}
ORDER_EXPONENT = 1.3
CONTINUATION_DAYS = 730     # the hidden continuation after the data end


def spring_festival(year: int) -> dt.date:
    if year not in SPRING_FESTIVAL:
        raise ValueError(f"no Spring Festival date known for {year}")
    return dt.date.fromisoformat(SPRING_FESTIVAL[year])


class Calendar:
    def __init__(self, year: int):
        self.year = year
        self.start = dt.date(year - 1, 1, 1)
        self.end = dt.date(year, 12, 31)
        self.dates = np.arange(np.datetime64(self.start), np.datetime64(self.end) + 1)
        self.D = len(self.dates)
        self.t0 = int(self.dates[0].astype("datetime64[s]").astype(np.int64))
        self.t_end = self.t0 + self.D * DAY          # exclusive
        self.t_ext = self.t_end + CONTINUATION_DAYS * DAY
        self.year_start = int(np.datetime64(dt.date(year, 1, 1)).astype("datetime64[s]").astype(np.int64))
        ext_dates = np.arange(np.datetime64(self.start), np.datetime64(self.end) + 1 + CONTINUATION_DAYS)
        self.season_ext = self._season(ext_dates)    # the window's days, then the continuation's
        self.season = self.season_ext[:self.D]
        hourly = (self.season_ext[:, None] ** ORDER_EXPONENT * HOUR_PROFILE[None, :] * 24).ravel()
        self._cum_order = np.concatenate([[0.0], np.cumsum(hourly)])   # in order-season hours
        self._grid = self.t0 + HOUR * np.arange(len(ext_dates) * 24 + 1, dtype=np.float64)

    def _season(self, d) -> np.ndarray:
        m = np.ones(len(d))
        dow = (d.astype(np.int64) + 3) % 7           # 0 = Monday
        m[dow >= 5] *= SEASON["weekend"]["multiplier"]
        md = np.array([x.astype(object).strftime("%m-%d") for x in d])
        for y in range(self.year - 1, int(str(d[-1])[:4]) + 1):
            if y > self.year and y not in SPRING_FESTIVAL:
                continue    # a continuation year without a known date: no festival dip
            sf = np.datetime64(spring_festival(y))
            off = (d - sf).astype(np.int64)
            m[(off >= -7) & (off <= -1)] *= 0.75
            m[(off >= 0) & (off <= 6)] *= 0.5
            m[(off >= 7) & (off <= 14)] *= 0.8
        m[(md >= "06-01") & (md <= "06-15")] *= 1.25
        m[(md >= "06-16") & (md <= "06-17")] *= 2.0
        m[md == "06-18"] *= 2.4
        m[(md >= "10-25") & (md <= "11-09")] *= 1.3
        m[md == "11-10"] *= 2.0
        m[md == "11-11"] *= 2.8
        m[md == "11-12"] *= 1.4
        m[md == "12-12"] *= 1.5
        return m

    # --- helpers -----------------------------------------------------------------------------
    def day_of(self, t) -> np.ndarray:
        return (np.asarray(t) - self.t0) // DAY

    def season_at(self, t) -> np.ndarray:
        """Daily multiplier at times t in [t0, t_ext) (the continuation included)."""
        return self.season_ext[np.clip(self.day_of(t), 0, len(self.season_ext) - 1)]

    def ts_of_date(self, s: str) -> int:
        return int(np.datetime64(s).astype("datetime64[s]").astype(np.int64))

    def sample_days_times(self, rng, day_weights: np.ndarray, n: int) -> np.ndarray:
        """n times: day by ``day_weights``, hour by the hour profile, second uniform."""
        p = day_weights / day_weights.sum()
        day = rng.choice(self.D, size=n, p=p)
        hour = rng.choice(24, size=n, p=HOUR_PROFILE)
        return self.t0 + day * DAY + hour * HOUR + rng.integers(0, HOUR, size=n)

    def order_cum(self, t) -> np.ndarray:
        """Cumulative order intensity (in season-hours) at times t."""
        return np.interp(np.asarray(t, dtype=np.float64), self._grid, self._cum_order)

    def order_inv(self, c) -> np.ndarray:
        return np.interp(c, self._cum_order, self._grid).astype(np.int64)

    def sample_order_times(self, rng, a, b) -> np.ndarray:
        """One time in each [a, b) following the order seasonality × hour profile."""
        ca, cb = self.order_cum(a), self.order_cum(b)
        t = self.order_inv(ca + rng.random(len(ca)) * (cb - ca))
        return np.clip(t, a, np.maximum(a, np.asarray(b) - 1))


def trunc_exp(rng, mean: float, upper: float, n: int) -> np.ndarray:
    """Exponential(mean) truncated to [0, upper)."""
    u = rng.random(n)
    return -mean * np.log1p(-u * (1.0 - np.exp(-upper / mean)))
