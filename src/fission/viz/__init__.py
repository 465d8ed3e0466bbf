"""One look for every chapter: the seaborn theme with CJK fonts (``use``) and the palette;
each chapter's figures are functions of its facts in ``fission.viz.<slug>``."""
from .theme import CJK_FONT, PALETTE, use  # noqa: F401
