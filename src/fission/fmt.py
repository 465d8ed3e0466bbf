"""How numbers are written in the report, per language: the filters of the chapter words
(docs/chapters.md), the executive summary and the figures all format through this module,
so 1.2 万 and 12.3% look the same everywhere.

Conventions: rates and shares are ratios (0.123 → "12.3%"); a difference of two rates is
in percentage points; a relative change is a ratio (0.05 → "+5.0%"). Every function takes
``lang`` ("zh" or "en"); :func:`filters` binds it for a template environment.
"""
from __future__ import annotations

import math
from functools import partial
from typing import Any, Callable

LANGUAGES = ("zh", "en")


def _missing(x: Any) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def num(x: float | None, digits: int = 1, lang: str = "zh") -> str:
    """A plain number with thousands separators: 1234.5 → "1,234.5"."""
    if _missing(x):
        return "—"
    return f"{x:,.{digits}f}"


def count(x: float | None, lang: str = "zh") -> str:
    """A head count: 12,345; from 100,000 on 12.3 万 / 1.23 亿 (zh) or 123.5k / 1.23 m (en)."""
    if _missing(x):
        return "—"
    a = abs(x)
    if lang == "en":
        if a >= 1e9:
            return f"{x / 1e9:,.2f} bn"
        if a >= 1e6:
            return f"{x / 1e6:,.2f} m"
        if a >= 1e5:
            return f"{x / 1e3:,.1f}k"
        return f"{x:,.0f}"
    if a >= 1e8:
        return f"{x / 1e8:,.2f} 亿"
    if a >= 1e5:
        return f"{x / 1e4:,.1f} 万"
    return f"{x:,.0f}"


def yuan(x: float | None, lang: str = "zh", digits: int = 1, currency: str = "CNY") -> str:
    """Money in the units a reader expects: 元 / 万元 / 亿元 / 万亿元, or CNY 12.3k / m / bn; in
    another ``currency`` (own data is never converted) its ISO code: "12.3 万 GBP", "GBP 12.3k"."""
    if _missing(x):
        return "—"
    a = abs(x)
    if lang == "en":
        # from 10,000 on: 12.3k, then m / bn / tn (threshold, divisor, suffix, decimals)
        for above, div, suffix, d in ((1e12, 1e12, " tn", 2), (1e9, 1e9, " bn", 2),
                                      (1e6, 1e6, " m", 2), (1e4, 1e3, "k", 1)):
            if a >= above:
                return f"{currency} {x / div:,.{d}f}{suffix}"
        return f"{currency} {x:,.{digits}f}"
    unit = "元" if currency == "CNY" else f" {currency}"
    if a >= 1e12:
        return f"{x / 1e12:,.2f} 万亿{unit}"
    if a >= 1e8:
        return f"{x / 1e8:,.2f} 亿{unit}"
    if a >= 1e4:
        return f"{x / 1e4:,.1f} 万{unit}"
    return f"{x:,.{digits}f} {unit.strip()}"


def money(lang: str = "zh", currency: str = "CNY") -> str:
    """The currency as a unit in a label: 元 / CNY, or the ISO code of another currency."""
    return "元" if currency == "CNY" and lang == "zh" else currency


def pct(x: float | None, digits: int = 1, lang: str = "zh") -> str:
    """A rate or share: 0.1234 → "12.3%"."""
    if _missing(x):
        return "—"
    return f"{x * 100:.{digits}f}%"


def signed_pct(x: float | None, digits: int = 1, lang: str = "zh") -> str:
    """A relative change: 0.1234 → "+12.3%"."""
    if _missing(x):
        return "—"
    return f"{_unsigned_zero(x, digits, 100) * 100:+.{digits}f}%"


def pp(x: float | None, digits: int = 1, lang: str = "zh") -> str:
    """A difference of two rates in percentage points: 0.012 → "+1.2 个百分点" / "+1.2 pp"."""
    if _missing(x):
        return "—"
    return f"{_unsigned_zero(x, digits, 100) * 100:+.{digits}f}" + (" pp" if lang == "en" else " 个百分点")


def ratio(x: float | None, digits: int = 2, lang: str = "zh") -> str:
    """A multiple: 1.234 → "1.23 倍" / "1.23×"."""
    if _missing(x):
        return "—"
    return f"{x:,.{digits}f}" + ("×" if lang == "en" else " 倍")


def days(x: float | None, digits: int = 0, lang: str = "zh") -> str:
    if _missing(x):
        return "—"
    if lang == "en":
        return f"{x:,.{digits}f} day" + ("" if digits == 0 and round(x) == 1 else "s")
    return f"{x:,.{digits}f} 天"


_UP_DOWN = {"zh": ("增长", "下降", "持平"), "en": ("up", "down", "flat")}
_UP_DOWN_PP = {"zh": ("提高", "下降", "持平"), "en": ("up", "down", "unchanged")}
_NOT_SIG = {"zh": "无显著变化", "en": "no significant change"}


def _in_words(x, digits, lang, significant, words, unit, signed) -> str:
    """A change in words (direction, size, unit), or "no significant change (signed value)"."""
    if _missing(x):
        return "—"
    if significant is False:
        return f"{_NOT_SIG[lang]} ({signed})" if lang == "en" else f"{_NOT_SIG[lang]}（{signed}）"
    up, down, flat = words[lang]
    if round(abs(x) * 100, digits) == 0:
        return flat
    return f"{up if x > 0 else down} {abs(x) * 100:.{digits}f}{unit}"


def change(x: float | None, digits: int = 1, lang: str = "zh", significant: bool | None = None) -> str:
    """A relative change in words: +0.123 → "增长 12.3%" / "up 12.3%". With
    ``significant=False`` the direction is not asserted: "无显著变化（+1.2%）"."""
    return _in_words(x, digits, lang, significant, _UP_DOWN, "%", signed_pct(x, digits))


def change_pp(x: float | None, digits: int = 1, lang: str = "zh", significant: bool | None = None) -> str:
    """An absolute change of a rate in words: +0.012 → "提高 1.2 个百分点" / "up 1.2 pp"."""
    return _in_words(x, digits, lang, significant, _UP_DOWN_PP,
                     " pp" if lang == "en" else " 个百分点", pp(x, digits, lang))


def _unsigned_zero(x: float, digits: int, scale: float = 1.0) -> float:
    """-0.0004 printed with one decimal is "-0.0": print it as "+0.0"."""
    return 0.0 if round(x * scale, digits) == 0 else x


def ci(lo: float | None, hi: float | None, kind: str = "pct", digits: int = 1, lang: str = "zh",
       level: int = 95, short: bool = False, currency: str = "CNY") -> str:
    """A confidence interval: "95% 置信区间 +1.2%～+3.4%" / "95% CI +1.2% to +3.4%";
    ``short``: the bounds only ("+1.2～+3.4" / "+1.2 to +3.4"), for a column that names the
    interval in its header. ``kind``: "pct" (relative change), "pp" (difference of rates),
    "rate", "ratio", "num", "yuan"."""
    if _missing(lo) or _missing(hi):
        return ""
    scale = 100 if kind in ("pct", "pp", "rate") else 1
    lo, hi = _unsigned_zero(lo, digits, scale), _unsigned_zero(hi, digits, scale)
    if short and kind in ("pct", "pp"):
        a, b = f"{lo * 100:+.{digits}f}", f"{hi * 100:+.{digits}f}"
        return f"{a} to {b}" if lang == "en" else f"{a}～{b}"
    f = {"pct": lambda v: signed_pct(v, digits), "rate": lambda v: pct(v, digits),
         "pp": lambda v: f"{v * 100:+.{digits}f}" + (" pp" if lang == "en" else ""),
         "ratio": lambda v: f"{v:.{max(digits, 2)}f}", "num": lambda v: num(v, digits),
         "yuan": lambda v: yuan(v, lang, currency=currency)}[kind]
    if lang == "en":
        return f"{level}% CI {f(lo)} to {f(hi)}"
    unit = " 个百分点" if kind == "pp" else ""
    return f"{level}% 置信区间 {f(lo)}～{f(hi)}{unit}"


def sig(flag: bool, lang: str = "zh") -> str:
    """The significance word for a comparison."""
    return {"zh": ("显著", "不显著"), "en": ("significant", "not significant")}[lang][0 if flag else 1]


def join(items, lang: str = "zh") -> str:
    """A list in prose: 甲、乙和丙 / a, b and c."""
    items = [str(i) for i in items]
    if len(items) <= 1:
        return "".join(items)
    last = " and " if lang == "en" else "和"
    return (", " if lang == "en" else "、").join(items[:-1]) + last + items[-1]


UNITS = ("rate", "yuan", "count", "ratio", "days", "num")


def value(x: float | None, unit: str, digits: int = 1, lang: str = "zh", currency: str = "CNY") -> str:
    """A key figure's value by its unit code (one of :data:`UNITS`)."""
    if unit == "rate":
        return pct(x, digits, lang)
    if unit == "yuan":
        return yuan(x, lang, currency=currency)
    if unit == "count":
        return count(x, lang)
    if unit == "ratio":
        return ratio(x, digits, lang)
    if unit == "days":
        return days(x, digits, lang)
    if unit == "num":
        return num(x, digits, lang)
    raise ValueError(f"unknown unit {unit!r}; use one of {', '.join(UNITS)}")


def value_change(cur: float | None, prev: float | None, unit: str, digits: int = 1,
                 lang: str = "zh") -> str:
    """The change column of a key-figure table: pp for rates, relative % otherwise."""
    if _missing(cur) or _missing(prev):
        return "—"
    if unit == "rate":
        return pp(cur - prev, digits, lang)
    if prev == 0:
        return "—"
    return signed_pct(cur / prev - 1, digits)


def filters(lang: str, currency: str = "CNY") -> dict[str, Callable]:
    """The template filters (and functions) for one language and the data's currency."""
    if lang not in LANGUAGES:
        raise ValueError(f"language {lang!r} is not one of {', '.join(LANGUAGES)}")
    fns = {"num": num, "count": count, "pct": pct, "signed_pct": signed_pct,
           "pp": pp, "ratio": ratio, "days": days, "change": change, "change_pp": change_pp,
           "sig": sig, "join": join, "value_change": value_change}
    out = {k: partial(f, lang=lang) for k, f in fns.items()}
    out.update({k: partial(f, lang=lang, currency=currency)
                for k, f in (("yuan", yuan), ("ci", ci), ("value", value))})
    out["money"] = money(lang, currency)
    return out
