"""helpers.plots: each figure builds from the kit's own outputs (Agg backend, nothing shown)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from helpers import metrics, plots  # noqa: E402
from helpers.train import History  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:32, 0:32]
    base = np.stack([x * 8, y * 8, (x + y) * 4], -1).astype(np.uint8)
    return np.stack([base, base[::-1]]), rng


def test_side_by_side_titles_carry_the_metrics(images):
    originals, rng = images
    jpegs = [metrics.encode_image(im, "jpeg", 30) for im in originals]
    recon = torch.from_numpy(originals).permute(0, 3, 1, 2).float() / 255 + 0.02
    fig = plots.side_by_side(
        originals, np.stack([j["decoded"] for j in jpegs]), recon,
        jpeg_metrics={k: [j[k] for j in jpegs] for k in ("psnr", "ssim", "bpp")},
        recon_metrics={"psnr": metrics.psnr(recon, originals, reduction="none"),
                       "ssim": metrics.ssim(recon, originals, reduction="none"), "bpp": [0.25, 0.25]},
    )
    assert isinstance(fig, Figure)
    axes = fig.axes
    assert len(axes) == 6
    assert [a.get_title() for a in axes[:3]] == ["original", "JPEG", "reconstruction"]
    label = axes[1].get_xlabel()
    assert f"{jpegs[0]['psnr']:.2f} dB" in label and "SSIM" in label and f"{jpegs[0]['bpp']:.3f} bpp" in label
    assert "0.250 bpp" in axes[2].get_xlabel()
    # columns may be left out
    assert len(plots.side_by_side(originals, None, recon).axes) == 4


def test_plot_history_one_or_several_runs():
    h = History(train_loss=[0.1, 0.05, 0.04], val_loss=[0.12, 0.06, 0.07], val_psnr=[20, 24, 23],
                val_ssim=[0.5, 0.7, 0.68], lr=[1e-3] * 3, seconds=[1.0] * 3, best_epoch=2)
    fig = plots.plot_history(h)
    assert len(fig.axes) == 3
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert labels == ["train", "val"]
    fig = plots.plot_history([h, h.to_dict()], labels=["a", "b"], metrics=("loss", "psnr"))
    assert len(fig.axes) == 2
    assert "a train" in fig.axes[0].get_legend_handles_labels()[1]
    with pytest.raises(ValueError):
        plots.plot_history([h], labels=["a", "b"])


def test_plot_metric_vs_setting_numeric_and_categorical():
    fig = plots.plot_metric_vs_setting([16, 64, 256], [24.0, 26.5, 28.1], setting_name="latent_dim", logx=True)
    assert fig.axes[0].get_xscale() == "log"
    fig = plots.plot_metric_vs_setting(["relu", "tanh"], {"psnr": [25, 24], "other": [20, 21]},
                                       setting_name="activation")
    assert len(fig.axes[0].patches) == 4
    with pytest.raises(ValueError):
        plots.plot_metric_vs_setting([1, 2], [1.0])


def test_plot_rd_accepts_pairs_dicts_and_sweep_rows(images):
    originals, _ = images
    rows = metrics.quality_sweep(originals[0], "jpeg", [10, 50, 90])
    fig = plots.plot_rd({"JPEG": rows, "AE": ([0.5], [25.0]), "WebP": {"bpp": [0.2, 0.4], "psnr": [27, 30]}})
    ax = fig.axes[0]
    assert ax.get_xlabel().startswith("bits per pixel")
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["JPEG", "AE", "WebP"]
    fig = plots.plot_rd({"JPEG": rows}, metric="ssim")
    assert fig.axes[0].get_ylabel() == "SSIM"


def test_plot_psnr_vs_training_takes_histories_and_reference_curves():
    h = History()
    for i in range(3):
        h.add_epoch(1e-3, 0.1 / (i + 1), {"loss": 0.1, "psnr": 20.0 + i, "ssim": 0.5}, seconds=2.0, steps=10)
    curve = {"steps": [100, 200], "seconds": [30.0, 60.0], "val_psnr": [23.0, 24.0]}
    fig = plots.plot_psnr_vs_training([h, curve], labels=["yours", "reference"])
    by_steps, by_seconds = fig.axes
    assert list(by_steps.lines[0].get_xdata()) == [10, 20, 30]           # cumulative steps of the History
    assert list(by_seconds.lines[0].get_xdata()) == [2.0, 4.0, 6.0]
    assert list(by_steps.lines[1].get_xdata()) == [100, 200]             # a curve is already cumulative
    assert by_steps.get_xscale() == "log"
    with pytest.raises(ValueError, match="1 labels for 2 runs"):
        plots.plot_psnr_vs_training([h, curve], labels=["a"])
    with pytest.raises(ValueError, match="2 steps, 2 seconds, 1 PSNR"):
        plots.plot_psnr_vs_training([{"steps": [1, 2], "seconds": [1, 2], "val_psnr": [3]}], labels=["x"])


def test_overlapping_texts_finds_labels_that_overprint():
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.plot([1, 2, 3], [1, 2, 3])
    ax.annotate("width 8", (1, 1))
    ax.annotate("width 16", (1.01, 1.0))           # nearly the same point: the boxes overlap
    ax.annotate("depth 3", (3, 3), xytext=(0, -14), textcoords="offset points")
    assert plots.overlapping_texts(fig) == [("width 8", "width 16")]


def test_overlapping_texts_is_empty_when_labels_are_apart():
    fig, axes = plt.subplots(1, 2, figsize=(6, 3))
    for ax in axes:
        ax.set_xlim(0, 10); ax.set_ylim(0, 10)
        ax.annotate("a", (1, 1)); ax.annotate("b", (8, 8)); ax.text(5, 5, "")  # an empty text draws nothing
    assert plots.overlapping_texts(fig) == []
