"""Items, suppliers and the latent user–item affinity (low-rank factors)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..contract import CATEGORIES, REGIONS
from . import params as P


@dataclass
class Catalog:
    n: int
    category: np.ndarray        # item index -> category code
    brand: np.ndarray           # strings
    list_price: np.ndarray
    supplier: np.ndarray        # item index -> supplier index
    factors: np.ndarray         # [n, d] float32
    cat_items: list             # category -> item indices sorted by popularity rank
    cat_cdf: list               # category -> Zipf cdf within category
    popularity: np.ndarray      # global popularity weight per item (sums to 1)
    sup_region: np.ndarray
    sup_category: np.ndarray
    sup_late: np.ndarray
    sup_defect: np.ndarray
    sup_lead: np.ndarray


def n_items_for(users: int) -> int:
    return int(np.clip(users // 100, 800, 5000))


def build_catalog(rng, users: int) -> Catalog:
    n = n_items_for(users)
    ncat = len(CATEGORIES)
    cat_share = np.array([0.2, 0.14, 0.14, 0.14, 0.12, 0.1, 0.08, 0.08])
    category = rng.choice(ncat, size=n, p=cat_share)
    price = np.array([P.PRICE_MEDIAN[c] for c in CATEGORIES])[category] * np.exp(
        rng.normal(0, P.PRICE_SIGMA, n))
    list_price = np.round(np.maximum(price, 1.0), 1)
    # suppliers: a handful per category
    n_sup = int(np.clip(n // 25, 24, 200))
    sup_category = np.arange(n_sup) % ncat
    sup_region = rng.integers(0, len(REGIONS), n_sup)
    sup_late = rng.uniform(*P.SUPPLIER_LATE, n_sup)
    sup_defect = rng.uniform(*P.SUPPLIER_DEFECT, n_sup)
    sup_lead = rng.integers(P.SUPPLIER_LEAD_DAYS[0], P.SUPPLIER_LEAD_DAYS[1] + 1, n_sup)
    supplier = np.empty(n, dtype=np.int64)
    brand_no = np.empty(n, dtype=np.int64)
    cat_items, cat_cdf = [], []
    popularity = np.zeros(n)
    for c in range(ncat):
        idx = np.flatnonzero(category == c)
        sups = np.flatnonzero(sup_category == c)
        supplier[idx] = sups[rng.integers(0, len(sups), len(idx))]
        brand_no[idx] = rng.zipf(1.6, len(idx)) % 60
        idx = rng.permutation(idx)                      # popularity rank within the category
        w = 1.0 / np.arange(1, len(idx) + 1) ** P.ZIPF_EXPONENT
        w /= w.sum()
        cat_items.append(idx)
        cat_cdf.append(np.cumsum(w))
        popularity[idx] = w * cat_share[c]
    popularity /= popularity.sum()
    brand = np.array([f"{CATEGORIES[c][:3].upper()}-{b:02d}" for c, b in zip(category, brand_no)],
                     dtype=object)
    factors = rng.normal(0, 1, (n, P.N_FACTORS)).astype(np.float32)
    return Catalog(n, category, brand, list_price, supplier, factors, cat_items, cat_cdf,
                   popularity, sup_region, sup_category, sup_late, sup_defect, sup_lead)


def user_pools(rng, cat: Catalog, gender, age, taste, user_factors):
    """Each user's candidate items and softmax weights (affinity × popularity)."""
    m = len(gender)
    K = P.POOL_SIZE
    probs = taste[gender, age]                        # [m, ncat]
    cdf = np.cumsum(probs, axis=1)
    u = rng.random((m, K, 1), dtype=np.float32)
    ccode = (u > cdf[:, None, :].astype(np.float32)).sum(axis=2)
    ccode = np.minimum(ccode, len(CATEGORIES) - 1)
    items = np.empty((m, K), dtype=np.int64)
    r = rng.random((m, K))
    for c in range(len(CATEGORIES)):
        sel = ccode == c
        pos = np.searchsorted(cat.cat_cdf[c], r[sel])
        items[sel] = cat.cat_items[c][np.minimum(pos, len(cat.cat_items[c]) - 1)]
    score = np.einsum("mkd,md->mk", cat.factors[items], user_factors) / np.sqrt(P.N_FACTORS)
    w = np.exp(P.AFFINITY_BETA * (score - score.max(axis=1, keepdims=True)))
    w /= w.sum(axis=1, keepdims=True)
    cdf = np.cumsum(w, axis=1)
    # every row's cdf shifted by 2 × row into one increasing array: one searchsorted finds the
    # picks of all rows (instead of comparing each draw with its whole row)
    flat = (cdf + 2.0 * np.arange(m)[:, None]).ravel()
    return items, cdf, flat


def pick_from_pool(rng, pools, rows) -> np.ndarray:
    """One item per entry of ``rows`` (row index into the pools) from that user's pool."""
    items, _, flat = pools
    K = items.shape[1]
    k = np.searchsorted(flat, rng.random(len(rows)) + 2.0 * rows) - rows * K
    return items[rows, np.minimum(k, K - 1)]
