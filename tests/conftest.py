"""Fixtures shared by several test files, named for what they hold.

``figure`` is a small matplotlib figure (test_record.py, test_report.py, closed after the test). The data tests
(test_images.py, test_sample.py, test_data_*.py) share the rest:

``embedded_sample`` is built once per session into a temporary folder; ``live_fixture`` is a tiny LIVE release 2
tree written per test; ``data_cache`` an empty cache folder per test; ``fresh_memory_cache`` empties the data
cache's memory and counts around a test (the data test files use it for every test, with ``pytestmark``).
``trained_hyperprior`` is a tiny scale hyperprior trained briefly, once per session (test_hyperprior.py,
test_codec.py).
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from helpers import data  # noqa: E402
from photos import write_live  # noqa: E402

# Every claim a notebook's lesson makes must hold at the stored defaults (helpers.record.Run.claim): under the tests
# a claim that does not stops its notebook, so nbval fails it. Kernels that nbval and papermill start inherit this.
os.environ.setdefault("KIT_CLAIMS_MUST_HOLD", "1")


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


@pytest.fixture
def figure():
    fig, ax = plt.subplots(figsize=(2, 1.5))
    ax.plot([0, 1, 2], [2, 0, 1])
    yield fig
    plt.close(fig)


@pytest.fixture(scope="session")
def trained_hyperprior(embedded_sample):
    """A tiny hyperprior (8 channels everywhere) trained 200 steps on 64x64 crops of the embedded sample (about
    10 s on a busy CPU: one thread, many times faster than two on a shared 2-core machine). Do not train it further
    in a test: it is shared."""
    import torch

    from helpers.hyperprior import ScaleHyperpriorModel
    from helpers.models import torch_threads
    from helpers.rd_model import endless_batches, train_steps

    splits = data.make_splits(embedded_sample, image_size=64, seed=0, preprocess="random_crop", crops_per_image=8,
                              flips=True)
    torch.manual_seed(0)
    model = ScaleHyperpriorModel(8, 8, 8).eval()
    with torch_threads(1):
        train_steps(model, endless_batches(splits.train, 8, seed=0), lmbda=0.01, steps=200, log_every=0)
    return model
