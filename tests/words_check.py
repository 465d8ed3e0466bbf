"""Render every entry of a chapter's words with its facts, in every language: a chapter test
calls ``render_all`` so a template that names a missing fact, a bad filter or an untranslated
entry fails in the tests, not at publishing."""
from __future__ import annotations

import re

from fission.notebook import jsonable
from fission.words import Words, dig, read_words

CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")
TYPED_CHAPTER = re.compile(r"第\s*[0-9一二三四五六七八九十]+\s*章|[Cc]hapter\s+\d+")


def render_all(chapter: str, facts: dict, tables: dict[str, str], edition: dict) -> dict[str, list[str]]:
    """``tables``: table label → the facts key holding its rows. Returns the rendered texts
    per language; asserts the zh and en files have the same keys, the English has no CJK
    character outside values taken from the facts, and no text types a chapter number."""
    facts = jsonable(facts)
    out = {}
    keys = {}
    for lang in ("zh", "en"):
        w = Words(chapter, lang, {**edition, "language": lang})
        raw = read_words(chapter, lang)
        keys[lang] = _keys(raw)
        texts = [w.title(facts)]
        texts += [w.heading(s, facts) for s in raw.get("sections") or {}]
        texts += [w.render(f"text.{k}", facts) for k in raw.get("text") or {}]
        for label in raw.get("figures") or {}:
            texts.append(w.caption(label, facts))
            texts += [str(v) for v in w.labels(label, facts).values()]
        for label in raw.get("tables") or {}:
            assert label in tables, f"{chapter}: say which facts key holds the rows of {label}"
            texts.append(w.caption(label, facts, "tables"))
            texts.append(w.table(label, dig(facts, tables[label]), facts))
        texts += [w.render(f"keyfigures.{k}", facts) for k in raw.get("keyfigures") or {}]
        if "finding" in raw:
            texts.append(w.render("finding", facts))
        for t in texts:
            assert not TYPED_CHAPTER.search(t), f"{chapter} ({lang}): typed chapter number in {t[:80]!r}"
        out[lang] = texts
    assert keys["zh"] == keys["en"], f"{chapter}: zh and en words differ: {keys['zh'] ^ keys['en']}"
    allowed = _fact_strings(facts)
    for t in out["en"]:
        rest = t
        for s in sorted(allowed, key=len, reverse=True):
            rest = rest.replace(s, "")
        assert not CJK.search(rest), f"{chapter} (en): Chinese text left in {t[:120]!r}"
    return out


def _keys(d, prefix=""):
    keys = set()
    for k, v in d.items():
        if k == "columns" or k == "labels":
            keys.add(f"{prefix}{k}")
            continue
        if isinstance(v, dict):
            keys |= _keys(v, f"{prefix}{k}.")
        else:
            keys.add(f"{prefix}{k}")
    return keys


def _fact_strings(x) -> set[str]:
    """Strings in the facts that contain CJK (names given in the data, e.g. experiment names)."""
    out = set()
    if isinstance(x, dict):
        for v in x.values():
            out |= _fact_strings(v)
    elif isinstance(x, list):
        for v in x:
            out |= _fact_strings(v)
    elif isinstance(x, str) and CJK.search(x):
        out.add(x)
    return out


def render_without_section(chapter: str, facts: dict, sections: dict, section: str) -> None:
    """Render the texts outside the sections (intro, summary, finding) and those of every other
    section from facts that lack ``section``. ``sections``: section → (facts keys it makes,
    text keys it shows)."""
    gone, _ = sections[section]
    f = {k: v for k, v in facts.items() if k not in gone}
    f["missing"] = {section: ["a_table"]}
    others = [t for s, (_, texts) in sections.items() if s != section for t in texts]
    edition = dict(edition="2025", year=2025, compare_year=2024, min_group_size=50, simulated=True)
    for lang in ("zh", "en"):
        w = Words(chapter, lang, {**edition, "language": lang})
        for key in ("text.intro", "text.summary", "finding", *(f"text.{t}" for t in others)):
            w.render(key, jsonable(f))
