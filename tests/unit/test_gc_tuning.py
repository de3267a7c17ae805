"""The recording path raises CPython's young-generation GC threshold, and only raises it."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from application.event_chain import YOUNG_GC_THRESHOLD, tune_gc_for_batches


@pytest.fixture(autouse=True)
def restore_thresholds() -> Iterator[None]:
    saved = gc.get_threshold()
    yield
    gc.set_threshold(*saved)


def test_a_default_threshold_is_raised_and_the_older_generations_are_kept() -> None:
    gc.set_threshold(700, 11, 12)
    tune_gc_for_batches()
    assert (YOUNG_GC_THRESHOLD, 11, 12) == gc.get_threshold()


@pytest.mark.parametrize("young", [0, YOUNG_GC_THRESHOLD * 2])
def test_collection_switched_off_or_a_higher_threshold_is_kept(young: int) -> None:
    gc.set_threshold(young, 10, 10)
    tune_gc_for_batches()
    assert (young, 10, 10) == gc.get_threshold()
