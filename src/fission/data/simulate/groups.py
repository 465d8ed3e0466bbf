"""Group buys (拼团): a leader opens a group of target size 2–5; joiners arrive as a Poisson
process over GROUP_WINDOW_HOURS; the group succeeds when target_size - 1 joiners arrive in time,
otherwise fails at the deadline. Some joiners are new users (acquisition channel group_buy)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from . import params as P
from .calendar import DAY, HOUR

MIN_DAY = 31     # groups open once 30-day-old users exist to lead them


@dataclass
class Groups:
    created: np.ndarray
    target: np.ndarray
    success: np.ndarray
    closed: np.ndarray
    item: np.ndarray
    j_group: np.ndarray      # joiners (excluding the leader)
    j_ts: np.ndarray
    j_new: np.ndarray        # new user
    j_user: np.ndarray = None    # temp index for new users, final id filled later
    leader: np.ndarray = None


def fill_prob(k: int) -> float:
    return float(stats.poisson.sf(k - 2, P.GROUP_JOINERS_MEAN))


def expected_new_per_group() -> float:
    e = 0.0
    for k, pk in P.GROUP_TARGET_P.items():
        mean_kept = sum(min(n, k - 1) * stats.poisson.pmf(n, P.GROUP_JOINERS_MEAN) for n in range(60))
        e += pk * mean_kept
    return e * P.GROUP_NEW_USER_P


def skeleton(rng, cal, day_weights, n_new_target: int, popularity) -> Groups:
    G = max(1, int(round(n_new_target / expected_new_per_group())))
    w = day_weights.copy(); w[:MIN_DAY] = 0
    created = np.sort(cal.sample_days_times(rng, w, G))
    ks = np.array(list(P.GROUP_TARGET_P)); pk = np.array(list(P.GROUP_TARGET_P.values()))
    target = ks[rng.choice(len(ks), G, p=pk)]
    nj = rng.poisson(P.GROUP_JOINERS_MEAN, G)
    success = nj >= target - 1
    win = P.GROUP_WINDOW_HOURS * HOUR
    g = np.repeat(np.arange(G), nj)
    off = rng.integers(1, win, len(g))
    order = np.lexsort((off, g))
    g, off = g[order], off[order]
    start = np.concatenate([[0], np.cumsum(nj)[:-1]])
    rank = np.arange(len(g)) - start[g]
    keep = rank < (target[g] - 1)
    g, off = g[keep], off[keep]
    jts = created[g] + off
    last = np.zeros(G, dtype=np.int64)
    np.maximum.at(last, g, off)
    closed = np.where(success, created + last, created + win)
    item = rng.choice(len(popularity), G, p=popularity)
    # clip to horizon
    jts = np.minimum(jts, cal.t_end - 1)
    closed = np.minimum(closed, cal.t_end - 1)
    return Groups(created, target, success, closed, item, g, jts, rng.random(len(g)) < P.GROUP_NEW_USER_P)


def pick_existing(rng, sorted_signup: np.ndarray, t: np.ndarray, blocked, min_age=30 * DAY,
                  rounds: int = 20) -> np.ndarray:
    """Random existing user (0-based position in id order) signed up at least ``min_age`` before t
    and not ``blocked(pos, t)``; -1 where none found."""
    ub = np.searchsorted(sorted_signup, t - min_age, side="right")
    out = np.full(len(t), -1, dtype=np.int64)
    todo = np.flatnonzero(ub > 0)
    for _ in range(rounds):
        if not len(todo):
            break
        cand = (rng.random(len(todo)) * ub[todo]).astype(np.int64)
        ok = ~blocked(cand, t[todo])
        out[todo[ok]] = cand[ok]
        todo = todo[~ok]
    return out


def truth() -> dict:
    return {"target_size_p": {str(k): v for k, v in P.GROUP_TARGET_P.items()},
            "window_hours": P.GROUP_WINDOW_HOURS, "joiners_poisson_mean": P.GROUP_JOINERS_MEAN,
            "fill_rate_by_target_size": {str(k): fill_prob(k) for k in P.GROUP_TARGET_P},
            "new_user_share_of_joiners": P.GROUP_NEW_USER_P, "discount": P.GROUP_DISCOUNT,
            "notes": "A group closes at its (target_size-1)-th joiner (success) or at the deadline "
                     "(failed); the leader is a member; successful groups' members each place an "
                     "order carrying group_id at joined_ts (the leader at created_ts)."}
