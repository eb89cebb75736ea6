"""The examples in the dataset modules' docstrings run and say what they claim."""

from __future__ import annotations

import doctest
from types import ModuleType

import pytest

import shared.datasets.labels
import shared.datasets.layout
import shared.datasets.sinks
import shared.datasets.splits
import shared.models.datasets


@pytest.mark.parametrize(
    "module",
    [
        shared.datasets.labels,
        shared.datasets.layout,
        shared.datasets.sinks,
        shared.datasets.splits,
        shared.models.datasets,
    ],
    ids=lambda m: m.__name__,
)
def test_docstring_examples_hold(module: ModuleType) -> None:
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
