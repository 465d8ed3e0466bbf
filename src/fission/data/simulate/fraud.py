"""Planted referral-fraud rings: a handful of accounts on one or two devices, a leader who sends
a burst of invites within minutes, members who sign up through them and (almost) never buy."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..contract import MECHANISMS, PLATFORMS
from .calendar import DAY


@dataclass
class Rings:
    ring: np.ndarray          # per account: ring number
    ts: np.ndarray            # signup
    referrer: np.ndarray      # temp index or -1
    is_leader: np.ndarray
    device: np.ndarray        # uint64 device hash per account
    s_user: np.ndarray
    s_ts: np.ndarray
    v_ts: np.ndarray
    v_signup: np.ndarray
    ring_devices: list


def plant(rng, cal, users: int, first_index: int) -> Rings:
    n_rings = 4 if users < 1_000_000 else 8
    ring, ts, ref, lead, dev, s_user, s_ts, v_ts, v_su, ring_devices = ([] for _ in range(10))
    idx = first_index
    for r in range(n_rings):
        size = int(rng.integers(6, 16))
        devs = rng.integers(1, 2**63, int(rng.integers(1, 3)), dtype=np.int64).astype(np.uint64)
        ring_devices.append(devs)
        T = cal.year_start + int(rng.integers(15, 350)) * DAY + int(rng.integers(9, 23)) * 3600
        leader_ts = T - int(rng.integers(1, 10)) * DAY - int(rng.integers(0, 3600))
        ring.append(np.full(size, r)); lead.append(np.arange(size) == 0)
        st = T + np.sort(rng.integers(0, 600, size - 1))          # invites within 10 minutes
        vt = st + rng.integers(10, 120, size - 1)
        sut = vt + rng.integers(30, 300, size - 1)
        ts.append(np.concatenate([[leader_ts], sut]))
        ref.append(np.concatenate([[-1], np.full(size - 1, idx)]))
        dev.append(devs[rng.integers(0, len(devs), size)])
        s_user.append(np.full(size - 1, idx)); s_ts.append(st); v_ts.append(vt)
        v_su.append(idx + 1 + np.arange(size - 1))
        idx += size
    c = np.concatenate
    return Rings(c(ring), c(ts).astype(np.int64), c(ref).astype(np.int64), c(lead), c(dev),
                 c(s_user).astype(np.int64), c(s_ts).astype(np.int64), c(v_ts).astype(np.int64),
                 c(v_su).astype(np.int64), ring_devices)


MECH = MECHANISMS.index("invite_coupon")
PLATFORM = PLATFORMS.index("wechat_group")
