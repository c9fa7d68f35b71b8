"""Fixtures shared by the data tests (test_images.py, test_sample.py, test_data_*.py), named for what they hold.

``embedded_sample`` is built once per session into a temporary folder; ``live_fixture`` is a tiny LIVE release 2
tree written per test; ``data_cache`` an empty cache folder per test; ``fresh_memory_cache`` empties the data
cache's memory and counts around a test (the data test files use it for every test, with ``pytestmark``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import data
from photos import write_live


@pytest.fixture(scope="session")
def embedded_sample(tmp_path_factory) -> Path:
    return data.build_sample(tmp_path_factory.mktemp("embedded") / "sample")


@pytest.fixture
def live_fixture(tmp_path) -> Path:
    return write_live(tmp_path / "live")


@pytest.fixture
def data_cache(tmp_path) -> Path:
    return tmp_path / "cache"


@pytest.fixture
def fresh_memory_cache():
    data.clear_memory_cache()
    data.reset_cache_stats()
    yield
    data.clear_memory_cache()
