import sys
from pathlib import Path

# metric tests import their small-table helpers from tests/metrics_fixtures.py
sys.path.insert(0, str(Path(__file__).parent))
