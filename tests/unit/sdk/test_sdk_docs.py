"""The examples in the SDK's docstrings run and say what they claim."""

from __future__ import annotations

import doctest
from types import ModuleType

import pytest

import pixcrawler._http
import pixcrawler._progress
import pixcrawler.cli
import pixcrawler.config
import pixcrawler.download
import pixcrawler.exceptions


@pytest.mark.parametrize(
    "module",
    [pixcrawler._http, pixcrawler._progress, pixcrawler.cli, pixcrawler.config, pixcrawler.download,
     pixcrawler.exceptions],
    ids=lambda m: m.__name__,
)
def test_docstring_examples_hold(module: ModuleType) -> None:
    result = doctest.testmod(module)
    assert result.attempted > 0
    assert result.failed == 0
