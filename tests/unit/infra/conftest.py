"""Fixtures of the infra contract tests: the parsed Bicep files and the app's own names."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
if str(ROOT) not in sys.path:  # `pytest` (not `python -m pytest`) does not put the root there
    sys.path.insert(0, str(ROOT))

from _infra import Infra  # noqa: E402


@pytest.fixture(scope="session")
def infra() -> Infra:
    return Infra(ROOT)
