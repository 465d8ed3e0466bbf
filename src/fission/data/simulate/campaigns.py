"""KOLs, campaigns (ads, coupon, group-buy subsidy, content, KOL, live) and live sessions; the
arrival times of users acquired by ads, KOL and live campaigns (bursts)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..contract import CAMPAIGN_TYPES, CATEGORIES, KOL_TIERS, PLATFORMS
from .calendar import DAY, HOUR, trunc_exp

KOL_PLATFORMS = ["douyin", "kuaishou", "xiaohongshu", "weibo", "wechat_moments"]
KOL_TIER_N = {"head": 6, "mid": 18, "tail": 36}
FOLLOWERS = {"head": (5e6, 3e7), "mid": (2e5, 2e6), "tail": (1e4, 2e5)}
N_KOL_CAMPAIGNS = 100
N_LIVE = 400
N_CONTENT = 8
ADS_PLATFORMS = ["douyin", "wechat_moments"]
#: a KOL campaign's or live session's expected users ∝ the KOL's followers ** FOLLOWER_EXPONENT
FOLLOWER_EXPONENT = 0.6


@dataclass
class Campaigns:
    # kols
    kol_platform: np.ndarray
    kol_tier: np.ndarray
    kol_followers: np.ndarray
    kol_category: np.ndarray
    # campaigns
    ctype: list = field(default_factory=list)
    cplatform: list = field(default_factory=list)
    ckol: list = field(default_factory=list)
    cstart: list = field(default_factory=list)
    cend: list = field(default_factory=list)
    cname: list = field(default_factory=list)
    # live sessions (each is also one 'live' campaign)
    live_kol: np.ndarray = None
    live_start: np.ndarray = None
    live_end: np.ndarray = None
    live_campaign: np.ndarray = None
    live_viewers: np.ndarray = None
    live_peak: np.ndarray = None
    month_ads: np.ndarray = None        # [month, ads platform] -> campaign index
    month_coupon: np.ndarray = None     # [month] -> campaign index
    month_group: np.ndarray = None
    content: np.ndarray = None          # content campaign indices
    cost: np.ndarray = None

    def add(self, typ, platform, kol, start, end, name) -> int:
        self.ctype.append(CAMPAIGN_TYPES.index(typ)); self.cplatform.append(PLATFORMS.index(platform))
        self.ckol.append(kol); self.cstart.append(int(start)); self.cend.append(int(end))
        self.cname.append(name)
        return len(self.ctype) - 1


def month_starts(cal) -> np.ndarray:
    ms = np.arange(np.datetime64(cal.start, "M"), np.datetime64(cal.end, "M") + 2)
    return ms.astype("datetime64[s]").astype(np.int64)


def month_of(cal, t) -> np.ndarray:
    return np.searchsorted(month_starts(cal), t, side="right") - 1


def build_campaigns(rng, cal, day_weights) -> Campaigns:
    tiers = np.repeat(np.arange(3), [KOL_TIER_N[t] for t in KOL_TIERS])
    nk = len(tiers)
    lo = np.array([FOLLOWERS[t][0] for t in KOL_TIERS])[tiers]
    hi = np.array([FOLLOWERS[t][1] for t in KOL_TIERS])[tiers]
    followers = np.exp(rng.uniform(np.log(lo), np.log(hi))).astype(np.int64)
    kplat = np.array([PLATFORMS.index(p) for p in KOL_PLATFORMS])[
        rng.choice(len(KOL_PLATFORMS), nk, p=[0.4, 0.2, 0.2, 0.1, 0.1])]
    kcat = rng.integers(0, len(CATEGORIES), nk)
    c = Campaigns(kplat, tiers, followers, kcat)
    ms = month_starts(cal)
    nm = len(ms) - 1
    c.month_ads = np.zeros((nm, len(ADS_PLATFORMS)), dtype=np.int64)
    c.month_coupon = np.zeros(nm, dtype=np.int64)
    c.month_group = np.zeros(nm, dtype=np.int64)
    for m in range(nm):
        ym = str(np.datetime64(int(ms[m]), "s").astype("datetime64[M]"))
        for j, p in enumerate(ADS_PLATFORMS):
            c.month_ads[m, j] = c.add("ads", p, -1, ms[m], ms[m + 1] - 1, f"{ym} 信息流广告（{p}）")
        c.month_coupon[m] = c.add("coupon", "wechat_group", -1, ms[m], ms[m + 1] - 1, f"{ym} 邀请有礼券")
        c.month_group[m] = c.add("group_buy", "mini_program", -1, ms[m], ms[m + 1] - 1, f"{ym} 拼团补贴")
    p = day_weights / day_weights.sum()
    content = []
    for i, d in enumerate(np.sort(rng.choice(cal.D - 30, N_CONTENT, p=p[:-30] / p[:-30].sum()))):
        st = cal.t0 + int(d) * DAY
        content.append(c.add("content", "xiaohongshu", -1, st, st + 21 * DAY - 1, f"种草内容计划 #{i + 1}"))
    c.content = np.array(content)
    # KOL campaigns: bursts of 3–7 days, more around peaks
    kw = followers ** 0.5
    kd = np.sort(rng.choice(cal.D - 7, N_KOL_CAMPAIGNS, p=p[:-7] / p[:-7].sum()))
    kk = rng.choice(nk, N_KOL_CAMPAIGNS, p=kw / kw.sum())
    dur = rng.integers(3, 8, N_KOL_CAMPAIGNS)
    for i in range(N_KOL_CAMPAIGNS):
        st = cal.t0 + int(kd[i]) * DAY + 10 * HOUR
        c.add("kol", PLATFORMS[kplat[kk[i]]], int(kk[i]), st, st + int(dur[i]) * DAY - 1,
              f"KOL合作 #{i + 1}（{KOL_TIERS[tiers[kk[i]]]}）")
    # live sessions, evening starts
    ld = np.sort(rng.choice(cal.D, N_LIVE, p=p))
    lk = rng.choice(nk, N_LIVE, p=kw / kw.sum())
    lstart = cal.t0 + ld * DAY + rng.integers(19, 22, N_LIVE) * HOUR + rng.integers(0, 4, N_LIVE) * 900
    lend = lstart + rng.integers(2 * HOUR, 5 * HOUR, N_LIVE)
    lend = np.minimum(lend, cal.t_end - 1)
    c.live_kol, c.live_start, c.live_end = lk, lstart, lend
    c.live_campaign = np.array([c.add("live", PLATFORMS[kplat[lk[i]]], int(lk[i]), lstart[i], lend[i],
                                      f"直播专场 #{i + 1}") for i in range(N_LIVE)])
    return c


def kol_arrivals(rng, cal, c: Campaigns, n: int):
    """Times and campaign index of n users acquired by KOL campaigns: a burst after launch."""
    idx = np.flatnonzero(np.array(c.ctype) == CAMPAIGN_TYPES.index("kol"))
    kol = np.array(c.ckol)[idx]
    w = c.kol_followers[kol] ** FOLLOWER_EXPONENT
    pick = idx[rng.choice(len(idx), n, p=w / w.sum())]
    st, en = np.array(c.cstart)[pick], np.array(c.cend)[pick]
    t = st + trunc_exp(rng, 1.2 * DAY, (en - st).astype(float), n).astype(np.int64)
    return np.minimum(t, cal.t_end - 1), pick


def live_arrivals(rng, cal, c: Campaigns, n: int):
    w = c.kol_followers[c.live_kol] ** FOLLOWER_EXPONENT
    s = rng.choice(len(c.live_kol), n, p=w / w.sum())
    t = c.live_start[s] + (rng.random(n) * (c.live_end[s] - c.live_start[s])).astype(np.int64)
    per = np.bincount(s, minlength=len(c.live_kol))
    base = c.kol_followers[c.live_kol] * rng.uniform(0.002, 0.02, len(per))
    c.live_viewers = np.maximum(base, per * rng.uniform(15, 40, len(per))).astype(np.int64) + 50
    c.live_peak = (c.live_viewers * rng.uniform(0.15, 0.35, len(per))).astype(np.int64)
    return t, s


def ads_arrivals(rng, cal, c: Campaigns, day_weights, n: int):
    t = cal.sample_days_times(rng, day_weights, n)
    m = month_of(cal, t)
    j = rng.integers(0, len(ADS_PLATFORMS), n)
    return t, c.month_ads[m, j]


def set_costs(rng, c: Campaigns, cac: dict, attributed: dict) -> None:
    """campaign cost = channel CAC × users of that channel, split over the channel's campaigns in
    proportion to the users each one brought (``attributed``: channel -> per-campaign counts)."""
    cost = np.zeros(len(c.ctype))
    for ch, counts in attributed.items():
        total = cac[ch] * counts.sum()
        if counts.sum() > 0:
            cost += total * counts / counts.sum()
    c.cost = np.round(cost, 2)


def truth(c: Campaigns, channel, campaign, live, first_ts, legacy, t_end, ch_kol: int, ch_live: int,
          live_first_order_rate: float) -> dict:
    """What each KOL campaign and live session truly brought: the window users acquired by it
    (every one of them incremental: KOL and live users arrive only because of the campaign, on
    top of the organic baseline) and, for live sessions, those whose first order (placed during
    the session) falls before the data end."""
    win = ~legacy
    kol_idx = np.flatnonzero(np.array(c.ctype) == CAMPAIGN_TYPES.index("kol"))
    kol_users = np.bincount(campaign[win & (channel == ch_kol) & (campaign >= 0)], minlength=len(c.ctype))
    ckol = np.array(c.ckol)
    per_campaign = [{"campaign_id": int(i) + 1, "tier": KOL_TIERS[c.kol_tier[ckol[i]]],
                     "platform": PLATFORMS[c.cplatform[i]], "users": int(kol_users[i])} for i in kol_idx]
    sel = win & (channel == ch_live) & (live >= 0)
    lu = np.bincount(live[sel], minlength=len(c.live_kol))
    lb = np.bincount(live[sel & (first_ts >= 0) & (first_ts < t_end)], minlength=len(c.live_kol))
    ltier = np.array(KOL_TIERS)[c.kol_tier[c.live_kol]]

    def by(rows, key):
        out = {}
        for r in rows:
            out[r[key]] = out.get(r[key], 0) + r["users"]
        return out
    return {
        "follower_exponent": FOLLOWER_EXPONENT,
        "kol_incremental_users": {
            "definition": "window users acquired by each KOL campaign (acquisition_channel kol); "
                          "all incremental: the organic baseline is untouched by campaigns",
            "campaigns": per_campaign, "by_tier": by(per_campaign, "tier"),
            "by_platform": by(per_campaign, "platform"), "total": int(sum(r["users"] for r in per_campaign))},
        "live": {
            "definition": "window users acquired during each live session (acquisition_channel live, "
                          "signed up inside the session) and those of them with a first order (placed "
                          "during the session) before the data end",
            "first_order_rate": live_first_order_rate,
            "sessions": [{"live_id": int(s) + 1, "tier": str(ltier[s]), "users": int(lu[s]),
                          "buyers": int(lb[s])} for s in range(len(c.live_kol))],
            "by_tier": {t: {"users": int(lu[ltier == t].sum()), "buyers": int(lb[ltier == t].sum())}
                        for t in KOL_TIERS},
            "users": int(lu.sum()), "buyers": int(lb.sum())},
    }
