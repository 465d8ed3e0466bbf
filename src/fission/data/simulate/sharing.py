"""Shares, visits and referral signups: a subcritical branching process.

Every user (fraud accounts excepted) sends, within WINDOW_DAYS of signing up, Poisson(invites ×
propensity) shares of each mechanism (propensity ~ Gamma with mean 1, so the expectation is the
truth's ``invites_per_user`` whatever the user does later); each share gets Poisson(visits ×
platform multiplier × reach) visits; a visit by a newcomer signs up with the mechanism ×
platform rate; the new users share in turn. Shares or visits after the horizon are not
observed."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..contract import MECHANISMS
from . import params as P
from .calendar import DAY, HOUR, trunc_exp

MECH_ARR = np.array([P.MECH[m] for m in MECHANISMS])      # [6, 4]


@dataclass
class Cascade:
    # shares
    s_user: np.ndarray      # temp user index of the sharer
    s_ts: np.ndarray
    s_platform: np.ndarray
    s_mech: np.ndarray
    # visits
    v_share: np.ndarray     # index into shares
    v_ts: np.ndarray
    v_existing: np.ndarray  # visitor is an existing user
    v_signup: np.ndarray    # temp user index of the new user, -1
    # new users
    u_ts: np.ndarray
    u_referrer: np.ndarray
    u_mech: np.ndarray


def run_cascade(rng, roots_ts: np.ndarray, t_end: int, first_index: int,
                can_share: np.ndarray | None = None) -> Cascade:
    """Branch from the root users (temp indices first_index.. in order of roots_ts)."""
    w, vm, sm = P.platform_params()
    inv, vps, vsr = MECH_ARR[:, 0], MECH_ARR[:, 1], MECH_ARR[:, 2]
    new_p = 1.0 - P.EXISTING_VISITOR_SHARE
    S = {k: [] for k in ("u", "ts", "pl", "me")}
    V = {k: [] for k in ("sh", "ts", "ex", "su")}
    U = {k: [] for k in ("ts", "ref", "me")}
    par_ts = np.asarray(roots_ts, dtype=np.int64)
    par_idx = first_index + np.arange(len(par_ts), dtype=np.int64)
    if can_share is not None:
        par_ts, par_idx = par_ts[can_share], par_idx[can_share]
    next_index = first_index + len(roots_ts)
    n_shares = 0
    while len(par_ts):
        n = len(par_ts)
        prop = rng.gamma(P.SHARER_PROPENSITY_SHAPE, 1.0 / P.SHARER_PROPENSITY_SHAPE, n)
        counts = rng.poisson(prop[:, None] * inv[None, :])           # [n, 6]
        tot = counts.sum(axis=1)
        sp = np.repeat(np.arange(n), tot)
        # mechanism codes in row-major order of counts
        mech = np.repeat(np.tile(np.arange(len(inv)), n), counts.ravel())
        sts = par_ts[sp] + trunc_exp(rng, P.SHARE_DELAY_DAYS * DAY, P.WINDOW_DAYS * DAY, len(sp)).astype(np.int64)
        keep = sts < t_end
        sp, mech, sts = sp[keep], mech[keep], sts[keep]
        ns = len(sp)
        plat = rng.choice(len(w), ns, p=w)
        reach = rng.gamma(P.VISIT_DISPERSION_SHAPE, 1.0 / P.VISIT_DISPERSION_SHAPE, ns)
        nv = rng.poisson(vps[mech] * vm[plat] * reach)
        vs = np.repeat(np.arange(ns), nv)
        vts = sts[vs] + rng.exponential(P.VISIT_DELAY_HOURS * HOUR, len(vs)).astype(np.int64)
        keepv = vts < t_end
        vs, vts = vs[keepv], vts[keepv]
        existing = rng.random(len(vs)) < P.EXISTING_VISITOR_SHARE
        p_sign = vsr[mech[vs]] * sm[plat[vs]] / new_p
        signup = (~existing) & (rng.random(len(vs)) < p_sign)
        child_ts = vts + rng.integers(60, 1800, len(vs))
        signup &= child_ts < t_end
        nc = int(signup.sum())
        su = np.full(len(vs), -1, dtype=np.int64)
        su[signup] = next_index + np.arange(nc)
        next_index += nc
        S["u"].append(par_idx[sp]); S["ts"].append(sts); S["pl"].append(plat); S["me"].append(mech)
        V["sh"].append(vs + n_shares); V["ts"].append(vts); V["ex"].append(existing); V["su"].append(su)
        U["ts"].append(child_ts[signup]); U["ref"].append(par_idx[sp[vs[signup]]])
        U["me"].append(mech[vs[signup]])
        n_shares += ns
        par_ts = child_ts[signup]
        par_idx = su[signup]
    cat = lambda xs, dt=np.int64: np.concatenate(xs).astype(dt) if xs else np.zeros(0, dt)  # noqa: E731
    return Cascade(cat(S["u"]), cat(S["ts"]), cat(S["pl"]), cat(S["me"]),
                   cat(V["sh"]), cat(V["ts"]), cat(V["ex"], bool), cat(V["su"]),
                   cat(U["ts"]), cat(U["ref"]), cat(U["me"]))


def truth(t_end_days: int | None = None) -> dict:
    w, vm, sm = P.platform_params()
    from ..contract import PLATFORMS
    mech = {}
    for m in MECHANISMS:
        inv, vps, vsr, sfo = P.MECH[m]
        mech[m] = {"invites_per_user": inv, "visits_per_share": vps, "visit_signup_rate": vsr,
                   "signups_per_share": vps * vsr, "signup_first_order_rate": sfo,
                   "k_factor": inv * vps * vsr}
    return {
        "window_days": P.WINDOW_DAYS,
        "mechanisms": mech,
        "platforms": {p: {"share_weight": float(w[i]), "visit_multiplier": float(vm[i]),
                          "signup_multiplier": float(sm[i])} for i, p in enumerate(PLATFORMS)},
        "k_factor_total": float(sum(v["k_factor"] for v in mech.values())),
        "notes": ("All shares of a user fall within window_days after signup (Poisson, mean "
                  "invites_per_user × a Gamma(mean 1) sharing propensity), independent of the "
                  "user's later churn. visits_per_share is the mean over the platform mix "
                  "(sum of share_weight × visit_multiplier = 1); visit_signup_rate is P(signup | "
                  "visit) over all visits (sum of share_weight × visit_multiplier × "
                  "signup_multiplier = 1), including visits by existing users "
                  f"(share {P.EXISTING_VISITOR_SHARE}) who cannot sign up. signup_first_order_rate"
                  " counts an order of any status within window_days of the referred signup. "
                  "Shares, visits and signups after the horizon end are not observed. Fraud-ring "
                  "shares (see fraud_rings) are not part of these rates."),
        "sharer_propensity_gamma_shape": P.SHARER_PROPENSITY_SHAPE,
        "visit_reach_gamma_shape": P.VISIT_DISPERSION_SHAPE,
        "share_delay_days_mean_truncated": P.SHARE_DELAY_DAYS,
        "visit_delay_hours_mean": P.VISIT_DELAY_HOURS,
        "existing_visitor_share": P.EXISTING_VISITOR_SHARE,
    }
