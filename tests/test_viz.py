"""Figures use the CJK font and a missing glyph fails loudly instead of printing boxes."""
import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from fission import viz  # noqa: E402


def test_chinese_renders_without_missing_glyphs():
    viz.use()
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*[Gg]lyph.*missing")
        fig, ax = plt.subplots()
        ax.set_title("月度 GMV：本年与上年对比（万元）−12%")
        fig.canvas.draw()
        plt.close(fig)
    assert matplotlib.rcParams["font.sans-serif"][0] == viz.CJK_FONT


def test_missing_glyph_is_an_error():
    viz.use()
    fig, ax = plt.subplots()
    ax.set_title("\U0001D11E")  # musical symbol G clef: in no installed font
    with pytest.raises(UserWarning, match="[Gg]lyph"):
        fig.canvas.draw()
    plt.close(fig)
