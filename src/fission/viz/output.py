"""Publishable outputs from code cells: prose built from numbers, and Markdown tables (the
publisher turns them into numbered, captioned tables; raw HTML tables would be lost in PDF)."""
from __future__ import annotations

import pandas as pd
from IPython.display import Markdown, display


def md(text: str) -> None:
    """Emit Markdown prose (Chinese narrative built from computed numbers)."""
    display(Markdown(text))


def table(df: pd.DataFrame, floatfmt: str = ",.1f", index: bool = False, note: str = "") -> None:
    """Emit ``df`` as a Markdown pipe table (plus an optional note line under it)."""
    text = df.to_markdown(index=index, floatfmt=floatfmt, intfmt=",")
    if note:
        text += f"\n\n{note}"
    display(Markdown(text))
