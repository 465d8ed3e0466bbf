"""Referral rewards (邀请奖励) paid to users: the ``rewards`` table.

The platform's rules, as simulated:

* ``invite_signup`` — the referrer (level 1) gets ``SIGNUP_REWARD`` 元 a few minutes after a
  user signs up through an invitation-coupon share. Paid without any order: this is what the
  planted fraud rings harvest (their leader invites the ring's accounts, which never buy).
* ``invite_order`` — when an invited user's first order is past the 7-day return window
  (``ORDER_DELAY_DAYS`` after the order), the referrer gets ``ORDER_REWARD[1]`` 元 (level 1)
  and the referrer's referrer ``ORDER_REWARD[2]`` 元 (level 2). Two levels is the cap Chinese
  social-commerce platforms keep to stay clear of 《禁止传销条例》 (commission on three or more
  levels of recruits).
* A planted violation: during ``VIOLATION_DAYS`` days from ``VIOLATION_START`` of the report
  year a misconfigured campaign also paid ``ORDER_REWARD[3]`` 元 to the third level up.

Rewards after the data end are not written. Drawn from its own random stream, so adding the
table changed no other table.
"""
from __future__ import annotations

import datetime as dt

import numpy as np

from ..contract import MECHANISMS, REWARD_KINDS
from .calendar import DAY
from .writer import Cat

SIGNUP_REWARD = 2.0
ORDER_REWARD = {1: 8.0, 2: 2.0, 3: 1.0}
ORDER_DELAY_DAYS = 8
VIOLATION_START = (9, 1)      # month, day of the report year
VIOLATION_DAYS = 5


def _violation_window(cal) -> tuple[int, int]:
    d = dt.date(cal.year, *VIOLATION_START)
    a = cal.t0 + (d - cal.start).days * DAY
    return a, a + VIOLATION_DAYS * DAY


def build(rng, cal, U: dict) -> tuple[dict, dict]:
    """Columns of ``rewards`` (ids are user position + 1) and the truth about them."""
    ref, ts, first = U["referrer"], U["ts"], U["first_ts"]
    invited = np.flatnonzero((ref >= 0) & (U["mech"] == MECHANISMS.index("invite_coupon"))
                             & (ts >= cal.t0) & (ts < cal.t_end))
    # signup rewards
    sb, ss = ref[invited], invited
    st = ts[invited] + rng.integers(30, 900, len(invited))
    # order rewards up the referral chain (any referred user whose first order is paid out)
    buyers = np.flatnonzero((ref >= 0) & (first >= 0) & (ts >= cal.t0))
    ot = first[buyers] + ORDER_DELAY_DAYS * DAY + rng.integers(0, 3600, len(buyers))
    keep = ot < cal.t_end
    buyers, ot = buyers[keep], ot[keep]
    va, vb = _violation_window(cal)
    ben, src, lvl, tss = [sb], [ss], [np.ones(len(sb), np.int64)], [st]
    up = ref[buyers]
    for level in (1, 2, 3):
        has = up >= 0
        if level == 3:
            has &= (ot >= va) & (ot < vb)
        ben.append(up[has]); src.append(buyers[has]); tss.append(ot[has])
        lvl.append(np.full(int(has.sum()), level, np.int64))
        up = np.where(up >= 0, ref[np.maximum(up, 0)], -1)
    ben, src, lvl, tss = (np.concatenate(x) for x in (ben, src, lvl, tss))
    kind = np.concatenate([np.zeros(len(sb), np.int64), np.ones(len(ben) - len(sb), np.int64)])
    amount = np.where(kind == 0, SIGNUP_REWARD, np.array([0.0, *ORDER_REWARD.values()])[lvl])
    keep = tss < cal.t_end
    ben, src, lvl, tss, kind, amount = (x[keep] for x in (ben, src, lvl, tss, kind, amount))
    o = np.lexsort((lvl, src, tss))
    ben, src, lvl, tss, kind, amount = (x[o] for x in (ben, src, lvl, tss, kind, amount))
    cols = {"reward_id": np.arange(1, len(o) + 1), "beneficiary_user_id": ben + 1,
            "source_user_id": src + 1, "level": lvl, "amount": amount, "reward_ts": tss,
            "kind": Cat(kind, REWARD_KINDS)}
    ring = U["ring"]
    by_level = {str(k): {"rewards": int((lvl == k).sum()), "amount": round(float(amount[lvl == k].sum()), 2)}
                for k in (1, 2, 3)}
    truth = {"signup_reward": SIGNUP_REWARD, "order_reward_by_level": {str(k): v for k, v in ORDER_REWARD.items()},
             "order_delay_days": ORDER_DELAY_DAYS, "max_level_allowed": 2, "by_level": by_level,
             "violation": {"level": 3, "from": str(dt.date(cal.year, *VIOLATION_START)),
                           "days": VIOLATION_DAYS, "rewards": by_level["3"]["rewards"],
                           "amount": by_level["3"]["amount"]},
             "to_fraud_accounts": round(float(amount[ring[ben] >= 0].sum()), 2),
             "to_fraud_accounts_rewards": int((ring[ben] >= 0).sum())}
    return cols, truth
