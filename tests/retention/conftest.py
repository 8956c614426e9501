"""Retention fixtures: the registry's model cases (a trained, registered churn model)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "registry" / "cases"))
