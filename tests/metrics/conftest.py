"""Metric tests run tiny networks on one intra-op thread (the shared ``one_thread`` fixture)."""

import pytest


@pytest.fixture(autouse=True)
def _metrics_on_one_thread(one_thread: None) -> None:
    pass
