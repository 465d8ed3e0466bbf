"""The user population: non-referral arrivals by channel with seasonality and tier growth, the
referral cascade on top, fraud rings; demographics, membership, buying rates and first orders.
Users get ids in signup order."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..contract import AGE_BANDS, CHANNELS, MECHANISMS
from . import campaigns as CA
from . import fraud as FR
from . import groups as GR
from . import params as P
from . import sharing as SH
from .calendar import DAY, trunc_exp

CH = {c: i for i, c in enumerate(CHANNELS)}
PROVINCE_LIST = sorted({p for t in P.PROVINCES.values() for p in t[0]})


def arrival_weights(cal) -> tuple[np.ndarray, np.ndarray]:
    """Daily arrival weights and P(tier | day) from tier base shares and yearly growth."""
    x = np.arange(cal.D) / 365.0
    tier_w = P.TIER_BASE[None, :] * P.TIER_GROWTH[None, :] ** x[:, None]     # [D, 5]
    total = tier_w.sum(axis=1)
    return cal.season * total, tier_w / total[:, None]


def draw_tier(rng, cal, tier_p, t):
    d = np.clip(cal.day_of(t), 0, cal.D - 1)
    cdf = np.cumsum(tier_p, axis=1)[d]
    return (rng.random(len(t))[:, None] > cdf).sum(axis=1).clip(0, 4) + 1


def legacy_arrivals(rng, cal, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Signup times and channels of ``n`` users who joined in the ``LEGACY_YEARS`` before the
    window, on an arrival curve growing ``LEGACY_GROWTH``-fold a year (hour profile as usual);
    channels from ``LEGACY_CHANNEL_MIX`` (non-referral)."""
    from .calendar import HOUR, HOUR_PROFILE
    r = np.log(P.LEGACY_GROWTH)
    lo = np.exp(-r * P.LEGACY_YEARS)
    s = np.log(lo + rng.random(n) * (1.0 - lo)) / r           # years before the window, in (-Y, 0]
    day = np.minimum(np.floor(s * 365.0).astype(np.int64), -1)
    hour = rng.choice(24, size=n, p=HOUR_PROFILE)
    ts = cal.t0 + day * DAY + hour * HOUR + rng.integers(0, HOUR, size=n)
    names = list(P.LEGACY_CHANNEL_MIX)
    p = np.array(list(P.LEGACY_CHANNEL_MIX.values()), float)
    ch = np.array([CH[x] for x in names])[rng.choice(len(names), n, p=p / p.sum())]
    return ts.astype(np.int64), ch


def draw_tier_before(rng, cal, t):
    """City tier for signups before the window: the tier growth model run backwards."""
    x = (np.asarray(t) - cal.t0) / (365.0 * DAY)
    w = P.TIER_BASE[None, :] * P.TIER_GROWTH[None, :] ** x[:, None]
    cdf = np.cumsum(w / w.sum(axis=1, keepdims=True), axis=1)
    return (rng.random(len(t))[:, None] > cdf).sum(axis=1).clip(0, 4) + 1


@dataclass
class Population:
    n: int
    cols: dict = field(default_factory=dict)
    cascade: SH.Cascade = None
    rings: FR.Rings = None
    groups: GR.Groups = None
    perm: np.ndarray = None     # sorted position -> temp index
    pos: np.ndarray = None      # temp index -> sorted position
    calib: dict = None


def build(rngs, cal, users: int, camp: CA.Campaigns, catalog, progress=lambda *a: None) -> Population:
    W, tier_p = arrival_weights(cal)
    # --- calibrate the non-referral arrivals so that the total ≈ users ------------------------
    rp = rngs("pilot")
    pilot_n = 40_000
    pilot = SH.run_cascade(rp, cal.sample_days_times(rp, W, pilot_n), cal.t_end, 0)
    mult = (pilot_n + len(pilot.u_ts)) / pilot_n
    n_fraud_exp = (4 if users < 1_000_000 else 8) * 10.5
    R = max(100, int(round((users - n_fraud_exp) / mult)))
    n_ch = {c: int(round(R * s)) for c, s in P.CHANNEL_MIX.items()}
    r = rngs("arrivals")
    ts, ch, camp_i, live_i, grp_i = [], [], [], [], []

    def add(t, c, ci=None, li=None, gi=None):
        k = len(t)
        ts.append(np.asarray(t, np.int64)); ch.append(np.full(k, CH[c]))
        camp_i.append(np.full(k, -1) if ci is None else ci)
        live_i.append(np.full(k, -1) if li is None else li)
        grp_i.append(np.full(k, -1) if gi is None else gi)
    add(cal.sample_days_times(r, W, n_ch["organic"]), "organic")
    t, ci = CA.ads_arrivals(r, cal, camp, W, n_ch["ads"]); add(t, "ads", ci)
    t, ci = CA.kol_arrivals(r, cal, camp, n_ch["kol"]); add(t, "kol", ci)
    t, li = CA.live_arrivals(r, cal, camp, n_ch["live"]); add(t, "live", camp.live_campaign[li], li)
    g = GR.skeleton(rngs("groups"), cal, W, n_ch["group_buy"], catalog.popularity)
    new_j = np.flatnonzero(g.j_new)
    t = g.j_ts[new_j] - r.integers(60, 600, len(new_j))
    add(t, "group_buy", camp.month_group[CA.month_of(cal, t)], None, new_j)
    roots_ts = np.concatenate(ts)
    n_roots = len(roots_ts)
    progress(f"arrivals: {n_roots} non-referral users (pilot multiplier {mult:.3f})")
    # --- the referral cascade and the fraud rings ----------------------------------------------
    casc = SH.run_cascade(rngs("cascade"), roots_ts, cal.t_end, 0)
    n_ref = len(casc.u_ts)
    rings = FR.plant(rngs("fraud"), cal, users, n_roots + n_ref)
    n_win = n_roots + n_ref + len(rings.ts)
    progress(f"cascade: {n_ref} referral users, {len(casc.s_ts)} shares, {len(casc.v_ts)} visits; "
             f"{len(rings.ts)} fraud accounts")
    # --- the installed base: users who signed up before the window (appended last, so the
    # cascade's and the rings' temporary indices stay valid) -----------------------------------
    leg_ts, leg_ch = legacy_arrivals(rngs("legacy"), cal, int(round(P.LEGACY_FRAC * n_win)))
    n_leg = len(leg_ts)
    n = n_win + n_leg
    progress(f"installed base: {n_leg} legacy users signed up before {cal.start}")
    c = {}
    c["ts"] = np.concatenate([roots_ts, casc.u_ts, rings.ts, leg_ts])
    c["channel"] = np.concatenate([np.concatenate(ch), np.full(n_ref, CH["referral"]),
                                   np.where(rings.is_leader, CH["organic"], CH["referral"]), leg_ch])
    c["referrer"] = np.concatenate([np.full(n_roots, -1), casc.u_referrer, rings.referrer, np.full(n_leg, -1)])
    c["mech"] = np.concatenate([np.full(n_roots, -1), casc.u_mech,
                                np.where(rings.is_leader, -1, FR.MECH), np.full(n_leg, -1)])
    c["campaign"] = np.concatenate([np.concatenate(camp_i), np.full(n_ref + len(rings.ts) + n_leg, -1)])
    c["live"] = np.concatenate([np.concatenate(live_i), np.full(n_ref + len(rings.ts) + n_leg, -1)])
    c["joiner"] = np.concatenate([np.concatenate(grp_i), np.full(n_ref + len(rings.ts) + n_leg, -1)])
    c["fraud"] = np.concatenate([np.zeros(n_roots + n_ref, bool), np.ones(len(rings.ts), bool),
                                 np.zeros(n_leg, bool)])
    c["ring"] = np.concatenate([np.full(n_roots + n_ref, -1), rings.ring, np.full(n_leg, -1)])
    c["legacy"] = c["ts"] < cal.t0
    # --- demographics --------------------------------------------------------------------------
    rd = rngs("demographics")
    tier = draw_tier(rd, cal, tier_p, c["ts"])
    legi = np.flatnonzero(c["legacy"])
    tier[legi] = draw_tier_before(rd, cal, c["ts"][legi])
    inherit = (c["referrer"] >= 0) & (rd.random(n) < P.REFERRAL_SAME_TIER)
    kids = np.flatnonzero(inherit)
    for _ in range(200):
        new = tier[c["referrer"][kids]]
        if np.array_equal(new, tier[kids]):
            break
        tier[kids] = new
    c["tier"] = tier
    prov = np.zeros(n, dtype=np.int64)
    for k in range(1, 6):
        names, w = P.PROVINCES[k]
        w = np.asarray(w, float); w /= w.sum()
        sel = np.flatnonzero(tier == k)
        prov[sel] = np.array([PROVINCE_LIST.index(x) for x in names])[rd.choice(len(names), len(sel), p=w)]
    c["province"] = prov
    c["region"] = np.array([["east", "south", "north", "central", "southwest", "northwest",
                              "northeast"].index(P.REGION_OF[p]) for p in PROVINCE_LIST])[prov]
    c["age"] = rd.choice(len(AGE_BANDS), n, p=P.AGE_P)
    c["gender"] = (rd.random(n) >= P.FEMALE_P).astype(np.int64)       # 0 F, 1 M
    dev = rd.integers(1, 2**63, n, dtype=np.int64).astype(np.uint64)
    dev[c["fraud"]] = rings.device
    c["device"] = dev
    member = rd.random(n) < P.MEMBER_P
    since = c["ts"] + rd.exponential(P.MEMBER_DELAY_DAYS * DAY, n).astype(np.int64)
    member &= since < cal.t_end
    member &= ~c["fraud"]
    c["member"], c["member_since"] = member, np.where(member, since, -1)
    rate = rd.gamma(P.RATE_SHAPE, P.RATE_MEAN / P.RATE_SHAPE, n) * P.AGE_ORDER_MULT[c["age"]]
    rate = np.minimum(rate * np.where(member, P.MEMBER_RATE_MULT, 1.0), P.RATE_CAP)
    c["rate"] = np.where(c["fraud"], 0.0, rate)
    c["algo"] = rd.choice(4, n, p=list(P.ALGO_SHARE.values()))
    # --- first orders ---------------------------------------------------------------------------
    rf = rngs("first_orders")
    fo_p = np.zeros(n)
    for chn in ("organic", "ads", "kol", "live"):
        fo_p[c["channel"] == CH[chn]] = P.FIRST_ORDER_RATE[chn]
    fo_p[c["legacy"] & (c["channel"] == CH["group_buy"])] = P.LEGACY_GROUP_BUY_FIRST_ORDER
    isref = c["mech"] >= 0
    fo_p[isref] = SH.MECH_ARR[c["mech"][isref], 3]
    jn = c["joiner"]
    gb = jn >= 0
    gsucc = np.zeros(n, bool)
    gsucc[gb] = g.success[g.j_group[jn[gb]]]
    fo_p[gb & ~gsucc] = P.FIRST_ORDER_RATE["group_buy_failed"]
    fo_p[c["fraud"]] = 0.0
    conv = rf.random(n) < fo_p
    delay = trunc_exp(rf, P.FIRST_ORDER_DELAY_DAYS * DAY, P.WINDOW_DAYS * DAY - 600, n).astype(np.int64) + 300
    # live users buy during the session; kol users soon after
    live = c["live"] >= 0
    delay[live] = np.minimum(delay[live] % 3600 + 60, np.maximum(camp.live_end[c["live"][live]] - c["ts"][live], 60))
    first = c["ts"] + delay
    first[gb & gsucc] = g.j_ts[jn[gb & gsucc]]
    conv |= gb & gsucc
    conv &= first < cal.t_ext        # first orders after the data end belong to the hidden continuation
    c["first_ts"] = np.where(conv, first, -1)
    c["fo_group"] = np.where(gb & gsucc, g.j_group[np.maximum(jn, 0)], -1)
    # first-order campaign: acquisition campaign, or the month's invite coupon for invite_coupon
    fc = c["campaign"].copy()
    inv = c["mech"] == MECHANISMS.index("invite_coupon")
    fc[inv & ~c["fraud"]] = camp.month_coupon[CA.month_of(cal, np.maximum(c["ts"][inv & ~c["fraud"]], cal.t0))]
    c["fo_campaign"] = fc
    late = (~conv) & (rf.random(n) < P.LATE_BUYER_RATE) & ~c["fraud"]
    ls = c["ts"] + P.WINDOW_DAYS * DAY + rf.exponential(P.LATE_BUYER_DELAY_DAYS * DAY, n).astype(np.int64)
    c["late_start"] = np.where(late & (ls < cal.t_ext), ls, -1)
    c["factors"] = rf.normal(0, 1, (n, P.N_FACTORS)).astype(np.float32)
    # --- sort by signup: ids ----------------------------------------------------------------------
    perm = np.lexsort((np.arange(n), c["ts"]))
    pos = np.empty(n, dtype=np.int64); pos[perm] = np.arange(n)
    for k in list(c):
        c[k] = c[k][perm]
    c["referrer"] = np.where(c["referrer"] >= 0, pos[np.maximum(c["referrer"], 0)], -1)
    pop = Population(n, c, casc, rings, g, perm, pos,
                     {"pilot_roots": pilot_n, "pilot_multiplier": mult, "non_referral_users": n_roots,
                      "referral_users": n_ref, "fraud_accounts": int(len(rings.ts)),
                      "legacy_users": int(n_leg)})
    return pop
