"""Fixtures for the recipe, plan and benchmark tests."""

from __future__ import annotations

import pytest
from bench_helpers import TinyGen, register_tiny_plugin


@pytest.fixture
def tiny_plugin():
    unregister = register_tiny_plugin()
    try:
        yield TinyGen
    finally:
        unregister()
