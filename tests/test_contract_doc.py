"""data/README.md (for people) and contract.py (for code) describe the same contract.

When this fails after a change to contract.py, regenerate the README's contract section:
    python -c "from fission.data.validate import update_readme; update_readme()"
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from fission.data.contract import TABLES

README = Path(__file__).resolve().parents[1] / "data" / "README.md"
FIX = ("; regenerate with: python -c \"from fission.data.validate import update_readme; "
       "update_readme()\"")


def _cells(line: str) -> list[str]:
    cells = re.split(r"(?<!\\)\|", line.strip())[1:-1]
    return [c.strip().replace("\\|", "|") for c in cells]


def parse_readme(text: str) -> dict[str, dict]:
    """{table: {'header': str, 'columns': [{name, type, nullable, allowed, bounds, fk}], 'order': str}}"""
    out: dict[str, dict] = {}
    cur = None
    for line in text.splitlines():
        m = re.match(r"^### `(\w+)`\s*$", line)
        if m:
            cur = out.setdefault(m.group(1), {"header": "", "columns": [], "order": ""})
            continue
        if cur is None:
            continue
        if line.startswith("## "):
            cur = None
        elif ("key:" in line or "no key" in line) and not cur["header"]:
            cur["header"] = line
        elif line.startswith("| `"):
            name, typ, nullable, rule, fk, _notes = _cells(line)
            allowed = re.findall(r"`([^`]*)`", rule) if "`" in rule else None
            cur["columns"].append({"name": name.strip("`"), "type": typ, "nullable": nullable,
                                   "allowed": allowed, "bounds": None if allowed else rule,
                                   "fk": fk.strip("`") or None})
        elif line.startswith("Time order"):
            cur["order"] = line
    return out


@pytest.fixture(scope="module")
def doc():
    return parse_readme(README.read_text(encoding="utf-8"))


def test_every_table_documented(doc):
    assert list(doc) == list(TABLES), "README tables differ from contract.TABLES" + FIX


@pytest.mark.parametrize("name", list(TABLES))
def test_columns_agree(doc, name):
    t = TABLES[name]
    d = doc[name]
    assert [c["name"] for c in d["columns"]] == t.names, f"{name}: column names/order differ" + FIX
    for c, dc in zip(t.columns, d["columns"]):
        where = f"{name}.{c.name}"
        assert dc["type"] == c.type, f"{where}: README says type {dc['type']}, contract {c.type}" + FIX
        assert dc["nullable"] == ("yes" if c.nullable else "no"), f"{where}: nullability differs" + FIX
        want = [str(v) for v in c.allowed] if c.allowed is not None else None
        assert dc["allowed"] == want, f"{where}: closed list differs" + FIX
        if c.allowed is None:
            for bound in (c.min, c.max):
                if bound is not None:
                    assert f"{bound:g}" in dc["bounds"], f"{where}: bound {bound:g} not documented" + FIX
            if c.min is None and c.max is None:
                assert dc["bounds"] == "", f"{where}: README documents bounds the contract lacks" + FIX
        assert dc["fk"] == c.fk, f"{where}: foreign key differs" + FIX


@pytest.mark.parametrize("name", list(TABLES))
def test_key_requirement_and_time_order(doc, name):
    t = TABLES[name]
    header = doc[name]["header"]
    assert ("**required**" in header) == t.required, f"{name}: required/optional differs" + FIX
    keys = re.findall(r"`(\w+)`", header.split("key:")[1]) if "key:" in header else []
    assert keys == list(t.key), f"{name}: key differs" + FIX
    for o in t.time_order:
        assert f"`{o.later}` ≥ `{o.earlier}`" in doc[name]["order"], f"{name}: time order {o} missing" + FIX


def test_required_tables_sentence():
    text = README.read_text(encoding="utf-8")
    m = re.search(r"Required tables: (.*?)\.", text)
    assert m, "README lost its 'Required tables:' sentence"
    assert re.findall(r"`(\w+)`", m.group(1)) == [t.name for t in TABLES.values() if t.required]


def test_readme_section_matches_generator():
    """The generated section is committed verbatim (notes and purposes included)."""
    from fission.data.validate import README_BEGIN, README_END, contract_markdown
    text = README.read_text(encoding="utf-8")
    section = text[text.index(README_BEGIN) + len(README_BEGIN):text.index(README_END)]
    assert section.strip() == contract_markdown().strip(), "README contract section is stale" + FIX
