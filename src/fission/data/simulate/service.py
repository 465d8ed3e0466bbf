"""Customer service: tickets queue (FIFO, fluid) behind a finite staff working 08:00–24:00, so
first responses slow down on peak days (618, 双11) and CSAT falls with the wait."""
from __future__ import annotations

import numpy as np

from ..contract import TICKET_CATEGORIES, TICKET_CHANNELS
from . import params as P
from .calendar import HOUR
from .writer import Cat


def staff_size(n_tickets: int, hours_total: int) -> float:
    """Staff in full-time equivalents sized to TARGET_UTILISATION on an average day."""
    work_h = P.STAFF_HOURS[1] - P.STAFF_HOURS[0]
    per_day = n_tickets / max(hours_total / 24, 1)
    per_agent_day = work_h * 60 / P.HANDLE_MINUTES
    return per_day / (per_agent_day * P.TARGET_UTILISATION)


def build(rng, cal, cand: dict):
    srt = np.lexsort((cand["order_id"], cand["user_id"], cand["created_ts"]))
    c = {k: v[srt] for k, v in cand.items()}
    T = len(c["created_ts"])
    H = cal.D * 24
    hour = np.clip((c["created_ts"] - cal.t0) // HOUR, 0, H - 1)
    arr = np.bincount(hour, minlength=H).astype(np.float64)
    # staff (FTE) per month, sized to the month's median day at TARGET_UTILISATION: peaks overflow
    daily = arr.reshape(cal.D, 24).sum(axis=1)
    month = cal.dates.astype("datetime64[M]")
    um, mi = np.unique(month, return_inverse=True)
    med = np.array([np.median(daily[mi == k]) for k in range(len(um))])
    work_h = P.STAFF_HOURS[1] - P.STAFF_HOURS[0]
    staff_m = np.maximum(med, 0.5) / (work_h * 60 / P.HANDLE_MINUTES * P.TARGET_UTILISATION)
    staff_day = staff_m[mi]
    staff = float(staff_m.max())
    hod = np.arange(H) % 24
    cap = np.where((hod >= P.STAFF_HOURS[0]) & (hod < P.STAFF_HOURS[1]),
                   np.repeat(staff_day, 24) * 60 / P.HANDLE_MINUTES, 0.0)
    served = np.empty(H); b = 0.0; tot = 0.0
    for h in range(H):                      # fluid FIFO queue, one step per hour
        avail = b + arr[h]
        s = min(avail, cap[h])
        b = avail - s
        tot += s
        served[h] = tot
    cum_served = np.concatenate([[0.0], served])
    grid = cal.t0 + HOUR * np.arange(H + 1, dtype=np.float64)
    k = np.arange(1, T + 1, dtype=np.float64)         # FIFO position
    # time at which the k-th ticket is served (first hour where served >= k), interpolated
    j = np.searchsorted(cum_served, k, side="left")
    j = np.clip(j, 1, H)
    lo_s, hi_s = cum_served[j - 1], cum_served[j]
    frac = np.where(hi_s > lo_s, (k - lo_s) / np.maximum(hi_s - lo_s, 1e-9), 1.0)
    t_serv = (grid[j - 1] + frac * HOUR).astype(np.int64)
    handle = rng.exponential(P.HANDLE_MINUTES * 60, T).astype(np.int64) + 30
    first = np.maximum(t_serv, c["created_ts"] + handle)
    first_ok = first < cal.t_end
    cat = c["category"]
    res_h = np.array([P.RESOLVE_HOURS[x] for x in TICKET_CATEGORIES])[cat]
    resolved = first + rng.exponential(res_h * HOUR).astype(np.int64) + 60
    res_ok = first_ok & (resolved < cal.t_end) & (rng.random(T) > 0.02)
    wait_h = (first - c["created_ts"]) / HOUR
    score = P.CSAT_BASE - P.CSAT_PER_HOUR * np.minimum(wait_h, 48) + rng.normal(0, 0.7, T) \
        - 0.5 * (cat == TICKET_CATEGORIES.index("refund"))
    csat = np.clip(np.round(score), 1, 5).astype(np.int64)
    csat_ok = res_ok & (rng.random(T) < P.CSAT_RESPONSE_P)
    channel = rng.choice(len(TICKET_CHANNELS), T, p=list(P.TICKET_CHANNEL_P.values()))
    agents = max(1, int(np.ceil(staff)))
    agent = rng.integers(1, agents + 1, T) + 9000
    cols = {"ticket_id": np.arange(1, T + 1), "user_id": c["user_id"],
            "order_id": (c["order_id"], c["order_id"] < 0), "created_ts": c["created_ts"],
            "first_response_ts": (first, ~first_ok), "resolved_ts": (resolved, ~res_ok),
            "category": Cat(cat, TICKET_CATEGORIES), "channel": Cat(channel, TICKET_CHANNELS),
            "csat": (csat, ~csat_ok), "agent_id": (agent, ~first_ok)}
    truth = {"staff": round(float(staff), 3), "agents": agents,
             "staff_fte_by_month": {str(m): round(float(x), 3) for m, x in zip(um, staff_m)},
             "staffing_rule": "FTE per month = median daily tickets of the month / (staffed hours × 60 / handle_minutes × target_utilisation)",
             "staff_hours": list(P.STAFF_HOURS), "handle_minutes_mean": P.HANDLE_MINUTES,
             "target_utilisation_median_day": P.TARGET_UTILISATION, "queue": "FIFO, fluid per hour",
             "ticket_probability": P.TICKET_P, "resolve_hours_mean": P.RESOLVE_HOURS,
             "csat": f"round(clip({P.CSAT_BASE} - {P.CSAT_PER_HOUR} × min(wait_h, 48) - 0.5·refund + N(0,0.7), 1, 5)), "
                     f"answered with p={P.CSAT_RESPONSE_P}",
             "channel_p": P.TICKET_CHANNEL_P}
    return cols, truth
