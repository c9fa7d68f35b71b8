"""helpers.models: every knob builds, keeps the shape and the output range; describe() counts right."""

import inspect
import math
import time

import pytest
import torch
from torch import nn

from helpers.models import (ACTIVATIONS, BOTTLENECKS, OUTPUTS, POOLINGS, UPSAMPLES, BaselineAE, ConvAE,
                            build_model, count_macs, count_parameters, evaluation_mode, output_range, save_config,
                            seconds_per_step)

torch.set_num_threads(1)

# One model per value of each knob (the others at their defaults), plus a few combinations.
KNOBS = (
    [dict(activation=a) for a in ACTIVATIONS]
    + [dict(pooling=p) for p in POOLINGS]
    + [dict(upsample=u) for u in UPSAMPLES]
    + [dict(bottleneck=b) for b in BOTTLENECKS]
    + [dict(output=o) for o in OUTPUTS]
    + [dict(batch_norm=True), dict(dropout=0.3), dict(depth=2), dict(depth=5), dict(width=4), dict(latent_dim=8)]
    + [dict(batch_norm=True, dropout=0.2, pooling="stride", upsample="transposed", bottleneck="conv",
            activation="leaky_relu", output="tanh")]
)


def _id(kw):
    return ",".join(f"{k}={v}" for k, v in kw.items())


@pytest.fixture(scope="module")
def batch224():
    torch.manual_seed(0)
    return torch.rand(1, 3, 224, 224)


@pytest.mark.parametrize("kw", KNOBS, ids=_id)
def test_convae_knob_maps_224_to_same_shape_in_range(kw, batch224):
    torch.manual_seed(0)
    # width 4 keeps each forward pass cheap; the point here is the wiring of each knob, not capacity
    model = ConvAE(**{"width": 4, **kw})
    model.train()  # batch norm / dropout active: the training path must work too
    y = model(batch224.expand(2, -1, -1, -1))
    assert y.shape == (2, 3, 224, 224)
    lo, hi = output_range(model)
    assert torch.isfinite(y).all()
    assert y.min() >= lo and y.max() <= hi
    model.eval()
    with torch.no_grad():
        z = model.encode(batch224)
        assert tuple(z.shape[1:]) == model.latent_shape(224)
        assert model.decode(z).shape == (1, 3, 224, 224)


def test_default_convae_at_224(batch224):
    torch.manual_seed(0)
    model = ConvAE().eval()
    with torch.no_grad():
        y = model(batch224)
    assert y.shape == batch224.shape and 0 <= y.min() and y.max() <= 1


@pytest.mark.parametrize("kw", [dict(), dict(hidden=32), dict(pool=4, image_size=224), dict(output="tanh"),
                                dict(activation="tanh", hidden=16, output="linear")], ids=_id)
def test_baseline_maps_to_same_shape(kw):
    torch.manual_seed(0)
    model = BaselineAE(**{"latent_dim": 16, **kw})
    s = model.image_size
    x = torch.rand(2, 3, s, s)
    y = model(x)
    assert y.shape == x.shape
    lo, hi = output_range(model)
    assert y.min() >= lo and y.max() <= hi
    assert model.encode(x).shape == (2, 16)


def test_baseline_refuses_absurd_size_with_a_clear_message():
    with pytest.raises(ValueError, match=r"154,357,824 parameters.*pool=4"):
        BaselineAE(image_size=224, hidden=512)
    # the pooling front makes it reasonable
    assert count_parameters(BaselineAE(image_size=224, hidden=512, pool=8)) < 50_000_000


@pytest.mark.parametrize("size", [100, 224 + 8])
def test_convae_size_not_divisible_is_a_clear_error(size):
    model = ConvAE(width=4, bottleneck="conv")
    with pytest.raises(ValueError, match="divisible by 2\\*\\*depth=16"):
        model(torch.rand(1, 3, size, size))
    with pytest.raises(ValueError, match="divisible"):
        ConvAE(image_size=size)


def test_convae_dense_fixes_size_conv_does_not():
    dense = ConvAE(width=4, depth=3, image_size=64)
    with pytest.raises(ValueError, match="image_size=32"):
        dense(torch.rand(1, 3, 32, 32))
    conv = ConvAE(width=4, depth=3, bottleneck="conv", latent_dim=4)
    for s in (32, 64, 96):
        assert conv(torch.rand(1, 3, s, s)).shape == (1, 3, s, s)
    with pytest.raises(ValueError, match=r"\(N, 3, S, S\)"):
        conv(torch.rand(1, 1, 32, 32))


@pytest.mark.parametrize("bad", [dict(activation="gelu"), dict(pooling="lp"), dict(upsample="cubic"),
                                 dict(bottleneck="vq"), dict(output="softmax"), dict(dropout=1.0), dict(depth=0)])
def test_bad_knob_values_raise(bad):
    with pytest.raises(ValueError):
        ConvAE(**bad)


def test_a_bad_knob_is_refused_by_the_kits_one_check_of_a_choice():
    from helpers.params import ParameterError

    with pytest.raises(ParameterError, match=r"activation='gelu'.*'relu', 'tanh', 'sigmoid', 'leaky_relu'"):
        ConvAE(activation="gelu")
    with pytest.raises(ParameterError, match=r"output='softmax'.*'sigmoid', 'tanh', 'linear'"):
        BaselineAE(output="softmax")


def test_describe_counts_by_hand():
    # BaselineAE 8x8, latent 10: Linear(192, 10) + Linear(10, 192)
    m = BaselineAE(latent_dim=10, image_size=8)
    d = m.describe(bits_per_value=8)
    assert d["parameters"] == 192 * 10 + 10 + 10 * 192 + 192
    assert d["macs"] == 2 * 192 * 10
    assert d["latent_size"] == 10
    assert d["compression_ratio"] == pytest.approx(8 * 8 * 3 * 8 / 80)
    assert d["bpp"] == pytest.approx(80 / 64)
    # ConvAE depth 1, width 2, conv bottleneck, latent 1, no batch norm, 8x8 input
    m = ConvAE(latent_dim=1, depth=1, width=2, bottleneck="conv", image_size=8)
    d = m.describe(8, bits_per_value=4)
    macs = (8 * 8 * 2 * 3 * 9        # conv 3->2 at 8x8
            + 4 * 4 * 1 * 2          # 1x1 to latent at 4x4
            + 4 * 4 * 2 * 1          # 1x1 back
            + 8 * 8 * 2 * 2 * 9      # upsample then conv 2->2 at 8x8
            + 8 * 8 * 3 * 2 * 9)     # final conv 2->3
    assert d["macs"] == macs
    assert d["parameters"] == count_parameters(m) == sum(p.numel() for p in m.parameters())
    assert d["latent_shape"] == (1, 4, 4) and d["latent_size"] == 16
    assert d["bpp"] == pytest.approx(16 * 4 / 64)
    assert d["compression_ratio"] == pytest.approx(8 * 8 * 24 / (16 * 4))


def test_transposed_conv_macs():
    m = nn.ConvTranspose2d(4, 6, 4, stride=2, padding=1)
    assert count_macs(m, (4, 5, 5)) == 5 * 5 * 4 * 6 * 16


def test_describe_default_models():
    d = ConvAE().describe()
    assert d["image_size"] == 224 and d["latent_size"] == 256
    assert d["bpp"] == pytest.approx(256 * 8 / 224**2)
    assert d["compression_ratio"] == pytest.approx(224 * 224 * 3 / 256)
    assert d["macs"] > 0 and d["parameters"] > 0
    conv = ConvAE(bottleneck="conv", latent_dim=8, width=4)
    assert conv.describe(64)["latent_size"] == 8 * 4 * 4
    assert conv.describe(224)["latent_size"] == 8 * 14 * 14


@pytest.mark.parametrize("model", [BaselineAE(latent_dim=8, image_size=16, hidden=12),
                                   ConvAE(width=4, depth=2, image_size=32, batch_norm=True, output="tanh")],
                         ids=["baseline", "conv"])
def test_config_rebuilds_the_same_model(model):
    clone = build_model(model.config)
    assert type(clone) is type(model)
    assert clone.config == model.config
    clone.load_state_dict(model.state_dict())  # same architecture, same keys and shapes
    with pytest.raises(ValueError, match="unknown model"):
        build_model({"name": "Nope"})


def test_output_range_values():
    assert ConvAE(width=2, depth=1, image_size=8).output_range() == (0.0, 1.0)
    assert ConvAE(width=2, depth=1, image_size=8, output="tanh").output_range() == (-1.0, 1.0)
    lo, hi = ConvAE(width=2, depth=1, image_size=8, output="linear").output_range()
    assert math.isinf(lo) and math.isinf(hi)


# ---------------------------------------------------------------------------------------- one way to record config
def test_save_config_records_every_constructor_argument_and_nothing_else():
    class Tiny(nn.Module):
        def __init__(self, width: int = 4, *, scale: float = 1.0, note=None):
            super().__init__()
            save_config(self, locals())
            helper = width * 2  # a local that is not an argument: not recorded
            self.layer = nn.Linear(helper, width)

    tiny = Tiny(8, note="x")
    assert tiny._config == {"width": 8, "scale": 1.0, "note": "x"}
    record = save_config(tiny, {"self": tiny, "width": 2, "scale": 3.0, "note": None, "other": 1})
    assert record == {"width": 2, "scale": 3.0, "note": None} and tiny._config is record
    for model in (BaselineAE(latent_dim=4, image_size=8), ConvAE(latent_dim=4, depth=2, width=2, image_size=16)):
        arguments = set(inspect.signature(type(model)).parameters)
        assert set(model.config) == arguments | {"name"}  # every argument, so build_model rebuilds it exactly


def test_save_config_keeps_each_argument_as_an_attribute_so_models_copy_none_by_hand():
    class Tiny(nn.Module):
        def __init__(self, width: int = 4, *, scale: float = 1.0):
            super().__init__()
            save_config(self, locals())

    tiny = Tiny(8, scale=2.5)
    assert (tiny.width, tiny.scale) == (8, 2.5)
    model = ConvAE(latent_dim=4, depth=2, width=2, image_size=16, bottleneck="conv", output="tanh")
    assert {name: getattr(model, name) for name in model._config} == model._config
    baseline = BaselineAE(latent_dim=4, image_size=8, pool=2, hidden=6)
    assert (baseline.pool, baseline.hidden, baseline.latent_dim) == (2, 6, 4)


def test_a_config_written_by_earlier_versions_still_builds_the_same_model():
    """Checkpoints store config as a plain dict: those written before save_config (hand-copied dicts) load."""
    old = {"name": "ConvAE", "latent_dim": 8, "depth": 2, "width": 4, "activation": "relu", "batch_norm": True,
           "dropout": 0.1, "pooling": "max", "upsample": "nearest", "bottleneck": "dense", "output": "sigmoid",
           "image_size": 16}
    assert build_model(old).config == old
    old = {"name": "BaselineAE", "latent_dim": 8, "image_size": 8, "hidden": 16, "activation": "tanh",
           "output": "tanh", "pool": 2, "max_parameters": 50_000_000}
    assert build_model(old).config == old and isinstance(build_model(old).config, dict)


# ------------------------------------------------------------------------------------------------ evaluation mode
@pytest.mark.parametrize("training", [True, False])
def test_evaluation_mode_restores_the_mode_even_after_an_error(training):
    model = ConvAE(latent_dim=4, depth=2, width=2, image_size=16, dropout=0.5).train(training)
    with evaluation_mode(model) as m:
        assert m is model and not model.training and not any(sub.training for sub in model.modules())
    assert model.training == training and all(sub.training == training for sub in model.modules())
    with pytest.raises(RuntimeError, match="boom"):
        with evaluation_mode(model):
            raise RuntimeError("boom")
    assert model.training == training


# ------------------------------------------------------------------------------------------------ seconds_per_step
class _SlowFirstCalls(nn.Module):
    """A tiny trainable model whose first ``slow`` forward passes sleep ``pause`` seconds (a first-run effect)."""

    def __init__(self, slow: int, pause: float, every: float = 0.0):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(1))
        self.calls, self.slow, self.pause, self.every = 0, slow, pause, every

    def forward(self, x):
        self.calls += 1
        time.sleep((self.pause if self.calls <= self.slow else 0.0) + self.every)
        return x * self.scale


def test_seconds_per_step_leaves_out_the_warm_up():
    batch = torch.rand(2, 3, 4, 4)
    # the first step sleeps 0.3 s: timed without warm-up it is the median of one step, after one warm-up it is gone
    assert seconds_per_step(_SlowFirstCalls(slow=1, pause=0.3), batch, warmup=0, repeats=1) >= 0.3
    assert seconds_per_step(_SlowFirstCalls(slow=1, pause=0.3), batch, warmup=1, repeats=3) < 0.15
    # the median ignores one slow step among three
    assert seconds_per_step(_SlowFirstCalls(slow=1, pause=0.3), batch, warmup=0, repeats=3) < 0.15


def test_seconds_per_step_measures_every_step_and_keeps_the_model():
    batch = torch.rand(2, 3, 4, 4)
    assert seconds_per_step(_SlowFirstCalls(slow=0, pause=0.0, every=0.05), batch, warmup=1, repeats=3) >= 0.05
    model = ConvAE(latent_dim=4, depth=1, width=2, image_size=8)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    seconds = seconds_per_step(model, torch.rand(4, 3, 8, 8), warmup=1, repeats=2)
    assert 0 < seconds < 5
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items()), "the model's weights changed"


def test_seconds_per_step_refuses_bad_arguments():
    model = ConvAE(latent_dim=4, depth=1, width=2, image_size=8)
    with pytest.raises(ValueError, match="repeats=0"):
        seconds_per_step(model, torch.rand(2, 3, 8, 8), repeats=0)
    with pytest.raises(ValueError, match="warmup=-1"):
        seconds_per_step(model, torch.rand(2, 3, 8, 8), warmup=-1)
    with pytest.raises(ValueError, match=r"\(3, 8, 8\)"):
        seconds_per_step(model, torch.rand(3, 8, 8))
