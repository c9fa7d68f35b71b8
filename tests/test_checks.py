"""helpers.checks: every exercise check passes a right answer (printing "PASSED: ...") and fails wrong ones with
CheckFailed and a hint. The right answers here are written like the solutions; the wrong ones are the mistakes
students make."""

import math
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from helpers import checks
from helpers.checks import CheckFailed

torch.set_num_threads(1)  # tiny models: one thread is fastest, and steady on shared cores


def passes(check, *answers, capsys):
    check(*answers)
    out = capsys.readouterr().out
    assert out.startswith("PASSED: "), out
    return out


def fails(check, *answers, match):
    with pytest.raises(CheckFailed, match=match) as error:
        check(*answers)
    return str(error.value)


def stub(*args):
    raise NotImplementedError()


def test_check_failed_is_an_assertion_error():
    assert issubclass(CheckFailed, AssertionError)


# ------------------------------------------------------------------------------------------------------- check_psnr
def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / mse))


def test_check_psnr_passes_a_right_answer(capsys):
    assert "matches scikit-image" in passes(checks.check_psnr, psnr, capsys=capsys)


def test_check_psnr_passes_a_numpy_float(capsys):
    passes(checks.check_psnr, lambda a, b: np.float64(psnr(a, b)), capsys=capsys)


@pytest.mark.parametrize("wrong, match", [
    (lambda a, b: 10 * np.log10(255.0**2 / np.mean((a - b) ** 2)), "uint8 arithmetic wraps around"),  # uint8 wrap
    (lambda a, b: psnr(a, b) * 1.001, "scikit-image says"),
    (lambda a, b: float(10 * np.log10(1.0 / np.mean((a / 1.0 - b) ** 2))), "peak value 255"),  # peak 1, not 255
    (lambda a, b: torch.tensor(psnr(a, b)), "should return a float, got Tensor"),
    (lambda a, b: [psnr(a, b)], "should return a float"),
])
def test_check_psnr_fails_wrong_answers(wrong, match):
    fails(checks.check_psnr, wrong, match=match)


def test_checks_turn_the_stub_into_a_clear_failure():
    fails(checks.check_psnr, stub, match=r"psnr is not written yet: replace `raise NotImplementedError\(\)`")


# ---------------------------------------------------------------------------------------------- check_normalization
def normalize(x, mean, std):
    return (x - mean.view(1, 3, 1, 1)) / std.view(1, 3, 1, 1)


def denormalize(x, mean, std):
    return x * std.view(1, 3, 1, 1) + mean.view(1, 3, 1, 1)


def test_check_normalization_passes_a_right_answer(capsys):
    assert "exact inverses" in passes(checks.check_normalization, normalize, denormalize, capsys=capsys)


def test_check_normalization_fails_broadcasting_over_the_width():
    """The classic mistake: (x - mean) / std with mean of shape (3,) lines up with the last axis, not channels."""
    fails(checks.check_normalization, lambda x, m, s: (x - m) / s, denormalize, match="reshape mean and std")


def test_check_normalization_fails_a_wrong_inverse_or_order():
    fails(checks.check_normalization, normalize, lambda x, m, s: (x - m.view(1, 3, 1, 1)) * s.view(1, 3, 1, 1),
          match="multiply by std, then add mean")
    fails(checks.check_normalization, normalize, lambda x, m, s: (x + m.view(1, 3, 1, 1)) * s.view(1, 3, 1, 1),
          match="denormalize")
    fails(checks.check_normalization, lambda x, m, s: x / s.view(1, 3, 1, 1) - m.view(1, 3, 1, 1), denormalize,
          match=r"\(x\[:, c\] - mean\[c\]\) / std\[c\]")


def test_check_normalization_fails_a_wrong_shape_or_type():
    fails(checks.check_normalization, lambda x, m, s: normalize(x, m, s).numpy(), denormalize,
          match="should return a tensor shaped like its input")
    fails(checks.check_normalization, lambda x, m, s: normalize(x, m, s).mean(0), denormalize,
          match="shaped like its input")


def test_check_normalization_stub():
    fails(checks.check_normalization, normalize, stub, match="denormalize is not written yet")


# ---------------------------------------------------------------------------------------------- check_channel_stats
def channel_stats(images):
    values = images.reshape(-1, 3).astype(np.float64) / 255.0
    return values.mean(axis=0), values.std(axis=0)


def test_check_channel_stats_passes_a_right_answer(capsys):
    passes(checks.check_channel_stats, channel_stats, capsys=capsys)
    passes(checks.check_channel_stats, lambda im: tuple(torch.tensor(v) for v in channel_stats(im)), capsys=capsys)


@pytest.mark.parametrize("wrong, match", [
    (lambda im: (im.reshape(-1, 3).mean(0), im.reshape(-1, 3).std(0)), "divide by 255"),
    (lambda im: (channel_stats(im)[0], (im.reshape(-1, 3) / 255).std(0, ddof=1)), r"population std \(ddof=0\)"),
    (lambda im: (np.full(3, (im / 255).mean()), channel_stats(im)[1]), "one value per channel"),
    (lambda im: list(channel_stats(im)), "should return a pair"),
    (lambda im: ((im / 255).mean((1, 2)), (im / 255).std((1, 2))), "expected 3 means and 3 stds"),
])
def test_check_channel_stats_fails_wrong_answers(wrong, match):
    fails(checks.check_channel_stats, wrong, match=match)


# ------------------------------------------------------------------------------------------------ check_autoencoder
class TinyAutoencoder(nn.Module):
    def __init__(self, image_size, latent_dim, hidden=32, output=nn.Sigmoid, flatten=True):
        super().__init__()
        self.image_size, self.flatten = image_size, flatten
        n = 3 * image_size * image_size
        self.encoder = nn.Sequential(nn.Linear(n, hidden), nn.ReLU(), nn.Linear(hidden, latent_dim))
        self.decoder = nn.Sequential(nn.Linear(latent_dim, hidden), nn.ReLU(), nn.Linear(hidden, n), output())

    def encode(self, x):
        return self.encoder(x.flatten(1) if self.flatten else x)

    def decode(self, z):
        return self.decoder(z).view(-1, 3, self.image_size, self.image_size)

    def forward(self, x):
        return self.decode(self.encode(x))


def test_check_autoencoder_passes_a_right_answer(capsys):
    out = passes(checks.check_autoencoder, TinyAutoencoder, capsys=capsys)
    n_params = sum(p.numel() for p in TinyAutoencoder(16, 10).parameters())
    assert f"{n_params:,} parameters" in out


def test_check_autoencoder_fails_without_a_sigmoid():
    fails(checks.check_autoencoder, lambda s, k: TinyAutoencoder(s, k, output=nn.Identity), match="end with a sigmoid")


def test_check_autoencoder_fails_a_wrong_latent_shape():
    fails(checks.check_autoencoder, lambda s, k: TinyAutoencoder(s, k + 1), match=r"\(4, 10\), got \(4, 11\)")


def test_check_autoencoder_fails_a_decoder_that_does_not_reshape():
    class Flat(TinyAutoencoder):
        def decode(self, z):
            return self.decoder(z)

    fails(checks.check_autoencoder, Flat, match=r"decode should give \(N, 3, S, S\).*got \(4, 768\)")


def test_check_autoencoder_fails_a_forward_that_is_not_decode_of_encode():
    class Skip(TinyAutoencoder):
        def forward(self, x):
            return torch.sigmoid(x)

    fails(checks.check_autoencoder, Skip, match=r"forward\(x\) should be decode\(encode\(x\)\)")


def test_check_autoencoder_fails_a_plain_object_or_no_parameters():
    class NotAModule:
        def __init__(self, image_size, latent_dim):
            pass

    fails(checks.check_autoencoder, NotAModule, match="subclass nn.Module")
    fails(checks.check_autoencoder, lambda s, k: nn.Module(), match="no parameters")


def test_check_autoencoder_stub():
    fails(checks.check_autoencoder, stub, match="the autoencoder's __init__ is not written yet")


# ------------------------------------------------------------------------------------------- check_train_one_epoch
def trainer(mistake=None):
    def train_one_epoch(model, loader, optimizer, scheduler=None):
        model.train()
        total, seen, losses = 0.0, 0, []
        for inputs, targets in loader:
            if mistake != "no zero_grad":
                optimizer.zero_grad()
            loss = nn.functional.mse_loss(model(inputs), targets)
            if mistake != "no step":
                loss.backward()
                optimizer.step()
            if scheduler is not None and mistake != "no scheduler step":
                scheduler.step()
            losses.append(loss.item())
            total, seen = total + loss.item() * len(targets), seen + len(targets)
        if mistake == "sum":
            return sum(losses)
        if mistake == "last":
            return losses[-1]
        if mistake == "tensor":
            return loss
        if mistake == "mean of batch means":
            return sum(losses) / len(losses)
        return total / seen

    return train_one_epoch


def test_check_train_one_epoch_passes_a_right_answer(capsys):
    out = passes(checks.check_train_one_epoch, trainer(), capsys=capsys)
    assert "same steps as helpers.train.train_one_epoch" in out and "in 5 epochs" in out


def test_the_kits_own_train_one_epoch_passes_the_check(capsys):
    from helpers.train import train_one_epoch

    passes(checks.check_train_one_epoch, train_one_epoch, capsys=capsys)


@pytest.mark.parametrize("mistake, match", [
    ("no step", "weights did not change"),
    ("tensor", r"as a float.*loss.item\(\)"),
    ("sum", "not the epoch's mean loss over its examples"),
    ("last", "not the epoch's mean loss over its examples"),
    ("mean of batch means", r"Weight each batch's loss by its size"),
    ("no zero_grad", r"optimizer.zero_grad\(\)"),
    ("no scheduler step", r"the scheduler was stepped 0 times in an epoch of 4 batches"),
])
def test_check_train_one_epoch_fails_wrong_answers(mistake, match):
    fails(checks.check_train_one_epoch, trainer(mistake), match=match)


def test_check_train_one_epoch_stub():
    fails(checks.check_train_one_epoch, stub, match="train_one_epoch is not written yet")


# ----------------------------------------------------------------------------------------------- check_upsample_block
def upsample_block(c_in, c_out):
    return nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU())


def test_check_upsample_block_passes_a_right_answer(capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing but the PASSED line in the student's notebook
        passes(checks.check_upsample_block, upsample_block, capsys=capsys)
    passes(checks.check_upsample_block, lambda i, o: nn.Sequential(nn.Upsample(scale_factor=2, mode="bilinear"),
                                                                   nn.Conv2d(i, o, 3, padding=1), nn.ReLU()),
           capsys=capsys)


@pytest.mark.parametrize("wrong, match", [
    (lambda i, o: nn.Sequential(nn.Upsample(scale_factor=2), nn.Conv2d(i, o, 3), nn.ReLU()),
     r"got \(2, 4, 8, 12\).*padding=1"),
    (lambda i, o: nn.Sequential(nn.Conv2d(i, o, 3, padding=1), nn.ReLU()), r"got \(2, 4, 5, 7\)"),
    (lambda i, o: nn.Sequential(nn.Upsample(scale_factor=2), nn.Conv2d(i, o, 3, padding=1)), "end with a ReLU"),
    (lambda i, o: nn.Sequential(nn.ConvTranspose2d(i, o, 2, stride=2), nn.ReLU()), "not ConvTranspose2d"),
    (lambda i, o: [nn.Upsample(scale_factor=2), nn.Conv2d(i, o, 3, padding=1), nn.ReLU()], "return an nn.Module"),
])
def test_check_upsample_block_fails_wrong_answers(wrong, match):
    torch.manual_seed(0)
    fails(checks.check_upsample_block, wrong, match=match)


# ------------------------------------------------------------------------------------- check_conv_encoder / decoder
def conv_encoder(depth, width, batch_norm, act=nn.ReLU, pool=nn.MaxPool2d, bias=None, bn_first=False):
    """The solution's encoder; the keyword arguments make the mistakes students make."""
    layers, c_in = [], 3
    for i in range(depth):
        c = width * 2**i
        conv = nn.Conv2d(c_in, c, 3, padding=1, bias=(not batch_norm) if bias is None else bias)
        norm = [nn.BatchNorm2d(c)] if batch_norm else []
        layers += [*norm, conv] if bn_first and batch_norm else [conv, *norm]
        layers += [act(), pool(2)]
        c_in = c
    return nn.Sequential(*layers)


def conv_decoder(depth, width, batch_norm, mode="nearest", out=nn.Sigmoid, last=None):
    """The solution's decoder; the keyword arguments make the mistakes students make."""
    chans = [width * 2**i for i in range(depth)]
    outs = [width] + chans[:-1]
    layers = []
    for c, c_out in zip(reversed(chans), reversed(outs)):
        layers += [nn.Upsample(scale_factor=2, mode=mode), nn.Conv2d(c, c_out, 3, padding=1, bias=not batch_norm)]
        layers += [nn.BatchNorm2d(c_out)] if batch_norm else []
        layers.append(nn.ReLU())
    layers += [nn.Conv2d(width, 3, 3, padding=1) if last is None else last(width), out()]
    return nn.Sequential(*layers)


def test_check_conv_encoder_passes_the_solution(capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert "exactly the layers" in passes(checks.check_conv_encoder, conv_encoder, capsys=capsys)


@pytest.mark.parametrize("wrong, match", [
    (lambda d, w, bn: conv_encoder(d, w, bn, pool=nn.Identity), r"should map \(2, 3, 16, 16\) to \(2, 8, 4, 4\).*MaxPool2d"),
    (lambda d, w, bn: conv_encoder(d, w, False), r"parameters, the course's layout has.*BatchNorm2d"),  # ignores bn
    (lambda d, w, bn: conv_encoder(d, w, bn, bias=True), r"bias=not batch_norm"),  # bias before batch norm
    (lambda d, w, bn: conv_encoder(d, w, bn, pool=nn.AvgPool2d), "computes something else"),
    (lambda d, w, bn: conv_encoder(d, w, bn, act=nn.Tanh), "computes something else"),
    (lambda d, w, bn: conv_encoder(d, w, bn, bn_first=True), r"fails on an input of shape \(2, 3, 16, 16\)"),
    (lambda d, w, bn: [nn.Conv2d(3, w, 3, padding=1)], "return an nn.Module"),
    (stub, "conv_encoder is not written yet"),
])
def test_check_conv_encoder_fails_wrong_answers(wrong, match):
    fails(checks.check_conv_encoder, wrong, match=match)


def test_check_conv_decoder_passes_the_solution(capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert "exactly the layers" in passes(checks.check_conv_decoder, conv_decoder, capsys=capsys)


@pytest.mark.parametrize("wrong, match", [
    (lambda d, w, bn: conv_decoder(d, w, bn)[:-2], r"to \(2, 3, 16, 16\), got \(2, 4, 16, 16\)"),  # no output conv
    (lambda d, w, bn: conv_decoder(d, w, bn, out=nn.Identity), r"end with nn.Sigmoid"),
    (lambda d, w, bn: conv_decoder(d, w, False), r"parameters, the course's layout has"),  # ignores bn
    (lambda d, w, bn: conv_decoder(d, w, bn, mode="bilinear"), "computes something else"),
    (lambda d, w, bn: conv_decoder(d, w, bn, last=lambda c: nn.Conv2d(c, 3, 1)), "parameters, the course's layout"),
    (lambda d, w, bn: conv_decoder(d, w, bn)[2:], r"fails on an input of shape.*encoder's last"),  # skips a block
    (stub, "conv_decoder is not written yet"),
])
def test_check_conv_decoder_fails_wrong_answers(wrong, match):
    fails(checks.check_conv_decoder, wrong, match=match)


# -------------------------------------------------------------------------------------------------- check_should_stop
def should_stop(val_losses, patience):
    return len(val_losses) - 1 - int(np.argmin(val_losses)) >= patience


def test_check_should_stop_passes_a_right_answer(capsys):
    assert "agrees on 8 cases" in passes(checks.check_should_stop, should_stop, capsys=capsys)


@pytest.mark.parametrize("wrong", [
    lambda losses, p: len(losses) - 1 - int(np.argmin(losses)) > p,  # off by one
    lambda losses, p: len(losses) - 1 - (len(losses) - 1 - int(np.argmin(losses[::-1]))) >= p,  # a tie is no new best
    lambda losses, p: len(losses) > p and losses[-1] >= losses[-1 - p],  # compares with p epochs ago, not the best
    lambda losses, p: len(losses) > p and all(a <= b for a, b in zip(losses[-p - 1:], losses[-p:])),  # rises in a row
    lambda losses, p: False,
])
def test_check_should_stop_fails_wrong_answers(wrong):
    fails(checks.check_should_stop, wrong, match=r"should_stop\(\[.*\], patience=\d\) should be (True|False)")


# --------------------------------------------------------------------------------------------------- check_latent_bpp
def test_check_latent_bpp(capsys):
    passes(checks.check_latent_bpp, lambda n, h, w, b: n * b / (h * w), capsys=capsys)
    fails(checks.check_latent_bpp, lambda n, h, w, b: n * b / (h * w * 3), match=r"height \* width, not \* 3")
    fails(checks.check_latent_bpp, lambda n, h, w, b: n / (h * w), match="should be 0.2500")
    fails(checks.check_latent_bpp, stub, match="latent_bpp is not written yet")


# ------------------------------------------------------------------------------------------------ check_pareto_front
def pareto_front(costs, qualities):
    return [i for i, (c, q) in enumerate(zip(costs, qualities))
            if not any(cj <= c and qj >= q and (cj < c or qj > q) for cj, qj in zip(costs, qualities))]


def test_check_pareto_front_passes_in_any_order(capsys):
    passes(checks.check_pareto_front, pareto_front, capsys=capsys)
    passes(checks.check_pareto_front, lambda c, q: pareto_front(c, q)[::-1], capsys=capsys)


def test_check_pareto_front_fails_wrong_answers():
    # strict dominance on both axes keeps a point that only ties on quality at a higher cost
    strict = lambda c, q: [i for i in range(len(c)) if not any(c[j] < c[i] and q[j] > q[i] for j in range(len(c)))]
    fails(checks.check_pareto_front, strict, match=r"should be \[0, 1, 3, 4\].*got \[0, 1, 3, 4, 5\]")
    fails(checks.check_pareto_front, lambda c, q: list(range(len(c))), match="should be")
    fails(checks.check_pareto_front, stub, match="pareto_front is not written yet")


# ------------------------------------------------------------------------------------------ check_gaussian_likelihood
def gaussian_likelihood(y_hat, scales):
    return torch.special.ndtr((y_hat + 0.5) / scales) - torch.special.ndtr((y_hat - 0.5) / scales)


def test_check_gaussian_likelihood_passes_right_answers(capsys):
    passes(checks.check_gaussian_likelihood, gaussian_likelihood, capsys=capsys)
    # the lower-tail form of helpers.hyperprior, and the same with 0.5 * erfc
    lower_tail = lambda y, s: (torch.special.ndtr((0.5 - y.abs()) / s) - torch.special.ndtr((-0.5 - y.abs()) / s))
    passes(checks.check_gaussian_likelihood, lower_tail, capsys=capsys)
    erfc = lambda y, s: 0.5 * (torch.erfc(-(y + 0.5) / (s * 2 ** 0.5)) - torch.erfc(-(y - 0.5) / (s * 2 ** 0.5)))
    passes(checks.check_gaussian_likelihood, erfc, capsys=capsys)


def test_check_gaussian_likelihood_fails_wrong_answers():
    density = lambda y, s: torch.exp(-0.5 * (y / s) ** 2) / (s * (2 * torch.pi) ** 0.5)
    fails(checks.check_gaussian_likelihood, density, match="the density at k instead of the probability")
    variance = lambda y, s: gaussian_likelihood(y, s ** 2)
    fails(checks.check_gaussian_likelihood, variance, match="not the variance")
    shifted = lambda y, s: torch.special.ndtr((y + 1) / s) - torch.special.ndtr(y / s)
    fails(checks.check_gaussian_likelihood, shifted, match="should be 0.1974")
    detached = lambda y, s: torch.from_numpy(gaussian_likelihood(y, s).detach().numpy())
    fails(checks.check_gaussian_likelihood, detached, match="differentiable in the scales")
    fails(checks.check_gaussian_likelihood, lambda y, s: gaussian_likelihood(y, s).sum(), match="shape of y_hat")
    fails(checks.check_gaussian_likelihood, stub, match="gaussian_likelihood is not written yet")


# ------------------------------------------------------------------------------------------------------ check_ssim
def ssim_answer(mistake=None):
    from scipy.ndimage import gaussian_filter

    def ssim(a, b):
        def blur(x):
            return gaussian_filter(x, sigma=1.5, truncate=3.5)
        if mistake != "uint8":
            a, b = a.astype(np.float64), b.astype(np.float64)
        else:
            a, b = a.astype(np.uint16), b.astype(np.uint16)
        mu_a, mu_b = blur(a), blur(b)
        var_a = blur(a * a) - mu_a ** 2
        var_b = blur(b * b) - mu_b ** 2
        cov = blur(a * b) - mu_a * mu_b if mistake != "no covariance" else np.sqrt(np.abs(var_a * var_b))
        c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
        s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))
        if mistake == "map":
            return s
        return float(s.mean() if mistake == "no crop" else s[5:-5, 5:-5].mean())

    return ssim


def test_check_ssim_passes_a_right_answer(capsys):
    assert "matches scikit-image" in passes(checks.check_ssim, ssim_answer(), capsys=capsys)


@pytest.mark.parametrize("mistake, match", [
    ("no crop", "leave out a border of 5 pixels"),
    ("no covariance", "covariance = blur"),
    ("map", "should return one number"),
    ("uint8", "convert to float"),
])
def test_check_ssim_fails_wrong_answers(mistake, match):
    fails(checks.check_ssim, ssim_answer(mistake), match=match)


def test_check_ssim_stub():
    fails(checks.check_ssim, stub, match="ssim is not written yet")


# -- 05: the one-cycle schedule ---------------------------------------------------------------------------
def _one_cycle(step, total_steps, peak_lr, warmup=0.3, shape=lambda p: (1 + math.cos(math.pi * p)) / 2):
    start, end = peak_lr / 25, peak_lr / 25 / 1e4
    w = warmup * total_steps - 1
    a, b, p = (start, peak_lr, step / w) if step <= w else (peak_lr, end, (step - w) / (total_steps - 1 - w))
    return b + (a - b) * shape(p)


def test_check_one_cycle_lr_passes_the_formula_and_fails_near_misses(capsys):
    checks.check_one_cycle_lr(_one_cycle)
    assert "PASSED" in capsys.readouterr().out
    for wrong in (lambda s, t, p: _one_cycle(s, t, p, warmup=0.25),            # the warm-up ends too early
                  lambda s, t, p: _one_cycle(s, t, p, shape=lambda q: 1 - q),  # linear, not cosine
                  lambda s, t, p: str(_one_cycle(s, t, p))):                   # not a number
        with pytest.raises(checks.CheckFailed, match="one_cycle_lr"):
            checks.check_one_cycle_lr(wrong)
