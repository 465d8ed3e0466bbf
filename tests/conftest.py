import sys
from pathlib import Path

import pytest

# metric tests import their small-table helpers from tests/metrics_fixtures.py
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(scope="session")
def default_platform(tmp_path_factory):
    """The default edition's simulated platform (100k users, seed 20250101), simulated once
    for the tests that check estimators against its truth.json: (folder, truth)."""
    import json

    from fission.data.simulate import simulate
    out = tmp_path_factory.mktemp("default_platform")
    simulate(out, year=2025, users=100_000, seed=20250101, progress=False)
    return out, json.loads((out / "truth.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def small_platform(tmp_path_factory):
    """A smaller simulated platform (30k users, seed 20250101), simulated once for the chapter
    and metric tests that need a whole platform but not the default's size: (folder, truth)."""
    import json

    from fission.data.simulate import simulate
    out = tmp_path_factory.mktemp("small_platform")
    simulate(out, year=2025, users=30_000, seed=20250101, progress=False)
    return out, json.loads((out / "truth.json").read_text(encoding="utf-8"))
