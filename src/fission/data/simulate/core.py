"""The pipeline: build the world, then write it chunk by chunk of users."""
from __future__ import annotations

import json
import sys
import time
import zlib
from pathlib import Path

import numpy as np

from ..contract import (AGE_BANDS, CAMPAIGN_TYPES, CATEGORIES, CHANNELS, GENDERS, KOL_TIERS,
                        MECHANISMS, PLATFORMS, TABLES)
from . import campaigns as CA
from . import events as EV
from . import experiments as EX
from . import groups as GR
from . import orders as OR
from . import params as P
from . import rewards as RW
from . import service as SV
from . import sharing as SH
from . import supply as SU
from . import truths as TR
from . import users as US
from .calendar import DAY, SEASON, SPRING_FESTIVAL, Calendar
from .catalog import build_catalog, user_pools
from .writer import Cat, TableWriter, hexstr, write_examples, write_table

CHUNK_USERS = 200_000


def _rng_factory(seed: int):
    def rngs(name: str, *idx: int) -> np.random.Generator:
        return np.random.default_rng(np.random.SeedSequence([int(seed), zlib.crc32(name.encode()), *idx]))
    return rngs


def simulate(out_dir: Path, *, year: int, users: int, seed: int, progress: bool = True) -> dict:
    """Simulate years ``year-1`` and ``year`` with about ``users`` signups; write the tables."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    stage_t = [t_start]

    def log(msg: str) -> None:
        if progress:
            now = time.perf_counter()
            print(f"[simulate {now - t_start:7.1f}s +{now - stage_t[0]:5.1f}s] {msg}", file=sys.stderr, flush=True)
            stage_t[0] = now

    rngs = _rng_factory(seed)
    rows: dict[str, int] = {}
    cal = Calendar(year)
    catalog = build_catalog(rngs("catalog"), users)
    W, _tier_p = US.arrival_weights(cal)
    camp = CA.build_campaigns(rngs("campaigns"), cal, W)
    pop = US.build(rngs, cal, users, camp, catalog, log)
    U = pop.cols
    n = pop.n
    g = pop.groups
    # --- experiments ------------------------------------------------------------------------
    e_idx, variant, assigned, specs = EX.build(rngs("experiments"), cal, U["ts"], U["fraud"])
    U["exp"], U["variant"], U["assigned_ts"] = e_idx, variant, assigned
    ws, we = EX.windows(specs)

    def blocked(pos, t):
        e = U["exp"][pos]
        return U["fraud"][pos] | ((e >= 0) & (t >= ws[e] - DAY) & (t <= we[e] + DAY))

    # --- group leaders and existing members -------------------------------------------------
    rg = rngs("group_fill")
    leader = GR.pick_existing(rg, U["ts"], g.created, blocked)
    jpos = np.full(len(g.j_ts), -1, dtype=np.int64)
    isj = U["joiner"] >= 0
    jpos[U["joiner"][isj]] = np.flatnonzero(isj)
    ex = np.flatnonzero(~g.j_new)
    jpos[ex] = GR.pick_existing(rg, U["ts"], g.j_ts[ex], blocked)
    for _ in range(5):   # no user twice in a group (leader included)
        gu = np.concatenate([g.j_group, np.arange(len(g.created))])
        uu = np.concatenate([jpos, leader])
        o = np.lexsort((uu, gu))
        d = np.zeros(len(o), bool); d[1:] = (gu[o][1:] == gu[o][:-1]) & (uu[o][1:] == uu[o][:-1])
        bad = o[d]
        bad = bad[bad < len(jpos)]
        bad = bad[~g.j_new[bad]]
        if not len(bad):
            break
        jpos[bad] = GR.pick_existing(rg, U["ts"], g.j_ts[bad], blocked)
    fallback = (leader < 0)
    leader[fallback] = 0
    jpos[jpos < 0] = 0
    g.leader, g.j_user = leader, jpos
    succ = np.flatnonzero(g.success)
    sj = np.flatnonzero(g.success[g.j_group] & ~g.j_new)
    month_gc = camp.month_group[CA.month_of(cal, np.concatenate([g.created[succ], g.j_ts[sj]]))]
    extra = {"pos": np.concatenate([leader[succ], jpos[sj]]), "ts": np.concatenate([g.created[succ], g.j_ts[sj]]),
             "group": np.concatenate([succ, g.j_group[sj]]), "camp": month_gc}
    o = np.lexsort((extra["ts"], extra["pos"]))
    extra = {k: v[o] for k, v in extra.items()}
    extra["group_item"] = g.item
    extra["future_rate"] = OR.future_group_rate(cal, extra["ts"], U["ts"], U["fraud"])
    log(f"groups: {len(g.created)} groups, {len(g.j_ts)} joiners")
    # --- campaign costs -----------------------------------------------------------------------
    nc = len(camp.ctype)
    attributed = {}
    for chn in ("ads", "kol", "live", "group_buy"):
        sel = (U["channel"] == US.CH[chn]) & (U["campaign"] >= 0)
        attributed[chn] = np.bincount(U["campaign"][sel], minlength=nc).astype(float)
    ref = U["channel"] == US.CH["referral"]
    ref_month = np.bincount(camp.month_coupon[CA.month_of(cal, U["ts"][ref])], minlength=nc).astype(float)
    content = np.zeros(nc); content[camp.content] = ref.sum() / len(camp.content)
    attributed["referral"] = 0.8 * ref_month + 0.2 * content
    CA.set_costs(rngs("costs"), camp, P.CAC, attributed)
    # --- small tables --------------------------------------------------------------------------
    rows["users"] = write_table(out_dir, "users", {
        "user_id": np.arange(1, n + 1), "signup_ts": U["ts"], "city_tier": U["tier"],
        "province": Cat(U["province"], US.PROVINCE_LIST), "age_band": Cat(U["age"], AGE_BANDS),
        "gender": Cat(U["gender"], GENDERS), "acquisition_channel": Cat(U["channel"], CHANNELS),
        "referrer_user_id": (U["referrer"] + 1, U["referrer"] < 0), "device_hash": hexstr(U["device"]),
        "is_member": U["member"], "member_since": (U["member_since"], ~U["member"])})
    rcols, rewards_truth = RW.build(rngs("rewards"), cal, U)
    rows["rewards"] = write_table(out_dir, "rewards", rcols)
    _write_sharing(rngs("sharing_out"), cal, out_dir, pop, camp, catalog, rows)
    log(f"users {rows['users']}, shares {rows['shares']}, share_visits {rows['share_visits']}")
    rows["kols"] = write_table(out_dir, "kols", {
        "kol_id": np.arange(1, len(camp.kol_tier) + 1), "platform": Cat(camp.kol_platform, PLATFORMS),
        "tier": Cat(camp.kol_tier, KOL_TIERS), "followers": camp.kol_followers,
        "category": Cat(camp.kol_category, CATEGORIES)})
    ckol = np.array(camp.ckol)
    rows["campaigns"] = write_table(out_dir, "campaigns", {
        "campaign_id": np.arange(1, nc + 1), "name": camp.cname, "type": Cat(camp.ctype, CAMPAIGN_TYPES),
        "platform": Cat(camp.cplatform, PLATFORMS), "kol_id": (ckol + 1, ckol < 0),
        "start_ts": np.array(camp.cstart), "end_ts": np.array(camp.cend), "cost": camp.cost})
    rows["live_sessions"] = write_table(out_dir, "live_sessions", {
        "live_id": np.arange(1, len(camp.live_kol) + 1), "kol_id": camp.live_kol + 1,
        "platform": Cat(camp.kol_platform[camp.live_kol], PLATFORMS), "start_ts": camp.live_start,
        "end_ts": camp.live_end, "viewers": camp.live_viewers, "peak_viewers": camp.live_peak})
    rows["items"] = write_table(out_dir, "items", {
        "item_id": np.arange(1, catalog.n + 1), "category": Cat(catalog.category, CATEGORIES),
        "brand": list(catalog.brand), "list_price": catalog.list_price, "supplier_id": catalog.supplier + 1})
    rows["group_buys"] = write_table(out_dir, "group_buys", {
        "group_id": np.arange(1, len(g.created) + 1), "leader_user_id": leader + 1, "item_id": g.item + 1,
        "created_ts": g.created, "target_size": g.target, "status": Cat((~g.success).astype(int), ["success", "failed"]),
        "closed_ts": g.closed})
    gm_g = np.concatenate([np.arange(len(g.created)), g.j_group])
    gm_u = np.concatenate([leader, jpos])
    gm_t = np.concatenate([g.created, g.j_ts])
    gm_new = np.concatenate([np.zeros(len(g.created), bool), g.j_new])
    o = np.lexsort((gm_t, gm_g))
    gm_g, gm_u, gm_t, gm_new = gm_g[o], gm_u[o], gm_t[o], gm_new[o]
    d = np.zeros(len(o), bool)
    k2 = np.lexsort((gm_u, gm_g)); dd = np.zeros(len(o), bool)
    dd[1:] = (gm_g[k2][1:] == gm_g[k2][:-1]) & (gm_u[k2][1:] == gm_u[k2][:-1]); d[k2[dd]] = True
    rows["group_members"] = write_table(out_dir, "group_members", {
        "group_id": gm_g[~d] + 1, "user_id": gm_u[~d] + 1, "joined_ts": gm_t[~d], "is_new_user": gm_new[~d]})
    rows["experiments"] = write_table(out_dir, "experiments", {
        "experiment_id": [s["experiment_id"] for s in specs], "name": [s["name"] for s in specs],
        "hypothesis": [s["hypothesis"] for s in specs], "start_ts": [s["start_ts"] for s in specs],
        "end_ts": [s["end_ts"] for s in specs], "primary_metric": ["conversion"] * len(specs)})
    a = np.flatnonzero(U["exp"] >= 0)
    rows["assignments"] = write_table(out_dir, "assignments", {
        "experiment_id": U["exp"][a] + 1, "user_id": a + 1, "variant": Cat(U["variant"][a], ["control", "treatment"]),
        "assigned_ts": U["assigned_ts"][a]})
    log("small tables written")
    # --- the big tables, chunk by chunk of users ---------------------------------------------
    from .params import category_taste
    taste = category_taste()
    writers = {t: TableWriter(out_dir, t, parts=(t == "events"))
               for t in ("orders", "order_items", "returns", "reviews", "events")}
    tickets = []
    legacy_state = {"users": 0, "active": 0, "dormant_returning": 0}
    weeks = (cal.D + 6) // 7
    demand = np.zeros((catalog.n, 7, weeks), dtype=np.int64)
    expw = {"start": ws, "end": we, "lift": np.array([s["lift"] for s in specs] + [0.0])}
    latent = []
    for ci, lo in enumerate(range(0, n, CHUNK_USERS)):
        hi = min(n, lo + CHUNK_USERS)
        rc = rngs("chunk", ci)
        pools = user_pools(rc, catalog, U["gender"][lo:hi], U["age"][lo:hi], taste, U["factors"][lo:hi])
        orders, items, rets, revs, tks, info = OR.chunk(rc, cal, U, lo, hi, extra, expw, catalog, pools, demand)
        ev = EV.chunk(rngs("events", ci), cal, U, lo, hi, info, catalog, pools)
        for t, cols in (("orders", orders), ("order_items", items), ("returns", rets), ("reviews", revs),
                        ("events", ev)):
            writers[t].write(cols)
        tickets.append(tks)
        for k in legacy_state:
            legacy_state[k] += info["legacy_state"][k]
        latent.append(info["truth"])
        log(f"chunk {ci}: users {lo}-{hi}, orders {len(orders['order_id'])}, events {len(ev['ts'])}")
    for t, w in writers.items():
        rows[t] = w.close()
    cand = {k: np.concatenate([t[k] for t in tickets]) for k in tickets[0]}
    tcols, service_truth = SV.build(rngs("service"), cal, cand)
    rows["tickets"] = write_table(out_dir, "tickets", tcols)
    suppliers, pos_, inv, supply_truth = SU.build(rngs("supply"), cal, catalog, demand)
    rows["suppliers"] = write_table(out_dir, "suppliers", suppliers)
    rows["purchase_orders"] = write_table(out_dir, "purchase_orders", pos_)
    rows["inventory"] = write_table(out_dir, "inventory", inv)
    rows.update(write_examples(out_dir))
    log(f"tickets {rows['tickets']}, purchase_orders {rows['purchase_orders']}, inventory {rows['inventory']}")
    missing = [t for t, spec in TABLES.items() if t not in rows]
    assert not missing, missing
    latent = TR.combine(latent)
    truth = _truth(seed, users, year, cal, pop, camp, specs, service_truth, supply_truth, rows, legacy_state,
                   latent)
    truth["rewards"] = rewards_truth
    truth["seconds"] = round(time.perf_counter() - t_start, 2)
    (out_dir / "truth.json").write_text(json.dumps(truth, ensure_ascii=False, indent=1, default=_json))
    log(f"done: {n} users, {sum(rows.values())} rows")
    return json.loads(json.dumps(truth, default=_json))


def _json(o):
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(type(o))


def _write_sharing(rng, cal, out_dir, pop, camp, catalog, rows):
    c, r, U = pop.cascade, pop.rings, pop.cols
    from . import fraud as FR
    s_user = np.concatenate([c.s_user, r.s_user])
    s_ts = np.concatenate([c.s_ts, r.s_ts])
    s_pl = np.concatenate([c.s_platform, np.full(len(r.s_ts), FR.PLATFORM)])
    s_me = np.concatenate([c.s_mech, np.full(len(r.s_ts), FR.MECH)])
    ns_c = len(c.s_ts)
    v_share = np.concatenate([c.v_share, ns_c + np.arange(len(r.s_ts))])
    v_ts = np.concatenate([c.v_ts, r.v_ts])
    v_ex = np.concatenate([c.v_existing, np.zeros(len(r.v_ts), bool)])
    v_su = np.concatenate([c.v_signup, r.v_signup])
    o = np.lexsort((np.arange(len(s_ts)), s_ts))
    rank = np.empty(len(o), dtype=np.int64); rank[o] = np.arange(len(o))
    s_pos = pop.pos[s_user]
    mech_names = np.array(MECHANISMS)
    camp_id = np.full(len(s_ts), -1)
    inv = s_me == MECHANISMS.index("invite_coupon")
    camp_id[inv] = camp.month_coupon[CA.month_of(cal, s_ts[inv])]
    con = np.flatnonzero(s_me == MECHANISMS.index("content"))
    cst, cen = np.array(camp.cstart)[camp.content], np.array(camp.cend)[camp.content]
    k = np.searchsorted(cst, s_ts[con], side="right") - 1
    okc = (k >= 0) & (s_ts[con] <= cen[np.maximum(k, 0)])
    camp_id[con[okc]] = camp.content[k[okc]]
    has_item = np.isin(mech_names[s_me], ["group_buy", "bargain", "kol_post", "live"])
    item = np.where(has_item, rng.choice(catalog.n, len(s_ts), p=catalog.popularity), -1)
    rows["shares"] = write_table(out_dir, "shares", {
        "share_id": rank[o] + 1, "user_id": s_pos[o] + 1, "share_ts": s_ts[o],
        "platform": Cat(s_pl[o], PLATFORMS), "mechanism": Cat(s_me[o], MECHANISMS),
        "campaign_id": (camp_id[o] + 1, camp_id[o] < 0), "item_id": (item[o] + 1, item[o] < 0)})
    # visits
    ov = np.lexsort((np.arange(len(v_ts)), v_ts))
    v_share, v_ts, v_ex, v_su = v_share[ov], v_ts[ov], v_ex[ov], v_su[ov]
    visitor = np.full(len(v_ts), -1, dtype=np.int64)
    exi = np.flatnonzero(v_ex)
    visitor[exi] = GR.pick_existing(rng, U["ts"], v_ts[exi], lambda p, t: np.zeros(len(p), bool), min_age=0)
    sig = v_su >= 0
    spos = np.where(sig, pop.pos[np.maximum(v_su, 0)], -1)
    visitor[sig] = spos[sig]
    fo = np.full(len(v_ts), -1, dtype=np.int64)
    has_fo = sig.copy()
    f_ts = U["first_ts"][spos[sig]]
    has_fo[sig] = (f_ts >= 0) & (f_ts < U["ts"][spos[sig]] + P.WINDOW_DAYS * DAY) & (f_ts < cal.t_end)
    fo[has_fo] = (spos[has_fo] + 1) * OR.MAX_ORDERS
    w = TableWriter(out_dir, "share_visits")
    step = 4_000_000
    for a in range(0, max(len(v_ts), 1), step):
        s = slice(a, a + step)
        w.write({"visit_id": np.arange(a + 1, a + 1 + len(v_ts[s])), "share_id": rank[v_share[s]] + 1,
                 "visit_ts": v_ts[s], "visitor_user_id": (visitor[s] + 1, visitor[s] < 0),
                 "is_new_user": ~v_ex[s], "signup_user_id": (spos[s] + 1, ~sig[s]),
                 "first_order_id": (fo[s], fo[s] < 0)})
    rows["share_visits"] = w.close()
    pop.cascade = None


def _truth(seed, users, year, cal, pop, camp, specs, service_truth, supply_truth, rows, legacy_state,
           latent) -> dict:
    from .calendar import HOUR_PROFILE, ORDER_EXPONENT
    U = pop.cols
    tiers = U["tier"]
    leg = U["legacy"]
    y0 = (U["ts"] < cal.year_start) & ~leg
    y1 = U["ts"] >= cal.year_start
    tier_counts = {str(k): [int(((tiers == k) & y0).sum()), int(((tiers == k) & y1).sum())] for k in range(1, 6)}
    nl = max(legacy_state["users"], 1)
    installed_base = {
        "users": int(leg.sum()), "user_ids": [1, int(leg.sum())],
        "signup_from": str(cal.start - __import__("datetime").timedelta(days=int(round(P.LEGACY_YEARS * 365)))),
        "signup_to": str(cal.start), "per_window_signup": P.LEGACY_FRAC,
        "arrival_growth_per_year": P.LEGACY_GROWTH, "channel_mix": P.LEGACY_CHANNEL_MIX,
        "share_active_at_start": round(legacy_state["active"] / nl, 4),
        "share_dormant_returning": round(legacy_state["dormant_returning"] / nl, 4),
        "share_lapsed_at_start": round(1 - (legacy_state["active"] + legacy_state["dormant_returning"]) / nl, 4),
        "notes": "Legacy users signed up before the window; the same buying model (rates, spells, "
                 "dormancy, churn, resurrection) runs from their signup, but only activity inside "
                 "the window is written. They send no shares (sharing happens in the 30 days after "
                 "signup) and are not in the K-factor truth. 'active' = in an active spell at the "
                 "window start; 'dormant_returning' = not active but with a later spell starting "
                 "inside the window.",
    }
    sf = {str(y): SPRING_FESTIVAL[y] for y in (year - 1, year)}
    md = [str(d)[5:] for d in cal.dates]
    peak = {name: float(np.mean([cal.season[i] for i, m in enumerate(md) if m in days]))
            for name, days in (("618", ("06-16", "06-17", "06-18")), ("double11", ("11-10", "11-11", "11-12")))}
    sf_mult = float(np.mean([cal.season[i] for i, d in enumerate(cal.dates)
                             if any(0 <= (d - np.datetime64(v)).astype(int) <= 6 for v in sf.values())]))
    return {
        "seed": seed, "users": int(pop.n - leg.sum()), "users_total": int(pop.n), "users_requested": users,
        "installed_base": installed_base, "year": year, "compare_year": year - 1,
        "start": str(cal.start), "end": str(cal.end),
        "simulated": True,
        "examples": {"market": "示例数据: src/fission/data/examples/market.csv (2020 figure is the seed; other years are illustrative estimates)",
                     "risk_register": "示例数据: src/fission/data/examples/risk_register.csv (illustrative)"},
        "rows": rows,
        "calibration": pop.calib,
        "channels": {"mix": dict(P.CHANNEL_MIX), "cac": dict(P.CAC),
                     "cac_campaign_types": P.CAC_CAMPAIGN_TYPES,
                     "cac_definition": "sum(campaigns.cost of the channel's campaign types) / users acquired by the channel over both years; the full cost per acquired user (incentives included) is in acquisition_cost",
                     "first_order_rate_within_30d": P.FIRST_ORDER_RATE,
                     "realised_non_referral": {c: int(((U["channel"] == US.CH[c]) & ~leg).sum()) for c in P.CHANNEL_MIX}},
        "sharing": SH.truth(),
        "seasonality": {"spring_festival": sf, "rules": SEASON, "order_exponent": ORDER_EXPONENT,
                        "mean_multiplier": {"618": peak["618"], "double11": peak["double11"], "spring_festival": sf_mult},
                        "hour_profile": [round(float(x), 5) for x in HOUR_PROFILE]},
        "tiers": {"base_share": P.TIER_BASE.tolist(), "yearly_growth": dict(zip(map(str, range(1, 6)), P.TIER_GROWTH.tolist())),
                  "signups_by_year": tier_counts, "referral_same_tier": P.REFERRAL_SAME_TIER},
        "demographics": {"age_p": dict(zip(AGE_BANDS, P.AGE_P.tolist())), "female_p": P.FEMALE_P,
                         "age_order_rate_multiplier": dict(zip(AGE_BANDS, P.AGE_ORDER_MULT.tolist())),
                         "category_taste": {g: {a: dict(zip(CATEGORIES, np.round(row, 4).tolist())) for a, row in zip(AGE_BANDS, mat)}
                                            for g, mat in zip(GENDERS, P.category_taste())}},
        "membership": {"p": P.MEMBER_P, "delay_days_mean": P.MEMBER_DELAY_DAYS, "order_rate_multiplier": P.MEMBER_RATE_MULT},
        "retention": {"order_rate_gamma_shape": P.RATE_SHAPE, "order_rate_mean_per_30_season_days": P.RATE_MEAN,
                      "active_spell_days_mean": P.ACTIVE_SPELL_DAYS, "resurrect_p": P.RESURRECT_P,
                      "churn_p_after_spell": 1 - P.RESURRECT_P, "dormant_days_mean": P.DORMANT_DAYS,
                      "max_spells": P.MAX_SPELLS, "late_buyer_rate": P.LATE_BUYER_RATE,
                      "repeat_channel": P.REPEAT_CHANNEL, "cancel_p": P.CANCEL_P},
        "group_buy": GR.truth(),
        "campaigns": {"n_kol_campaigns": CA.N_KOL_CAMPAIGNS, "n_live_sessions": CA.N_LIVE,
                      "kol_tiers": {t: list(CA.FOLLOWERS[t]) for t in KOL_TIERS},
                      "burst": "KOL users arrive start + Exponential(1.2 days) within the campaign; live users during the session"},
        "kol_live": CA.truth(camp, U["channel"], U["campaign"], U["live"], U["first_ts"], U["legacy"], cal.t_end,
                             US.CH["kol"], US.CH["live"], P.FIRST_ORDER_RATE["live"]),
        "recommendation": {"n_factors": P.N_FACTORS, "affinity_beta": P.AFFINITY_BETA, "pool_size": P.POOL_SIZE,
                           "algo_ctr": P.ALGO_CTR, "algo_share": P.ALGO_SHARE,
                           "notes": "events and purchases draw items from the user's pool with softmax(beta·u·v/sqrt(d)); "
                                    "rec_click follows rec_impression with the variant's CTR; the popularity variant shows globally popular items"},
        "items": {"zipf_exponent": P.ZIPF_EXPONENT, "price_median": P.PRICE_MEDIAN, "price_lognormal_sigma": P.PRICE_SIGMA},
        "experiments": EX.truth(specs, latent["experiments"]),
        "churn": TR.churn(latent["churn"]),
        "acquisition_cost": TR.acquisition(cal, U, camp, latent["acquisition"]),
        "future_12m": TR.future(latent["future"], cal),
        "monthly_buyers": TR.monthly(cal, latent["monthly"]),
        "fraud_rings": [{"ring_id": int(r) + 1,
                         "user_ids": (np.flatnonzero(U["ring"] == r) + 1).tolist(),
                         "device_hashes": [format(int(x), "016x") for x in pop.rings.ring_devices[r]]}
                        for r in range(len(pop.rings.ring_devices))],
        "service": service_truth,
        "returns": {"return_rate_by_category": P.RETURN_P, "delay_days_mean": P.RETURN_DELAY_DAYS,
                    "no_reason_share_within_7d": P.NO_REASON_SHARE_WITHIN_7D, "approve_p": P.APPROVE_P,
                    "rule": "no_reason_7d only when requested within 7 days of delivery; returns on the order's first item category"},
        "logistics": {"carrier_p": P.CARRIER_P, "carrier_transit_days": P.CARRIER_DAYS,
                      "tier_transit_step": P.TIER_TRANSIT_STEP, "cross_region_multiplier": P.CROSS_REGION_MULT,
                      "home_warehouse_p": P.HOME_WAREHOUSE_P, "handling_hours_mean": P.HANDLING_HOURS},
        "supply": supply_truth,
    }
