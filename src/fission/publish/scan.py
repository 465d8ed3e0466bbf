"""The last check before a report is published: its text holds no identifier of a person.

Chapters publish aggregates only, but a label, a note or a data value can slip through. The
published text is searched for the device hashes of the edition's users (from the staged
``users`` table), for identifier column names, and for things shaped like Chinese mobile
numbers, resident ID-card numbers and e-mail addresses. User ids are small integers that
look like any count, so they are kept out by the facts functions (privacy.assert_publishable)
rather than searched for here.
"""
from __future__ import annotations

import html as html_mod
import re
from pathlib import Path

PATTERNS = {
    "mobile phone number": re.compile(r"(?<![\w.])1[3-9]\d{9}(?![\w.])"),
    "ID-card number": re.compile(r"(?<![\w.])\d{6}(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx](?![\w.])"),
    "e-mail address": re.compile(r"[\w.+-]+@[A-Za-z0-9-]+\.[A-Za-z0-9.-]+"),
}
COLUMNS = ("user_id", "device_hash", "visitor_user_id", "signup_user_id", "leader_user_id",
           "referrer_user_id", "beneficiary_user_id", "source_user_id")
HEX_TOKEN = re.compile(r"\b[0-9a-f]{12,64}\b")


def visible_text(html: str) -> str:
    """What a reader sees: no embedded images, styles or scripts, no tags."""
    html = re.sub(r"<(style|script)\b.*?</\1>", " ", html, flags=re.S | re.I)
    html = re.sub(r"data:[\w/+.-]+;base64,[A-Za-z0-9+/=]+", " ", html)
    return html_mod.unescape(re.sub(r"<[^>]+>", " ", html))


def device_hashes(data_dir: Path | None) -> set[str]:
    if not data_dir:
        return set()
    from ..data.load import scan_sql, table_files
    files = table_files(Path(data_dir), "users")
    if not files:
        return set()
    import duckdb
    con = duckdb.connect()
    try:
        rows = con.execute(f"SELECT DISTINCT device_hash FROM {scan_sql(files)} "
                           "WHERE device_hash IS NOT NULL").fetchall()
    except duckdb.Error:
        return set()
    return {str(r[0]).lower() for r in rows}


def find_identifiers(text: str, data_dir: Path | None = None) -> list[str]:
    """One line per kind of identifier found, with up to three examples."""
    found = []
    for what, pattern in PATTERNS.items():
        hits = sorted(set(pattern.findall(text)))
        if hits:
            found.append(f"{len(hits)} {what}(s): {', '.join(hits[:3])}")
    # a qualified name ("users.device_hash", in a notice of missing data) names the column in
    # the schema; a bare one is what a table header of identifiers would show
    cols = [c for c in COLUMNS if re.search(rf"(?<![\w.]){c}\b", text)]
    if cols:
        found.append(f"identifier column name(s): {', '.join(cols)}")
    hashes = device_hashes(data_dir)
    if hashes:
        hits = sorted({t for t in HEX_TOKEN.findall(text.lower()) if t in hashes})
        if hits:
            found.append(f"{len(hits)} device hash(es) of the edition's users: {', '.join(hits[:3])}")
    return found


def scan_summary(text: str, data_dir: Path | None = None) -> dict:
    """The scan's result as the report states it: what was searched for and what was found."""
    return {"characters": len(text), "device_hashes": len(device_hashes(data_dir)),
            "patterns": list(PATTERNS), "columns": len(COLUMNS),
            "findings": find_identifiers(text, data_dir)}
