"""One look for every chapter: the seaborn theme with CJK fonts, and the helpers that emit
publishable Markdown (prose and tables) from a code cell."""
from .theme import CJK_FONT, PALETTE, use  # noqa: F401
from .output import md, table  # noqa: F401
from . import labels  # noqa: F401
