"""Chapter words: templates over facts, names of codes, tables, references by label."""
import re

import pytest
import yaml

from fission.chapters import OUTLINE
from fission.words import WORDS_DIR, Words, WordsError, all_sec_labels, read_words

ED = {"edition": "2025", "year": 2025, "compare_year": 2024, "min_group_size": 50}
WORDS = {
    "title": "留存",
    "sections": {"cohort": "同期群"},
    "text": {"a": "{{ ed.year }} 年留存 {{ f.r | pct }}，{{ f.d | change_pp(significant=f.sig) }}。"
                  "见 @sec-retention-cohort 与 @sec-service。",
             "missing": "{{ f.nope }}"},
    "figures": {"fig-x": {"caption": "图题 {{ f.r | pct }}", "labels": {"x": "月份"}}},
    "tables": {"tbl-x": {"caption": "表题", "note": "{{ suppressed(f.hidden) }}",
                         "columns": {"渠道": "{{ r.channel | name('channel') }}",
                                     "留存": "{{ r.rate | pct }}"}}},
}


@pytest.fixture
def wdir(tmp_path):
    for lang in ("zh", "en"):
        (tmp_path / f"common.{lang}.yaml").write_text(
            (WORDS_DIR / f"common.{lang}.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "06_retention.zh.yaml").write_text(yaml.safe_dump(WORDS, allow_unicode=True),
                                                   encoding="utf-8")
    return tmp_path


def test_text_renders_facts_with_filters_and_absent_chapters(wdir):
    w = Words("06_retention", "zh", ED, ["06_retention"], words_dir=wdir)
    text = w.render("text.a", {"r": 0.123, "d": 0.004, "sig": False})
    assert text.startswith("2025 年留存 12.3%，无显著变化（+0.4 个百分点）。")
    assert "@sec-retention-cohort" in text and "@sec-service" not in text
    assert "客服与售后服务优化" in text          # the absent chapter is named, not pointed at
    assert w.title() == "# 留存 {#sec-retention}"
    assert w.heading("cohort") == "## 同期群 {#sec-retention-cohort}"


def test_missing_fact_or_entry_fails_with_the_file_named(wdir):
    w = Words("06_retention", "zh", ED, words_dir=wdir)
    with pytest.raises(WordsError, match=r"06_retention\.zh\.yaml.*nope"):
        w.render("text.missing", {})
    with pytest.raises(WordsError, match="no entry 'text.zzz'"):
        w.render("text.zzz", {})
    with pytest.raises(WordsError, match="translate"):
        Words("06_retention", "en", ED, words_dir=wdir)


def test_table_from_records_with_names_alignment_and_note(wdir):
    w = Words("06_retention", "zh", ED, words_dir=wdir)
    md = w.table("tbl-x", [{"channel": "group_buy", "rate": 0.31}, {"channel": "odd|x", "rate": None}],
                 {"hidden": 2})
    lines = md.splitlines()
    assert lines[0] == "| 渠道 | 留存 |" and lines[1] == "|:---|---:|"
    assert lines[2] == "| 拼团 | 31.0% |" and lines[3] == "| odd\\|x | — |"
    assert lines[-1] == "注：2 个人数少于 50 的分组未展示。"
    assert not w.table("tbl-x", [], {"hidden": 0}).endswith("展示。")


def test_figure_hash_changes_with_figure_labels_only(wdir):
    w = lambda: Words("06_retention", "zh", ED, words_dir=wdir)  # noqa: E731
    before = w().figure_hash()
    data = yaml.safe_load((wdir / "06_retention.zh.yaml").read_text(encoding="utf-8"))
    data["text"]["a"] = "别的措辞"
    data["figures"]["fig-x"]["caption"] = "新图题"
    (wdir / "06_retention.zh.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    assert w().figure_hash() == before                    # prose and captions: publish only
    data["figures"]["fig-x"]["labels"]["x"] = "注册月份"
    (wdir / "06_retention.zh.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    assert w().figure_hash() != before                    # drawn in the image: re-execute


def test_names_of_codes_in_both_languages():
    for lang, tier, ch in (("zh", "三线城市", "拼团"), ("en", "Tier 3", "Group buying")):
        w = Words(None, lang, ED)
        assert w.name(3, "city_tier") == tier and w.name("3", "city_tier") == tier
        assert w.name("group_buy", "channel") == ch and w.name("new_code", "channel") == "new_code"


COMMITTED = sorted(p for p in WORDS_DIR.glob("*.yaml") if not p.name.startswith("common."))


def _strings(x):
    if isinstance(x, dict):
        for v in x.values():
            yield from _strings(v)
    elif isinstance(x, list):
        for v in x:
            yield from _strings(v)
    elif isinstance(x, str):
        yield x


@pytest.mark.parametrize("path", COMMITTED, ids=lambda p: p.name)
def test_committed_words_refer_by_label_only(path):
    chapter, lang = path.name.split(".")[:2]
    assert chapter in OUTLINE, f"{path.name}: not a chapter of the outline"
    labels = all_sec_labels(lang)
    for s in _strings(read_words(chapter, lang)):
        assert not re.search(r"第\s*[0-9一二三四五六七八九十]+\s*章|[Cc]hapter\s+\d", s), \
            f"{path.name}: typed chapter number in {s[:60]!r}; use @sec-<slug>"
        for ref in re.findall(r"@(sec-[a-z0-9-]+)", s):
            assert ref in labels, f"{path.name}: @{ref} names no chapter or section"
        # Quarto reads "（@10" as a citation (its PDF then fails): only references start with @
        assert not re.search(r"(?<![\w])@(?!(?:fig|tbl|sec)-)", s), f"{path.name}: stray @ in {s[:60]!r}"


@pytest.mark.parametrize("path", COMMITTED, ids=lambda p: p.name)
def test_every_chapter_has_both_languages_with_the_same_entries(path):
    chapter = path.name.split(".")[0]
    zh, en = read_words(chapter, "zh"), read_words(chapter, "en")
    assert set(zh) == set(en)
    for key in ("sections", "text", "figures", "tables", "keyfigures"):
        assert set(zh.get(key) or {}) == set(en.get(key) or {}), f"{chapter}: {key} differ"
    cjk = [s for s in _strings(en) if re.search(r"[\u4e00-\u9fff]", s)]
    assert not cjk, f"{chapter}.en.yaml has Chinese text: {cjk[:3]}"
