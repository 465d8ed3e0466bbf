"""The simulator's true parameters. Everything here is written to truth.json."""
from __future__ import annotations

import numpy as np

from ..contract import (AGE_BANDS, CARRIERS, CATEGORIES, MECHANISMS, PLATFORMS,
                        TICKET_CATEGORIES, TICKET_CHANNELS, WAREHOUSES)

# --- acquisition ----------------------------------------------------------------------------
CHANNEL_MIX = {"organic": 0.36, "ads": 0.26, "kol": 0.12, "live": 0.10, "group_buy": 0.16}
CAC = {"organic": 0.0, "ads": 38.0, "kol": 55.0, "live": 42.0, "group_buy": 22.0, "referral": 15.0}
CAC_CAMPAIGN_TYPES = {"ads": ["ads"], "kol": ["kol"], "live": ["live"], "group_buy": ["group_buy"],
                      "referral": ["coupon", "content"], "organic": []}
# P(first order within 30 days of signup) for non-referral users (group_buy: see groups).
FIRST_ORDER_RATE = {"organic": 0.30, "ads": 0.28, "kol": 0.38, "live": 0.50, "group_buy_failed": 0.25}
LATE_BUYER_RATE = 0.25           # non-converters who start buying after day 30
LATE_BUYER_DELAY_DAYS = 60.0     # mean extra delay after day 30
FIRST_ORDER_DELAY_DAYS = 4.0     # mean (truncated to 30 days) delay signup -> first order

# --- users ----------------------------------------------------------------------------------
TIER_BASE = np.array([0.16, 0.24, 0.24, 0.20, 0.16])       # share of arrivals at the start
TIER_GROWTH = np.array([1.08, 1.18, 1.32, 1.42, 1.50])      # yearly growth factor per tier
REFERRAL_SAME_TIER = 0.7
AGE_P = np.array([0.04, 0.24, 0.27, 0.24, 0.13, 0.08])
AGE_ORDER_MULT = np.array([0.5, 1.0, 1.2, 1.05, 0.85, 0.7])
FEMALE_P = 0.58
MEMBER_P = 0.14
MEMBER_DELAY_DAYS = 45.0
MEMBER_RATE_MULT = 1.6

PROVINCES = {
    1: (["北京", "上海", "广东"], [0.3, 0.3, 0.4]),
    2: (["浙江", "江苏", "四川", "湖北", "山东", "福建", "天津", "重庆", "陕西", "湖南", "河南", "辽宁", "安徽"],
        [10, 10, 8, 7, 8, 6, 4, 6, 5, 5, 6, 4, 4]),
    3: (["广东", "江苏", "浙江", "山东", "河南", "河北", "湖南", "湖北", "安徽", "江西", "广西", "福建", "四川", "云南",
         "贵州", "山西", "陕西", "辽宁", "吉林", "黑龙江", "内蒙古"],
        [8, 7, 6, 8, 8, 6, 5, 5, 5, 4, 4, 4, 5, 3, 3, 3, 3, 3, 2, 3, 2]),
}
PROVINCES[4] = (PROVINCES[3][0] + ["甘肃", "新疆", "海南", "宁夏"], PROVINCES[3][1] + [2, 2, 1, 1])
PROVINCES[5] = (PROVINCES[4][0] + ["青海", "西藏"], [w * (1.3 if p in ("河南", "河北", "安徽", "广西", "贵州", "云南", "江西", "甘肃") else 1.0)
                                                   for p, w in zip(*PROVINCES[4])] + [1, 0.5])
REGION_OF = {}
for _r, _ps in {"east": ["上海", "江苏", "浙江", "安徽", "山东", "福建", "江西"],
                "south": ["广东", "广西", "海南"],
                "north": ["北京", "天津", "河北", "山西", "内蒙古"],
                "central": ["河南", "湖北", "湖南"],
                "southwest": ["四川", "重庆", "贵州", "云南", "西藏"],
                "northwest": ["陕西", "甘肃", "青海", "宁夏", "新疆"],
                "northeast": ["辽宁", "吉林", "黑龙江"]}.items():
    for _p in _ps:
        REGION_OF[_p] = _r

# category taste by gender (rows F, M); age multipliers applied on top
CAT_TASTE = {"F": [0.22, 0.22, 0.14, 0.12, 0.05, 0.10, 0.07, 0.08],
             "M": [0.15, 0.04, 0.18, 0.12, 0.25, 0.04, 0.08, 0.14]}
CAT_AGE_MULT = {  # category -> multiplier per age band
    "mother_baby": [0.1, 0.4, 2.0, 2.0, 0.6, 0.4],
    "health": [0.5, 0.6, 0.8, 1.0, 2.0, 3.0],
    "beauty": [1.2, 1.4, 1.2, 1.0, 0.7, 0.5],
    "electronics": [1.5, 1.4, 1.1, 1.0, 0.8, 0.6],
    "sports": [1.4, 1.3, 1.1, 1.0, 0.8, 0.6],
}


def category_taste() -> np.ndarray:
    """[gender(2), age(6), category(8)] probabilities."""
    out = np.zeros((2, len(AGE_BANDS), len(CATEGORIES)))
    for g, gname in enumerate(("F", "M")):
        for a in range(len(AGE_BANDS)):
            w = np.array(CAT_TASTE[gname], dtype=float)
            for c, cat in enumerate(CATEGORIES):
                if cat in CAT_AGE_MULT:
                    w[c] *= CAT_AGE_MULT[cat][a]
            out[g, a] = w / w.sum()
    return out


# --- sharing --------------------------------------------------------------------------------
WINDOW_DAYS = 30
# invites_per_user, visits_per_share, visit_signup_rate, signup_first_order_rate
MECH = {
    "invite_coupon": (0.45, 2.5, 0.12, 0.45),
    "group_buy": (0.30, 3.0, 0.08, 0.55),
    "bargain": (0.20, 4.0, 0.05, 0.30),
    "content": (0.25, 4.0, 0.0225, 0.25),
    "kol_post": (0.05, 12.0, 0.0167, 0.35),
    "live": (0.08, 5.0, 0.0192, 0.40),
}
assert list(MECH) == MECHANISMS
SHARE_DELAY_DAYS = 5.0            # mean (truncated to the window) delay signup -> share
VISIT_DELAY_HOURS = 6.0           # mean share -> visit
SHARER_PROPENSITY_SHAPE = 0.4     # gamma(mean 1) heterogeneity of sharing
VISIT_DISPERSION_SHAPE = 0.8      # gamma(mean 1) heterogeneity of a share's reach
EXISTING_VISITOR_SHARE = 0.15     # visits by people who are already users
PLATFORM_WEIGHT_RAW = dict(zip(PLATFORMS, [0.24, 0.22, 0.14, 0.05, 0.15, 0.08, 0.04, 0.08]))
PLATFORM_VISIT_RAW = dict(zip(PLATFORMS, [1.0, 1.3, 1.1, 0.6, 1.4, 1.1, 0.5, 0.9]))
PLATFORM_SIGNUP_RAW = dict(zip(PLATFORMS, [1.0, 1.3, 1.2, 0.8, 0.7, 0.8, 0.6, 0.9]))


def platform_params():
    w = np.array([PLATFORM_WEIGHT_RAW[p] for p in PLATFORMS]); w = w / w.sum()
    v = np.array([PLATFORM_VISIT_RAW[p] for p in PLATFORMS]); v = v / (w * v).sum()
    s = np.array([PLATFORM_SIGNUP_RAW[p] for p in PLATFORMS]); s = s / (w * v * s).sum()
    return w, v, s


# --- group buys -----------------------------------------------------------------------------
GROUP_TARGET_P = {2: 0.4, 3: 0.3, 4: 0.2, 5: 0.1}
GROUP_WINDOW_HOURS = 24
GROUP_JOINERS_MEAN = 2.2          # Poisson mean of joiners within the window
GROUP_NEW_USER_P = 0.45           # a joiner is a new user
GROUP_DISCOUNT = 0.2

# --- buying, churn, resurrection ------------------------------------------------------------
RATE_SHAPE = 0.7                  # gamma shape of individual order rates
RATE_MEAN = 0.9                   # orders per 30 season-days while active
RATE_CAP = 15.0
ACTIVE_SPELL_DAYS = 120.0         # mean active spell
RESURRECT_P = 0.35                # P(come back after an active spell)
DORMANT_DAYS = 90.0               # mean dormant gap before coming back
MAX_SPELLS = 4
CHURN_DAYS = 90                   # the report's churn gap (true churn times in truth.json)
FUTURE_DAYS = 365                 # the horizon of the future_12m truth
REPEAT_CHANNEL = {"organic": 0.85, "ads": 0.08, "referral": 0.07}
CANCEL_P = 0.04
ITEMS_PER_ORDER_EXTRA = 0.35      # 1 + Poisson(this) distinct items
QTY_EXTRA = 0.3                   # 1 + Poisson(this)
PEAK_DISCOUNT = 0.12
BASE_DISCOUNT = 0.03

# --- catalog / affinity ---------------------------------------------------------------------
N_FACTORS = 10
AFFINITY_BETA = 1.6               # weight of u.v/sqrt(d) in the softmax over a user's candidates
POOL_SIZE = 32
ZIPF_EXPONENT = 1.05
PRICE_MEDIAN = dict(zip(CATEGORIES, [129, 159, 49, 99, 699, 139, 119, 199]))
PRICE_SIGMA = 0.6

# --- events ---------------------------------------------------------------------------------
ALGO_CTR = {"popularity": 0.035, "itemknn": 0.05, "als": 0.058, "social": 0.045}
ALGO_SHARE = {"popularity": 0.25, "itemknn": 0.25, "als": 0.25, "social": 0.25}
BROWSE_SESSIONS_BASE = 1.5        # sessions in the 30 days after signup
BROWSE_SESSIONS_PER_ORDER = 0.6   # extra browse sessions per expected order while active
EVENTS_PER_SESSION_EXTRA = 2.5    # 1 + Poisson(this)
EVENT_TYPE_P = {"view": 0.42, "click": 0.16, "cart": 0.05, "favorite": 0.04, "search": 0.08,
                "rec_impression": 0.25}
EVENT_SOURCE_P = {"feed": 0.55, "search": 0.2, "share": 0.15, "live": 0.1}

# --- service --------------------------------------------------------------------------------
TICKET_P = {"base": 0.06, "late_delivery": 0.10, "return": 0.35, "no_order_per_user": 0.01}
TICKET_LATE_DAYS = 4.0
STAFF_HOURS = (8, 24)              # agents work 08:00-24:00
HANDLE_MINUTES = 12.0              # first-response handling per ticket
TARGET_UTILISATION = 0.75          # staff sized to this on an average day
RESOLVE_HOURS = dict(zip(TICKET_CATEGORIES, [20.0, 30.0, 40.0, 6.0, 4.0, 10.0]))
TICKET_CHANNEL_P = dict(zip(TICKET_CHANNELS, [0.55, 0.15, 0.25, 0.05]))
CSAT_BASE = 4.6
CSAT_PER_HOUR = 0.06
CSAT_RESPONSE_P = 0.6

# --- returns --------------------------------------------------------------------------------
RETURN_P = dict(zip(CATEGORIES, [0.20, 0.06, 0.03, 0.08, 0.10, 0.07, 0.04, 0.12]))
RETURN_DELAY_DAYS = 4.0
NO_REASON_SHARE_WITHIN_7D = 0.55
OTHER_REASONS = {"quality": 0.3, "wrong_item": 0.1, "size_fit": 0.3, "damaged": 0.15, "other": 0.15}
APPROVE_P = {"no_reason_7d": 0.97, "quality": 0.9, "wrong_item": 0.95, "size_fit": 0.85,
             "damaged": 0.95, "other": 0.6}
REVIEW_P = 0.25

# --- logistics ------------------------------------------------------------------------------
CARRIER_P = dict(zip(CARRIERS, [0.2, 0.25, 0.15, 0.15, 0.15, 0.10]))
CARRIER_DAYS = dict(zip(CARRIERS, [1.2, 2.2, 2.4, 2.3, 1.0, 3.0]))
HOME_WAREHOUSE_P = 0.8
HANDLING_HOURS = 10.0
TIER_TRANSIT_STEP = 0.15          # +15 % transit per city tier below 1
CROSS_REGION_MULT = 1.5

# --- supply ---------------------------------------------------------------------------------
SUPPLIER_LATE = (0.05, 0.35)      # per-supplier late probability range (uniform)
SUPPLIER_DEFECT = (0.002, 0.04)
SUPPLIER_LEAD_DAYS = (5, 15)
LATE_DELAY_DAYS = 5.0

assert list(WAREHOUSES) == ["east", "south", "north", "central", "southwest", "northwest", "northeast"]

# --- installed base: users who signed up before the simulated window ------------------------
LEGACY_FRAC = 0.6                  # legacy users per window signup
LEGACY_YEARS = 3.0                 # signups spread over this many years before the window
LEGACY_GROWTH = 2.5                # yearly growth of the legacy arrival curve
LEGACY_CHANNEL_MIX = {"organic": 0.42, "ads": 0.26, "kol": 0.10, "live": 0.06, "group_buy": 0.16}
LEGACY_GROUP_BUY_FIRST_ORDER = 0.55   # first-order rate of legacy group-buy signups (filled or not)
