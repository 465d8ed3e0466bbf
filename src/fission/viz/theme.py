"""The shared seaborn theme. Chinese labels need a CJK font (Debian ``fonts-noto-cjk``); a
glyph missing from the font is an error here, never a silent box in a published figure."""
from __future__ import annotations

import warnings

import matplotlib
from matplotlib import font_manager

CJK_FONT = "Noto Sans CJK SC"
PALETTE = ["#C8102E", "#1F4E79", "#E08E0B", "#2E8B57", "#7B4F9D", "#5B6770", "#D35F8D", "#3FA7B5"]


class FontMissing(RuntimeError):
    pass


def _check_font() -> None:
    names = {f.name for f in font_manager.fontManager.ttflist}
    if CJK_FONT not in names:
        font_manager.fontManager.__init__()  # fonts installed after matplotlib built its cache
        names = {f.name for f in font_manager.fontManager.ttflist}
    if CJK_FONT not in names:
        raise FontMissing(f"font {CJK_FONT!r} is not installed; run `make setup` "
                          "(or as root: apt-get install -y fonts-noto-cjk)")


def use(context: str = "notebook") -> None:
    """Apply the theme; call once at the top of a chapter."""
    import seaborn as sns
    _check_font()
    sns.set_theme(context=context, style="whitegrid", palette=PALETTE,
                  font=CJK_FONT, rc={
                      "font.sans-serif": [CJK_FONT, "DejaVu Sans"],
                      "axes.unicode_minus": False,
                      "figure.figsize": (8, 4.2),
                      "figure.dpi": 110,
                      "savefig.dpi": 150,
                      "axes.titleweight": "bold",
                      "axes.spines.top": False,
                      "axes.spines.right": False,
                  })
    matplotlib.rcParams["font.family"] = "sans-serif"
    # matplotlib reports a missing glyph as a UserWarning while drawing; make it fail the cell.
    warnings.filterwarnings("error", message=r".*[Gg]lyph .* missing from (current )?font")
    try:
        from IPython import get_ipython
        ip = get_ipython()
        if ip is not None:
            ip.run_line_magic("config", "InlineBackend.figure_formats = ['png']")
            ip.run_line_magic("config", "InlineBackend.rc = {}")
    except ImportError:  # plain Python: nothing to configure
        pass
