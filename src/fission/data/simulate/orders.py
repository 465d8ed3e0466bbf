"""Orders for a chunk of users: first orders, repeat orders in active spells (gamma rates, churn,
resurrection, seasonality), group-buy orders, experiment overrides; then items, logistics,
returns (7-day no-reason rule), reviews, and ticket candidates."""
from __future__ import annotations

import numpy as np

from ..contract import CARRIERS, CATEGORIES, CHANNELS, RETURN_REASONS, TICKET_CATEGORIES, WAREHOUSES
from . import params as P
from .calendar import DAY, HOUR
from .catalog import pick_from_pool
from .writer import Cat

CH = {c: i for i, c in enumerate(CHANNELS)}
MAX_ORDERS = 1000          # order_id = user_id * 1000 + rank


def _spells(rng, cal, start, rate):
    """Active spells from ``start`` (-1 = never): lists of (user, a, b, expected orders)."""
    su, sa, sb, smu = [], [], [], []
    idx = np.flatnonzero(start >= 0)
    s = start[idx]
    for _ in range(P.MAX_SPELLS):
        ok = s < cal.t_end
        idx, s = idx[ok], s[ok]
        if not len(idx):
            break
        e = np.minimum(s + rng.exponential(P.ACTIVE_SPELL_DAYS * DAY, len(s)).astype(np.int64), cal.t_end)
        mu = rate[idx] * (cal.order_cum(e) - cal.order_cum(s)) / (30 * 24)
        su.append(idx); sa.append(s); sb.append(e); smu.append(mu)
        back = (rng.random(len(s)) < P.RESURRECT_P) & (e < cal.t_end)
        idx = idx[back]
        s = e[back] + rng.exponential(P.DORMANT_DAYS * DAY, len(idx)).astype(np.int64)
    cat = lambda x, d=np.int64: np.concatenate(x).astype(d) if x else np.zeros(0, d)  # noqa: E731
    return cat(su), cat(sa), cat(sb), cat(smu, np.float64)


def chunk(rng, cal, U, lo, hi, extra, exp, catalog, pools, demand):
    """Returns dict of table columns for orders, order_items, returns, reviews, plus ticket
    candidates, spells and per-order info for events."""
    n = hi - lo
    sl = slice(lo, hi)
    rate, first, late = U["rate"][sl], U["first_ts"][sl], U["late_start"][sl]
    # --- first orders
    f = np.flatnonzero(first >= cal.t0)        # legacy users' first orders before the window: unobserved
    rows = {"u": [f], "ts": [first[f]], "ch": [U["channel"][sl][f]], "camp": [U["fo_campaign"][sl][f]],
            "grp": [U["fo_group"][sl][f]], "live": [U["live"][sl][f]], "planted": [np.zeros(len(f), bool)],
            "first": [np.ones(len(f), bool)]}
    # --- repeat orders in spells
    start = np.where(first >= 0, first + 1, late)
    su, sa, sb, smu = _spells(rng, cal, start, rate)
    # the installed base at the window start (spells before the window have no observed orders:
    # order_cum is 0 before t0, so only the in-window part of a spell produces orders)
    leg = U["ts"][sl] < cal.t0
    act = np.zeros(n, bool); act[su[(sa <= cal.t0) & (sb > cal.t0)]] = True
    later = np.zeros(n, bool); later[su[sa > cal.t0]] = True
    legacy_state = {"users": int(leg.sum()), "active": int((leg & act).sum()),
                    "dormant_returning": int((leg & ~act & later).sum())}
    k = rng.poisson(smu)
    ru = np.repeat(su, k)
    rts = cal.sample_order_times(rng, np.repeat(sa, k), np.repeat(sb, k))
    rch = np.array([CH[c] for c in P.REPEAT_CHANNEL])[rng.choice(len(P.REPEAT_CHANNEL), len(ru),
                                                                 p=list(P.REPEAT_CHANNEL.values()))]
    m = len(ru)
    for key, v in (("u", ru), ("ts", rts), ("ch", rch), ("camp", np.full(m, -1)), ("grp", np.full(m, -1)),
                   ("live", np.full(m, -1)), ("planted", np.zeros(m, bool)), ("first", np.zeros(m, bool))):
        rows[key].append(v)
    # --- group orders of leaders and existing members
    a, b = np.searchsorted(extra["pos"], [lo, hi])
    m = b - a
    for key, v in (("u", extra["pos"][a:b] - lo), ("ts", extra["ts"][a:b]), ("ch", np.full(m, CH["group_buy"])),
                   ("camp", extra["camp"][a:b]), ("grp", extra["group"][a:b]), ("live", np.full(m, -1)),
                   ("planted", np.zeros(m, bool)), ("first", np.zeros(m, bool))):
        rows[key].append(v)
    o = {k: np.concatenate(v) for k, v in rows.items()}
    # --- experiment overrides
    e_idx = U["exp"][sl]
    ws, we = exp["start"][e_idx], exp["end"][e_idx]
    inwin = (e_idx[o["u"]] >= 0) & (o["ts"] >= ws[o["u"]]) & (o["ts"] <= we[o["u"]]) & (o["grp"] < 0)
    o = {k: v[~inwin] for k, v in o.items()}
    pl = np.flatnonzero((e_idx >= 0) & (rng.random(n) < U["exp_p"][sl]))
    at = U["assigned_ts"][sl][pl]
    pts = at + (rng.random(len(pl)) * (we[pl] - at)).astype(np.int64)
    m = len(pl)
    for key, v in (("u", pl), ("ts", pts), ("ch", np.full(m, CH["organic"])), ("camp", np.full(m, -1)),
                   ("grp", np.full(m, -1)), ("live", np.full(m, -1)), ("planted", np.ones(m, bool)),
                   ("first", np.zeros(m, bool))):
        o[key] = np.concatenate([o[key], v])
    # --- order ids
    srt = np.lexsort((~o["first"], o["ts"], o["u"]))
    o = {k: v[srt] for k, v in o.items()}
    nu = np.bincount(o["u"], minlength=n)
    rank = np.arange(len(o["u"])) - np.repeat(np.cumsum(nu) - nu, nu)
    keep = rank < MAX_ORDERS
    o = {k: v[keep] for k, v in o.items()}
    rank = rank[keep]
    N = len(o["u"])
    uid = lo + o["u"] + 1
    oid = uid * MAX_ORDERS + rank
    # --- items
    ni = np.where(o["grp"] >= 0, 1, 1 + rng.poisson(P.ITEMS_PER_ORDER_EXTRA, N))
    io = np.repeat(np.arange(N), ni)
    item = pick_from_pool(rng, pools[0], pools[1], o["u"][io])
    first_pos = np.cumsum(ni) - ni
    gsel = o["grp"] >= 0
    item[first_pos[gsel]] = extra["group_item"][o["grp"][gsel]]
    # unique (order, item)
    s2 = np.lexsort((item, io))
    io, item = io[s2], item[s2]
    dup = np.zeros(len(io), bool); dup[1:] = (io[1:] == io[:-1]) & (item[1:] == item[:-1])
    io, item = io[~dup], item[~dup]
    qty = 1 + rng.poisson(P.QTY_EXTRA, len(io))
    price = np.round(catalog.list_price[item] * rng.uniform(0.85, 1.0, len(io)), 2)
    sub = np.bincount(io, weights=qty * price, minlength=N)
    main_item = item[np.searchsorted(io, np.arange(N))]
    day = np.clip(cal.day_of(o["ts"]), 0, cal.D - 1)
    drate = np.where(cal.season[day] > 1.5, P.PEAK_DISCOUNT, P.BASE_DISCOUNT)
    drate = np.where(gsel, P.GROUP_DISCOUNT, drate)
    coupon = np.where(o["first"] & (U["mech"][sl][o["u"]] >= 0), 10.0, 0.0)
    disc = np.round(np.minimum(sub, sub * drate + coupon), 2)
    gmv = np.round(np.maximum(sub - disc, 0.0), 2)
    # --- status & logistics
    cancelled = (rng.random(N) < P.CANCEL_P) & ~o["planted"] & ~o["first"]
    region = U["region"][sl][o["u"]]
    wh = np.where(rng.random(N) < P.HOME_WAREHOUSE_P, region, rng.integers(0, len(WAREHOUSES), N))
    carrier = rng.choice(len(CARRIERS), N, p=list(P.CARRIER_P.values()))
    handling = (HOUR + rng.exponential(P.HANDLING_HOURS * HOUR, N) * cal.season[day]).astype(np.int64)
    shipped = o["ts"] + handling
    tier = U["tier"][sl][o["u"]]
    transit_days = (np.array(list(P.CARRIER_DAYS.values()))[carrier] * (1 + P.TIER_TRANSIT_STEP * (tier - 1))
                    * np.where(wh != region, P.CROSS_REGION_MULT, 1.0) * rng.lognormal(0, 0.35, N))
    delivered = shipped + (transit_days * DAY).astype(np.int64)
    ship_ok = ~cancelled & (shipped < cal.t_end)
    deliv_ok = ship_ok & (delivered < cal.t_end)
    late_del = deliv_ok & (transit_days > P.TICKET_LATE_DAYS)
    # --- returns
    mcat = catalog.category[main_item]
    rp = np.array([P.RETURN_P[c] for c in CATEGORIES])[mcat]
    ret = deliv_ok & ~o["planted"] & (rng.random(N) < rp)
    req = delivered + rng.exponential(P.RETURN_DELAY_DAYS * DAY, N).astype(np.int64) + 600
    ret &= req < cal.t_end
    within7 = (req - delivered) <= 7 * DAY
    other_p = np.array(list(P.OTHER_REASONS.values()))
    reason = 1 + rng.choice(len(other_p), N, p=other_p)          # codes into RETURN_REASONS (0 = no_reason_7d)
    reason = np.where(within7 & (rng.random(N) < P.NO_REASON_SHARE_WITHIN_7D), 0, reason)
    approve = rng.random(N) < np.array(list(P.APPROVE_P.values()))[reason]
    refunded = ret & approve
    status = np.where(cancelled, 1, np.where(refunded, 2, 0))
    r = np.flatnonzero(ret)
    returns = {"return_id": oid[r], "order_id": oid[r], "requested_ts": req[r],
               "reason": Cat(reason[r], RETURN_REASONS), "no_reason_7d": reason[r] == 0,
               "approved": approve[r], "refund_amount": np.where(approve[r], gmv[r], 0.0)}
    # --- reviews
    rv = np.flatnonzero(deliv_ok & (rng.random(N) < P.REVIEW_P))
    rts2 = delivered[rv] + rng.exponential(3 * DAY, len(rv)).astype(np.int64) + 600
    ok = rts2 < cal.t_end
    rv, rts2 = rv[ok], rts2[ok]
    score = 4.4 - 0.8 * late_del[rv] - 1.8 * (ret[rv] & (reason[rv] >= 1) & (reason[rv] <= 4)) + rng.normal(0, 0.8, len(rv))
    media = rng.random(len(rv)) < 0.2
    reviews = {"review_id": oid[rv], "order_id": oid[rv], "user_id": uid[rv], "item_id": main_item[rv] + 1,
               "rating": np.clip(np.round(score), 1, 5).astype(np.int64), "review_ts": rts2,
               "has_media": media, "text_len": rng.geometric(1 / 40, len(rv)) * (1 + media)}
    # --- ticket candidates
    tp = P.TICKET_P["base"] + P.TICKET_P["late_delivery"] * late_del + P.TICKET_P["return"] * ret
    tk = np.flatnonzero(rng.random(N) < tp)
    tc = np.where(ret[tk], TICKET_CATEGORIES.index("refund"),
                  np.where(late_del[tk], TICKET_CATEGORIES.index("logistics"),
                           rng.choice([1, 2, 3, 5, 0], len(tk), p=[0.35, 0.1, 0.2, 0.15, 0.2])))
    tts = np.where(ret[tk], req[tk] + rng.exponential(HOUR, len(tk)).astype(np.int64),
                   np.where(late_del[tk], shipped[tk] + int(3.5 * DAY) + rng.integers(0, DAY, len(tk)),
                            o["ts"][tk] + rng.exponential(3 * HOUR, len(tk)).astype(np.int64) + 60))
    # users' non-order tickets
    nt = np.flatnonzero(rng.random(n) < P.TICKET_P["no_order_per_user"])
    ntt = U["ts"][sl][nt] + rng.exponential(20 * DAY, len(nt)).astype(np.int64)
    tickets = {"user_id": np.concatenate([uid[tk], lo + nt + 1]),
               "order_id": np.concatenate([oid[tk], np.full(len(nt), -1)]),
               "created_ts": np.concatenate([tts, ntt]),
               "category": np.concatenate([tc, rng.choice([3, 4], len(nt), p=[0.4, 0.6])])}
    okt = (tickets["created_ts"] < cal.t_end) & (tickets["created_ts"] >= cal.t0)
    tickets = {k: v[okt] for k, v in tickets.items()}
    # --- demand for supply (item × warehouse × week)
    live_o = ~cancelled
    week = np.clip(cal.day_of(o["ts"]) // 7, 0, demand.shape[2] - 1)
    ii = live_o[io]
    np.add.at(demand, (item[ii], wh[io][ii], week[io][ii]), qty[ii])
    orders = {"order_id": oid, "user_id": uid, "order_ts": o["ts"], "gmv": gmv, "discount": disc,
              "channel": Cat(o["ch"], CHANNELS),
              "campaign_id": (o["camp"] + 1, o["camp"] < 0), "group_id": (o["grp"] + 1, o["grp"] < 0),
              "live_id": (o["live"] + 1, o["live"] < 0), "status": Cat(status, ["paid", "cancelled", "refunded"]),
              "shipped_ts": (shipped, ~ship_ok), "delivered_ts": (delivered, ~deliv_ok),
              "warehouse_id": Cat(wh, WAREHOUSES, cancelled), "carrier": Cat(carrier, CARRIERS, cancelled)}
    order_items = {"order_id": oid[io], "item_id": item + 1, "qty": qty, "unit_price": price}
    info = {"u": o["u"], "ts": o["ts"], "item": main_item, "spells": (su, sa, sb, smu),
            "legacy_state": legacy_state}
    return orders, order_items, returns, reviews, tickets, info
