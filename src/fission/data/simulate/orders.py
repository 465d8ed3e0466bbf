"""Orders for a chunk of users: first orders, repeat orders in active spells (gamma rates, churn,
resurrection, seasonality), group-buy orders, the experiments' treatment effect; then items,
logistics, returns (7-day no-reason rule), reviews, and ticket candidates.

The users' ordering runs on past the data end through the calendar's hidden continuation
(``cal.t_ext``): only orders before ``cal.t_end`` are written; the rest feed the latent truths
(true churn times, the next 12 months' purchases) and are then dropped."""
from __future__ import annotations

import numpy as np

from ..contract import CARRIERS, CATEGORIES, CHANNELS, RETURN_REASONS, TICKET_CATEGORIES, WAREHOUSES
from . import experiments as EX
from . import params as P
from .calendar import DAY, HOUR
from .campaigns import month_of
from .catalog import pick_from_pool
from .writer import Cat

CH = {c: i for i, c in enumerate(CHANNELS)}
MAX_ORDERS = 1000          # order_id = user_id * 1000 + rank
FREQ_BINS = ["0", "1", "2", "3", "4-5", "6+"]     # repeat purchase days in the data (future_12m)


def _spells(rng, cal, start, rate):
    """Active spells from ``start`` (-1 = never) to the end of the continuation: arrays of
    (user, a, b, expected orders)."""
    su, sa, sb, smu = [], [], [], []
    idx = np.flatnonzero(start >= 0)
    s = start[idx]
    for _ in range(P.MAX_SPELLS):
        ok = s < cal.t_ext
        idx, s = idx[ok], s[ok]
        if not len(idx):
            break
        e = np.minimum(s + rng.exponential(P.ACTIVE_SPELL_DAYS * DAY, len(s)).astype(np.int64), cal.t_ext)
        mu = rate[idx] * (cal.order_cum(e) - cal.order_cum(s)) / (30 * 24)
        su.append(idx); sa.append(s); sb.append(e); smu.append(mu)
        back = (rng.random(len(s)) < P.RESURRECT_P) & (e < cal.t_ext)
        idx = idx[back]
        s = e[back] + rng.exponential(P.DORMANT_DAYS * DAY, len(idx)).astype(np.int64)
    cat = lambda x, d=np.int64: np.concatenate(x).astype(d) if x else np.zeros(0, d)  # noqa: E731
    return cat(su), cat(sa), cat(sb), cat(smu, np.float64)


def _window_spells(cal, rate, su, sa, sb):
    """The spells' parts inside the data window (for the behaviour log)."""
    w = sa < cal.t_end
    su, sa, sb = su[w], sa[w], np.minimum(sb[w], cal.t_end)
    return su, sa, sb, rate[su] * (cal.order_cum(sb) - cal.order_cum(sa)) / (30 * 24)


def future_group_rate(cal, extra_ts, signup_ts, is_fraud) -> float:
    """Group-buy orders of existing users per user and order-season hour over the window's last
    90 days: the rate at which the continuation hands out group-buy orders (the window picks
    members uniformly among users signed up >= 30 days earlier)."""
    t1 = cal.t_end - 90 * DAY
    n_orders = int((extra_ts >= t1).sum())
    eligible = int(((signup_ts <= cal.t_end - 30 * DAY) & ~is_fraud).sum())
    exposure = cal.order_cum(cal.t_end) - cal.order_cum(t1)
    return n_orders / max(eligible * exposure, 1e-9)


def _future_group_orders(rng, cal, signup, is_fraud, rate):
    a = np.maximum(signup + 30 * DAY, cal.t_end)
    mu = np.where(is_fraud, 0.0, rate * (cal.order_cum(cal.t_ext) - cal.order_cum(a)))
    k = rng.poisson(mu)
    u = np.repeat(np.arange(len(signup)), k)
    return u, cal.sample_order_times(rng, np.repeat(a, k), np.full(len(u), cal.t_ext))


def _attributes(rng, cal, U, sl, o, cancelled, extra, catalog, pools, horizon):
    """Items, prices, discount, logistics and returns of the orders ``o``; events after
    ``horizon`` (shipping, delivery, return requests) are not observed."""
    N = len(o["u"])
    ni = np.where(o["grp"] >= 0, 1, 1 + rng.poisson(P.ITEMS_PER_ORDER_EXTRA, N))
    io = np.repeat(np.arange(N), ni)
    item = pick_from_pool(rng, pools, o["u"][io])
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
    season = cal.season_at(o["ts"])
    drate = np.where(season > 1.5, P.PEAK_DISCOUNT, P.BASE_DISCOUNT)
    drate = np.where(o["gbuy"], P.GROUP_DISCOUNT, drate)
    coupon = np.where(o["first"] & (U["mech"][sl][o["u"]] >= 0), 10.0, 0.0)
    disc = np.round(np.minimum(sub, sub * drate + coupon), 2)
    gmv = np.round(np.maximum(sub - disc, 0.0), 2)
    # --- logistics
    region = U["region"][sl][o["u"]]
    wh = np.where(rng.random(N) < P.HOME_WAREHOUSE_P, region, rng.integers(0, len(WAREHOUSES), N))
    carrier = rng.choice(len(CARRIERS), N, p=list(P.CARRIER_P.values()))
    handling = (HOUR + rng.exponential(P.HANDLING_HOURS * HOUR, N) * season).astype(np.int64)
    shipped = o["ts"] + handling
    tier = U["tier"][sl][o["u"]]
    transit_days = (np.array(list(P.CARRIER_DAYS.values()))[carrier] * (1 + P.TIER_TRANSIT_STEP * (tier - 1))
                    * np.where(wh != region, P.CROSS_REGION_MULT, 1.0) * rng.lognormal(0, 0.35, N))
    delivered = shipped + (transit_days * DAY).astype(np.int64)
    ship_ok = ~cancelled & (shipped < horizon)
    deliv_ok = ship_ok & (delivered < horizon)
    # --- returns
    rp = np.array([P.RETURN_P[c] for c in CATEGORIES])[catalog.category[main_item]]
    ret = deliv_ok & (rng.random(N) < rp)
    req = delivered + rng.exponential(P.RETURN_DELAY_DAYS * DAY, N).astype(np.int64) + 600
    ret &= req < horizon
    within7 = (req - delivered) <= 7 * DAY
    other_p = np.array(list(P.OTHER_REASONS.values()))
    reason = 1 + rng.choice(len(other_p), N, p=other_p)          # codes into RETURN_REASONS (0 = no_reason_7d)
    reason = np.where(within7 & (rng.random(N) < P.NO_REASON_SHARE_WITHIN_7D), 0, reason)
    approve = rng.random(N) < np.array(list(P.APPROVE_P.values()))[reason]
    status = np.where(cancelled, 1, np.where(ret & approve, 2, 0))     # paid, cancelled, refunded
    return dict(io=io, item=item, qty=qty, price=price, main_item=main_item, gmv=gmv, disc=disc,
                coupon=np.minimum(coupon, disc), wh=wh, carrier=carrier, shipped=shipped,
                delivered=delivered, ship_ok=ship_ok, deliv_ok=deliv_ok, transit_days=transit_days,
                ret=ret, req=req, reason=reason, approve=approve, status=status)


def _churn(cal, U, sl, o, valid):
    """True churn per window signup with a non-cancelled order (window or continuation): the
    first such order followed by >= CHURN_DAYS without one (the gap to the continuation's end
    counts). Returns channel, duration in days (inf: no churn before the continuation's end),
    days to the first such order, and whether the user had one before the data end."""
    u, ts = o["u"][valid], o["ts"][valid]          # sorted by (user, ts)
    nxt = np.append(ts[1:], cal.t_ext)
    last = np.append(u[1:] != u[:-1], True)
    nxt[last] = cal.t_ext
    signup = U["ts"][sl]
    churn = np.full(len(signup), np.inf)
    c = np.flatnonzero(nxt - ts >= P.CHURN_DAYS * DAY)
    cu, first_c = np.unique(u[c], return_index=True)
    churn[cu] = ts[c[first_c]]
    by_end = np.zeros(len(signup), bool); by_end[u[ts < cal.t_end]] = True
    first = np.zeros(len(signup))
    fu, fi = np.unique(u, return_index=True)          # each user's earliest order
    first[fu] = ts[fi]
    users = fu[signup[fu] >= cal.t0]
    return {"channel": U["channel"][sl][users].astype(np.int8),
            "days": ((churn[users] - signup[users]) / DAY).astype(np.float32),
            "first_days": ((first[users] - signup[users]) / DAY).astype(np.float32),
            "by_end": by_end[users]}


def _future(cal, n, o_win, a_win, o_fut, a_fut):
    """Per frequency bin (paid purchase days in the data − 1): customers with >= 1 paid order in
    the data, and their paid orders, purchase days and spend in the FUTURE_DAYS after the data
    end. Rows: bins; columns: customers, orders, purchase days, spend."""
    def per_user(o, a):
        paid = a["status"] == 0
        u, day = o["u"][paid], (o["ts"][paid] - cal.t0) // DAY
        udays = np.unique(u * 10_000 + day) // 10_000           # one entry per (user, day)
        return (np.bincount(u, minlength=n), np.bincount(udays, minlength=n),
                np.bincount(u, weights=a["gmv"][paid], minlength=n))
    _, days_w, _ = per_user(o_win, a_win)
    orders_f, days_f, spend_f = per_user(o_fut, a_fut)
    cust = days_w > 0
    f = days_w - 1
    b = np.select([f <= 3, f <= 5], [f, 4], 5)[cust]
    out = np.zeros((len(FREQ_BINS), 4))
    for i, x in enumerate((cust, orders_f, days_f, spend_f)):
        out[:, i] = np.bincount(b, weights=np.asarray(x, float)[cust], minlength=len(FREQ_BINS))
    return out


def _acquisition(cal, U, sl, o, a):
    """Incentive spend carried by the chunk's window orders, as [year (compare, edition),
    channel]: the first-order discount of referral users (and its new-user coupon part), by
    signup year; the group-buy discount of group-buy orders, by order year."""
    nch = len(CHANNELS)
    out = {k: np.zeros((2, nch)) for k in ("first_order_discount", "new_user_coupon", "group_buy_discount")}
    ok = a["status"] != 1
    signup = U["ts"][sl][o["u"]]
    ref = ok & o["first"] & (U["channel"][sl][o["u"]] == CH["referral"]) & (signup >= cal.t0)
    group = ok & (o["grp"] >= 0)
    for y in (0, 1):
        s = ref & ((signup >= cal.year_start) == bool(y))
        out["first_order_discount"][y, CH["referral"]] = a["disc"][s].sum()
        out["new_user_coupon"][y, CH["referral"]] = a["coupon"][s].sum()
        g = group & ((o["ts"] >= cal.year_start) == bool(y))
        out["group_buy_discount"][y, CH["group_buy"]] = a["disc"][g].sum()
    return out


def _monthly(cal, U, sl, o, valid):
    """Per month of the window: active buyers (a non-cancelled order) and new buyers (window
    signups whose first non-cancelled order falls in the month)."""
    nm = int(month_of(cal, np.array([cal.t_end - 1]))[0]) + 1
    u, m = o["u"][valid], month_of(cal, o["ts"][valid])
    active = np.bincount(np.unique(u * nm + m) % nm, minlength=nm)
    first = np.append(True, u[1:] != u[:-1])          # sorted by (user, ts)
    new = first & (U["ts"][sl][u] >= cal.t0)
    return {"active": active, "new": np.bincount(m[new], minlength=nm)}


def chunk(rng, cal, U, lo, hi, extra, exp, catalog, pools, demand):
    """Returns dict of table columns for orders, order_items, returns, reviews, plus ticket
    candidates, spells, per-order info for events and the chunk's parts of the latent truths."""
    n = hi - lo
    sl = slice(lo, hi)
    rate, first, late = U["rate"][sl], U["first_ts"][sl], U["late_start"][sl]
    rows = {k: [] for k in ("u", "ts", "ch", "camp", "grp", "live", "first", "gbuy")}

    def add(u, ts, ch, camp=None, grp=None, live=None, is_first=False, gbuy=False):
        m = len(u)
        for key, v in (("u", u), ("ts", ts), ("ch", ch), ("camp", camp), ("grp", grp), ("live", live),
                       ("first", is_first), ("gbuy", gbuy)):
            rows[key].append(np.broadcast_to(-1 if v is None else v, (m,)))
    # --- first orders (a legacy user's first order before the window is unobserved)
    f = np.flatnonzero(first >= cal.t0)
    fg = U["fo_group"][sl][f]
    add(f, first[f], U["channel"][sl][f], U["fo_campaign"][sl][f], fg, U["live"][sl][f], True, fg >= 0)
    # --- repeat orders in spells, and the treated users' extra orders in experiment windows
    start = np.where(first >= 0, first + 1, late)
    su, sa, sb, smu = _spells(rng, cal, start, rate)
    # the installed base at the window start (spells before the window have no observed orders:
    # order_cum is 0 before t0, so only the in-window part of a spell produces orders)
    leg = U["ts"][sl] < cal.t0
    act = np.zeros(n, bool); act[su[(sa <= cal.t0) & (sb > cal.t0)]] = True
    later = np.zeros(n, bool); later[su[(sa > cal.t0) & (sa < cal.t_end)]] = True
    legacy_state = {"users": int(leg.sum()), "active": int((leg & act).sum()),
                    "dormant_returning": int((leg & ~act & later).sum())}
    k = rng.poisson(smu)
    xu, xts, exp_sums = EX.chunk(rng, cal, U, sl, (su, sa, sb), exp, catalog, pools)
    ru = np.concatenate([np.repeat(su, k), xu])
    rts = np.concatenate([cal.sample_order_times(rng, np.repeat(sa, k), np.repeat(sb, k)), xts])
    rch = np.array([CH[c] for c in P.REPEAT_CHANNEL])[rng.choice(len(P.REPEAT_CHANNEL), len(ru),
                                                                 p=list(P.REPEAT_CHANNEL.values()))]
    add(ru, rts, rch)
    # --- group orders of leaders and existing members; in the continuation at the window's rate
    a, b = np.searchsorted(extra["pos"], [lo, hi])
    add(extra["pos"][a:b] - lo, extra["ts"][a:b], CH["group_buy"], extra["camp"][a:b], extra["group"][a:b],
        gbuy=True)
    cu, cts = _future_group_orders(rng, cal, U["ts"][sl], U["fraud"][sl], extra["future_rate"])
    add(cu, cts, CH["group_buy"], gbuy=True)
    o = {k: np.concatenate(v) for k, v in rows.items()}
    o["first"] = o["first"].astype(bool); o["gbuy"] = o["gbuy"].astype(bool)
    # --- order ids (window orders come first in each user's run)
    srt = np.lexsort((~o["first"], o["ts"], o["u"]))
    o = {k: v[srt] for k, v in o.items()}
    nu = np.bincount(o["u"], minlength=n)
    rank = np.arange(len(o["u"])) - np.repeat(np.cumsum(nu) - nu, nu)
    win = o["ts"] < cal.t_end
    keep = ~win | (rank < MAX_ORDERS)
    o = {k: v[keep] for k, v in o.items()}
    rank, win = rank[keep], win[keep]
    cancelled = (rng.random(len(o["u"])) < P.CANCEL_P) & ~o["first"]
    truth = {"churn": _churn(cal, U, sl, o, ~cancelled), "experiments": exp_sums,
             "monthly": _monthly(cal, U, sl, {k: v[win] for k, v in o.items()}, ~cancelled[win])}
    fut = ~win & (o["ts"] < cal.t_end + P.FUTURE_DAYS * DAY)
    of = {k: v[fut] for k, v in o.items()}
    af = _attributes(rng, cal, U, sl, of, cancelled[fut], extra, catalog, pools, cal.t_ext)
    o = {k: v[win] for k, v in o.items()}
    rank, cancelled = rank[win], cancelled[win]
    A = _attributes(rng, cal, U, sl, o, cancelled, extra, catalog, pools, cal.t_end)
    truth["future"] = _future(cal, n, o, A, of, af)
    truth["acquisition"] = _acquisition(cal, U, sl, o, A)
    N = len(o["u"])
    uid = lo + o["u"] + 1
    oid = uid * MAX_ORDERS + rank
    io, item, qty, price, main_item = A["io"], A["item"], A["qty"], A["price"], A["main_item"]
    gmv, deliv_ok, ret, req, reason, approve = A["gmv"], A["deliv_ok"], A["ret"], A["req"], A["reason"], A["approve"]
    shipped, delivered, wh = A["shipped"], A["delivered"], A["wh"]
    late_del = deliv_ok & (A["transit_days"] > P.TICKET_LATE_DAYS)
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
    orders = {"order_id": oid, "user_id": uid, "order_ts": o["ts"], "gmv": gmv, "discount": A["disc"],
              "channel": Cat(o["ch"], CHANNELS),
              "campaign_id": (o["camp"] + 1, o["camp"] < 0), "group_id": (o["grp"] + 1, o["grp"] < 0),
              "live_id": (o["live"] + 1, o["live"] < 0), "status": Cat(A["status"], ["paid", "cancelled", "refunded"]),
              "shipped_ts": (shipped, ~A["ship_ok"]), "delivered_ts": (delivered, ~deliv_ok),
              "warehouse_id": Cat(wh, WAREHOUSES, cancelled), "carrier": Cat(A["carrier"], CARRIERS, cancelled)}
    order_items = {"order_id": oid[io], "item_id": item + 1, "qty": qty, "unit_price": price}
    info = {"u": o["u"], "ts": o["ts"], "item": main_item, "spells": _window_spells(cal, rate, su, sa, sb),
            "legacy_state": legacy_state, "truth": truth}
    return orders, order_items, returns, reviews, tickets, info
