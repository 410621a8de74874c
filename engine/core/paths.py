"""Where the shipped data lives (PITWALL_DATA_DIR overrides, for tests of other shipped data)."""

from __future__ import annotations

import os
from pathlib import Path

DATA_DIR = Path(os.environ.get("PITWALL_DATA_DIR", Path(__file__).resolve().parents[2] / "data"))
