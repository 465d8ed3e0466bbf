"""The report's chapters: one ``facts`` module per written chapter (``fission.chapters.<slug>``)
computes every number, table and analytic decision the chapter publishes; its words live in
``notebooks/words/<chapter>.<lang>.yaml`` (docs/chapters.md).

``OUTLINE`` is the whole book's outline (ten chapters): an edition lists the chapters it has
in ``params/<edition>.yaml``; references to a chapter absent from an edition say so.
Chapters are referred to as ``@sec-<slug>`` and their sections as ``@sec-<slug>-<section>``.
"""
from __future__ import annotations

#: chapter id (the notebook's name) → slug used in ``@sec-`` labels and the facts module name
OUTLINE: dict[str, str] = {
    "01_industry_background": "industry",
    "02_fission_elements": "elements",
    "03_growth_strategy": "growth",
    "04_social_platforms": "platforms",
    "05_recommendation": "recommendation",
    "06_retention": "retention",
    "07_customer_service": "service",
    "08_supply_chain": "supply",
    "09_risk_compliance": "risk",
    "10_conclusions": "conclusions",
}
SLUG_TO_CHAPTER = {v: k for k, v in OUTLINE.items()}

#: chapters built from the other chapters' facts: `fission run` executes them after the others,
#: with the parameter ``chapters`` (the others that have facts), and re-executes them when any
#: of those facts change
READS_OTHER_CHAPTERS = frozenset({"10_conclusions"})


def slug(chapter: str) -> str:
    try:
        return OUTLINE[chapter]
    except KeyError:
        raise LookupError(f"{chapter!r} is not a chapter of the report's outline; "
                          f"chapters: {', '.join(OUTLINE)}") from None


def section_label(chapter: str, section: str | None = None) -> str:
    """``sec-retention`` for the chapter, ``sec-retention-cohort`` for one of its sections."""
    return f"sec-{slug(chapter)}" + (f"-{section}" if section else "")
