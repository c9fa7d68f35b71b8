"""Exercise checks: each notebook exercise is followed by a cell that calls one of these on your answer.

A check prints a line starting with "PASSED" when your answer is right, and otherwise raises CheckFailed with
a hint about what is wrong. The checks build their own small inputs, so they work whatever the rest of the
notebook did, and they compare against a trusted implementation (scikit-image, torch) where one exists.
"""

import copy
import math

import numpy as np
import torch
from skimage.metrics import peak_signal_noise_ratio
from torch import nn


class CheckFailed(AssertionError):
    """Your answer is not right yet; the message says what the check saw and gives a hint."""


def _passed(message):
    print(f"PASSED: {message}")


def _require(condition, message):
    if not condition:
        raise CheckFailed(message)


def _call(fn, *args, what):
    """Call the student's function, turning the stub's NotImplementedError into a clear CheckFailed."""
    try:
        return fn(*args)
    except NotImplementedError:
        raise CheckFailed(f"{what} is not written yet: replace `raise NotImplementedError()` with your code.") \
            from None


# ------------------------------------------------------------------------------------------------------ 01 explore
def check_psnr(psnr):
    """psnr(a, b) -> float for uint8 images (H, W, 3), checked against scikit-image."""
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    darker = np.clip(a.astype(int) - 10, 0, 255).astype(np.uint8)
    noisy = np.clip(a + rng.normal(0, 20, a.shape), 0, 255).astype(np.uint8)
    for b, name in ((darker, "an image 10 levels darker"), (noisy, "a noisy copy")):
        got = _call(psnr, a, b, what="psnr")
        want = peak_signal_noise_ratio(a, b, data_range=255)
        _require(isinstance(got, (float, np.floating)),
                 f"psnr should return a float, got {type(got).__name__}")
        _require(abs(got - want) < 1e-6,
                 f"psnr against {name}: got {got:.4f} dB, scikit-image says {want:.4f} dB. Hints: convert to float "
                 f"before subtracting (uint8 arithmetic wraps around: 5 - 10 = 251), average the squared error over "
                 f"all pixels and channels, and use the peak value 255.")
    _passed(f"your psnr matches scikit-image (e.g. {want:.2f} dB on a noisy copy)")


# --------------------------------------------------------------------------------------------------- 02 preprocess
def check_normalization(normalize, denormalize):
    """normalize(x, mean, std) and denormalize(x, mean, std) for x (N, 3, H, W), mean and std of length 3."""
    # width 3: a mean of shape (3,) broadcasts over the width without an error, so the hint below is shown
    x = torch.rand(2, 3, 4, 3, generator=torch.Generator().manual_seed(0))
    mean, std = torch.tensor([0.4, 0.5, 0.6]), torch.tensor([0.2, 0.25, 0.3])
    y = _call(normalize, x, mean, std, what="normalize")
    want = (x - mean.view(1, 3, 1, 1)) / std.view(1, 3, 1, 1)
    _require(isinstance(y, torch.Tensor) and y.shape == x.shape,
             f"normalize should return a tensor shaped like its input {tuple(x.shape)}")
    _require(torch.allclose(y, want, atol=1e-6),
             "normalize: each channel c should become (x[:, c] - mean[c]) / std[c]. Hint: reshape mean and std to "
             "(1, 3, 1, 1) so they broadcast over the batch and the pixels, not over the width.")
    back = _call(denormalize, y, mean, std, what="denormalize")
    _require(torch.allclose(back, x, atol=1e-6),
             "denormalize(normalize(x)) should give x back: multiply by std, then add mean.")
    sym = _call(normalize, x, torch.full((3,), 0.5), torch.full((3,), 0.5), what="normalize")
    _require(sym.min() >= -1 and sym.max() <= 1, "with mean = std = 0.5, [0, 1] should map into [-1, 1]")
    _passed("normalize and denormalize are exact inverses, per channel")


def check_channel_stats(channel_stats):
    """channel_stats(images uint8 (N, H, W, 3)) -> (mean, std): per-channel, in [0, 1] units, arrays of 3."""
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (3, 8, 8, 3), dtype=np.uint8)
    images[..., 0] //= 2  # make the channels differ
    got = _call(channel_stats, images, what="channel_stats")
    _require(isinstance(got, tuple) and len(got) == 2, "channel_stats should return a pair (mean, std)")
    mean, std = (np.asarray(v, dtype=float) for v in got)
    as_float = images.reshape(-1, 3) / 255.0
    _require(mean.shape == (3,) and std.shape == (3,), f"expected 3 means and 3 stds, got {mean.shape}, {std.shape}")
    _require(np.allclose(mean, as_float.mean(0), atol=1e-6),
             "mean: one value per channel, over all images and pixels, in [0, 1] units (divide by 255)")
    _require(np.allclose(std, as_float.std(0), atol=1e-6),
             "std: one value per channel over all images and pixels, population std (ddof=0), in [0, 1] units")
    _passed("per-channel mean and std over the whole split")


# ----------------------------------------------------------------------------------------------------- 03 baseline
def check_autoencoder(model_class):
    """model_class(image_size, latent_dim): an nn.Module with encode, decode and forward."""
    torch.manual_seed(0)
    model = _call(model_class, 16, 10, what="the autoencoder's __init__")
    _require(isinstance(model, nn.Module), "the autoencoder should subclass nn.Module (and call super().__init__())")
    _require(sum(p.numel() for p in model.parameters()) > 0, "the autoencoder has no parameters: add nn.Linear layers")
    x = torch.rand(4, 3, 16, 16)
    with torch.no_grad():
        _check_autoencoder_outputs(model, x)
    _passed(f"the autoencoder maps (4, 3, 16, 16) to a latent of 10 values and back, "
            f"{sum(p.numel() for p in model.parameters()):,} parameters")


def _check_autoencoder_outputs(model, x):
    z = _call(model.encode, x, what="encode")
    _require(tuple(z.shape) == (4, 10), f"encode should give (N, latent_dim) = (4, 10), got {tuple(z.shape)}. "
                                         f"Hint: flatten (N, 3, S, S) to (N, 3*S*S) first.")
    y = _call(model.decode, z, what="decode")
    _require(tuple(y.shape) == (4, 3, 16, 16), f"decode should give (N, 3, S, S) = (4, 3, 16, 16), got "
                                               f"{tuple(y.shape)}. Hint: reshape with .view(-1, 3, S, S).")
    _require(float(y.min()) >= 0 and float(y.max()) <= 1, "the output should lie in [0, 1]: end with a sigmoid")
    _require(torch.allclose(model(x), y), "forward(x) should be decode(encode(x))")


def check_train_one_epoch(train_one_epoch):
    """train_one_epoch(model, loader, optimizer, scheduler=None) -> the epoch's mean loss over its examples (float),
    checked step for step against helpers.train.train_one_epoch, the loop that helpers.train.fit runs."""
    from .train import train_one_epoch as kit_train_one_epoch

    torch.manual_seed(0)
    basis, weights = torch.rand(4, 3 * 8 * 8), torch.rand(30, 4)
    data = (weights @ basis / 4).view(30, 3, 8, 8)  # 30 images mixed from 4 patterns: learnable in a few steps
    # batches of 8, 8, 8 and 6: the mean over the examples differs from the mean of the four batch losses
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(data, data), batch_size=8, shuffle=False)
    model = nn.Sequential(nn.Flatten(), nn.Linear(192, 16), nn.ReLU(), nn.Linear(16, 192), nn.Sigmoid(),
                          nn.Unflatten(1, (3, 8, 8)))
    fresh = copy.deepcopy(model)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    before = [p.detach().clone() for p in model.parameters()]
    losses = [_call(train_one_epoch, model, loader, optimizer, what="train_one_epoch") for _ in range(5)]
    _require(all(isinstance(v, (float, np.floating)) and math.isfinite(v) for v in losses),
             f"train_one_epoch should return the epoch's mean loss as a float, got {losses[0]!r}. "
             f"Hint: use loss.item() to turn a tensor into a number.")
    _require(any(not torch.equal(b, p) for b, p in zip(before, model.parameters())),
             "the weights did not change: call loss.backward() and optimizer.step()")
    _require(losses[-1] < losses[0] * 0.9,
             f"the loss should fall over 5 epochs, got {[round(v, 4) for v in losses]}. Hints: "
             f"optimizer.zero_grad() before each backward pass; compare the output with the target.")
    # one epoch of SGD with a per-step schedule from the same weights, yours against the kit's: exact, so that a
    # missing zero_grad or scheduler step, a sum of the batch losses or the last batch's loss cannot pass
    yours, kits = fresh, copy.deepcopy(fresh)
    runs = []
    for net in (yours, kits):
        opt = torch.optim.SGD(net.parameters(), lr=0.5)
        runs.append((opt, torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.5, total_steps=len(loader))))
    got = _call(train_one_epoch, yours, loader, *runs[0], what="train_one_epoch")
    want = kit_train_one_epoch(kits, loader, *runs[1])
    _require(runs[0][1].last_epoch == runs[1][1].last_epoch,
             f"the scheduler was stepped {runs[0][1].last_epoch} times in an epoch of {len(loader)} batches: when a "
             f"scheduler is given, call scheduler.step() once after each optimizer.step()")
    _require(all(torch.allclose(p, r, atol=1e-5) for p, r in zip(yours.parameters(), kits.parameters())),
             "after one epoch the weights differ from those of the usual steps on each batch (zero_grad, forward, "
             "MSE loss against the target, backward, step). Hint: call optimizer.zero_grad() before each backward "
             "pass, or the gradients of earlier batches add up.")
    batch_mean = float(np.mean([8, 8, 8, 6]))  # for the hint only
    _require(isinstance(got, (float, np.floating)) and abs(got - want) <= 1e-5 * want,
             f"the returned loss {got!r} is not the epoch's mean loss over its examples ({want:.5f}). Weight each "
             f"batch's loss by its size (the last batch here holds 6 images, the others 8; mean batch size "
             f"{batch_mean:g}): add loss.item() * len(targets) and divide by the number of examples.")
    _passed(f"your loop takes the same steps as helpers.train.train_one_epoch; the loss falls from {losses[0]:.4f} "
            f"to {losses[-1]:.4f} in 5 epochs")


# --------------------------------------------------------------------------------------------------- 04 conv model
def check_upsample_block(upsample_block):
    """upsample_block(c_in, c_out) -> nn.Module doubling H and W: upsample, 3x3 conv, ReLU."""
    block = _call(upsample_block, 8, 4, what="upsample_block")
    _require(isinstance(block, nn.Module), "upsample_block should return an nn.Module (e.g. nn.Sequential)")
    with torch.no_grad():
        y = block(torch.randn(2, 8, 5, 7))
    _require(tuple(y.shape) == (2, 4, 10, 14), f"(2, 8, 5, 7) should become (2, 4, 10, 14), got {tuple(y.shape)}. "
                                               f"Hints: nn.Upsample(scale_factor=2), then nn.Conv2d(c_in, c_out, 3, "
                                               f"padding=1) keeps the size.")
    _require(float(y.min()) >= 0, "the block should end with a ReLU (no negative outputs)")
    _require(not any(isinstance(m, nn.ConvTranspose2d) for m in block.modules()),
             "use upsampling then convolution, not ConvTranspose2d (which can leave checkerboard artifacts)")
    _passed("the block doubles the size with upsampling + 3x3 convolution + ReLU")


def _same_layers(mine, reference, what, hint):
    """Raise CheckFailed unless `mine` has the parameters and buffers of `reference`, in the same order and shapes
    (then `reference`'s weights load into it, and the two compute the same function)."""
    got = [(k, tuple(v.shape)) for k, v in mine.state_dict().items()]
    want = [(k, tuple(v.shape)) for k, v in reference.state_dict().items()]
    if got != want:
        n_got = sum(p.numel() for p in mine.parameters())
        n_want = sum(p.numel() for p in reference.parameters())
        raise CheckFailed(f"{what}: {n_got:,} parameters, the course's layout has {n_want:,}; its layers (name, shape) "
                          f"are {want[:8]}{' ...' if len(want) > 8 else ''}, yours {got[:8]}"
                          f"{' ...' if len(got) > 8 else ''}. Hint: {hint}")
    mine.load_state_dict(reference.state_dict())


def _forward(module, x, what, hint):
    """``module(x)`` without gradients; a layer that cannot take the input becomes a CheckFailed with a hint."""
    try:
        with torch.no_grad():
            return module(x)
    except RuntimeError as error:
        raise CheckFailed(f"{what} fails on an input of shape {tuple(x.shape)}: {error}. Hint: {hint}") from None


def _conv_reference(depth, width, batch_norm):
    """The trusted layout: helpers.models.ConvAE's own encoder and decoder (16x16 images, a small latent)."""
    from .models import ConvAE  # here, not at the top: checks stays importable without building models
    torch.manual_seed(0)
    return ConvAE(latent_dim=8, depth=depth, width=width, batch_norm=batch_norm, image_size=16)


def check_conv_encoder(conv_encoder):
    """conv_encoder(depth, width, batch_norm) -> nn.Sequential of `depth` blocks Conv3x3 (padding 1; no bias before
    BatchNorm) -> [BatchNorm2d] -> ReLU -> MaxPool2d(2), block i with width * 2**i channels: (N, 3, S, S) ->
    (N, width * 2**(depth - 1), S / 2**depth, S / 2**depth). Checked against helpers.models.ConvAE.features."""
    for depth, width, batch_norm in ((2, 4, False), (3, 2, True)):
        encoder = _call(conv_encoder, depth, width, batch_norm, what="conv_encoder")
        _require(isinstance(encoder, nn.Module), "conv_encoder should return an nn.Module (e.g. nn.Sequential)")
        side, c_top = 16 // 2**depth, width * 2 ** (depth - 1)
        y = _forward(encoder, torch.rand(2, 3, 16, 16), f"conv_encoder({depth}, {width}, {batch_norm})",
                     "the first convolution takes 3 channels; each layer takes the channels the one before gives.")
        _require(tuple(y.shape) == (2, c_top, side, side),
                 f"conv_encoder({depth}, {width}, {batch_norm}) should map (2, 3, 16, 16) to (2, {c_top}, {side}, "
                 f"{side}), got {tuple(y.shape)}. Hints: each block halves the side with nn.MaxPool2d(2); block i has "
                 f"width * 2**i channels; nn.Conv2d(c_in, c_out, 3, padding=1) keeps the size.")
        reference = _conv_reference(depth, width, batch_norm).features
        _same_layers(encoder, reference, f"conv_encoder({depth}, {width}, {batch_norm})",
                     "Conv2d(c_in, c_out, 3, padding=1, bias=not batch_norm), then BatchNorm2d(c_out) only when "
                     "batch_norm is True, then ReLU, then MaxPool2d(2), in that order (a bias right before batch "
                     "norm is redundant: batch norm subtracts the mean).")
        _same_function(encoder, reference, torch.rand(2, 3, 16, 16),
                       "with the course's weights loaded, your encoder computes something else: check the order "
                       "conv -> [batch norm] -> ReLU -> max-pool, and use ReLU (not another activation)")
    _passed("your encoder has exactly the layers of helpers.models.ConvAE's encoder and computes the same function")


def _same_function(student, reference, x, hint):
    """Both modules in eval mode give the same output on `x` (the student's already carries the course's weights)."""
    student.eval(), reference.eval()
    with torch.no_grad():
        _require(torch.allclose(student(x), reference(x), atol=1e-6), hint)


def check_conv_decoder(conv_decoder):
    """conv_decoder(depth, width, batch_norm) -> nn.Sequential of `depth` blocks Upsample(x2, nearest) -> Conv3x3
    (padding 1; no bias before BatchNorm) -> [BatchNorm2d] -> ReLU going from width * 2**i to width * 2**(i - 1)
    channels (width for the last block), then Conv3x3 to 3 channels and a sigmoid: (N, width * 2**(depth - 1),
    s, s) -> (N, 3, s * 2**depth, s * 2**depth) in [0, 1]. Checked against helpers.models.ConvAE.reconstruct."""
    for depth, width, batch_norm in ((2, 4, False), (3, 2, True)):
        decoder = _call(conv_decoder, depth, width, batch_norm, what="conv_decoder")
        _require(isinstance(decoder, nn.Module), "conv_decoder should return an nn.Module (e.g. nn.Sequential)")
        side, c_top = 16 // 2**depth, width * 2 ** (depth - 1)
        z = torch.randn(2, c_top, side, side)
        y = _forward(decoder, z, f"conv_decoder({depth}, {width}, {batch_norm})",
                     "the first convolution takes width * 2**(depth - 1) channels, the encoder's last.")
        _require(tuple(y.shape) == (2, 3, 16, 16),
                 f"conv_decoder({depth}, {width}, {batch_norm}) should map (2, {c_top}, {side}, {side}) to "
                 f"(2, 3, 16, 16), got {tuple(y.shape)}. Hints: each block doubles the side (your upsample_block); "
                 f"block channels go from width * 2**i down to width * 2**(i - 1), the last block to width; a final "
                 f"nn.Conv2d(width, 3, 3, padding=1) gives the 3 colour channels.")
        _require(float(y.min()) >= 0 and float(y.max()) <= 1,
                 "the decoder's output should be pixels in [0, 1]: end with nn.Sigmoid()")
        reference = _conv_reference(depth, width, batch_norm).reconstruct
        _same_layers(decoder, reference, f"conv_decoder({depth}, {width}, {batch_norm})",
                     "per block Upsample(scale_factor=2), Conv2d(c_in, c_out, 3, padding=1, bias=not batch_norm), "
                     "BatchNorm2d(c_out) only when batch_norm is True, ReLU; then Conv2d(width, 3, 3, padding=1) "
                     "(with its bias) and Sigmoid.")
        _same_function(decoder, reference, z,
                       "with the course's weights loaded, your decoder computes something else: check the order "
                       "upsample -> conv -> [batch norm] -> ReLU, nearest-neighbour upsampling, and the final sigmoid")
    _passed("your decoder has exactly the layers of helpers.models.ConvAE's decoder and computes the same function")


# ---------------------------------------------------------------------------------------------- 05 regularization
def check_should_stop(should_stop):
    """should_stop(val_losses, patience) -> True when at least `patience` epochs came after the best (first lowest)
    loss, i.e. the last `patience` epochs brought no new best."""
    cases = [([1.0, 0.9, 0.8], 2, False), ([1.0, 0.9, 0.95, 0.97], 2, True), ([1.0, 0.9, 0.95], 2, False),
             ([1.0, 0.9, 0.95, 0.85], 2, False), ([0.5], 1, False), ([0.5, 0.5, 0.5], 2, True),
             ([1.0, 0.8, 0.9, 0.9, 0.9], 3, True), ([0.5, 1.0, 0.9, 0.8], 2, True)]
    for losses, patience, want in cases:
        got = _call(should_stop, losses, patience, what="should_stop")
        _require(bool(got) == want,
                 f"should_stop({losses}, patience={patience}) should be {want}, got {got}. Hint: find the epoch of "
                 f"the best (lowest) loss; stop when at least `patience` epochs came after it without beating it.")
    _passed(f"your early-stopping rule agrees on {len(cases)} cases")


def check_one_cycle_lr(one_cycle_lr):
    """one_cycle_lr(step, total_steps, peak_lr) -> the learning rate of torch's OneCycleLR (its defaults: 30 % warm-up,
    cosine both ways, from peak_lr / 25 up to peak_lr and down to peak_lr / 25 / 1e4) at 0-based ``step``."""
    for total, peak in ((100, 0.003), (37, 0.1), (11, 1.0)):
        optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=peak)
        schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=peak, total_steps=total)
        for step in range(total):
            want = optimizer.param_groups[0]["lr"]
            got = _call(one_cycle_lr, step, total, peak, what="one_cycle_lr")
            _require(isinstance(got, (int, float)) and not isinstance(got, bool),
                     f"one_cycle_lr({step}, {total}, {peak}) should return a number, got {type(got).__name__}")
            _require(math.isclose(got, want, rel_tol=1e-6, abs_tol=1e-12),
                     f"one_cycle_lr(step={step}, total_steps={total}, peak_lr={peak}) should be {want:.6g}, got "
                     f"{got:.6g}. Hint: the warm-up ends at step 0.3 * total_steps - 1 (a float), the decay at "
                     f"total_steps - 1; each phase moves between its two rates along half a cosine.")
            optimizer.step()
            schedule.step()
    _passed("your one-cycle schedule gives torch's OneCycleLR rate at every step of three runs")


# ----------------------------------------------------------------------------------------------- 06 bottleneck
def check_latent_bpp(latent_bpp):
    """latent_bpp(latent_numel, height, width, bits_per_value) -> bits per pixel of a stored latent."""
    cases = [((128, 64, 64, 8), 0.25), ((256, 224, 224, 8), 256 * 8 / 224**2), ((1000, 100, 50, 4), 0.8)]
    for args, want in cases:
        got = _call(latent_bpp, *args, what="latent_bpp")
        _require(abs(got - want) < 1e-9, f"latent_bpp{args} should be {want:.4f}, got {got}. Hint: total bits of "
                                         f"the latent divided by the number of pixels (height * width, not * 3).")
    _passed("bits per pixel of a latent: bits stored / pixels")


# ------------------------------------------------------------------------------------------------- 07 analysis
def check_pareto_front(pareto_front):
    """pareto_front(costs, qualities) -> sorted indices of points no other point beats on both (lower cost,
    higher quality)."""
    costs = [1, 2, 3, 4, 2.5, 5]
    quality = [20, 25, 24, 30, 26, 30]
    want = [0, 1, 4, 3]
    got = _call(pareto_front, costs, quality, what="pareto_front")
    _require(sorted(got) == sorted(want),
             f"pareto_front({costs}, {quality}) should be {sorted(want)} (in any order), got {got}. A point is on the "
             f"front when no other point has lower-or-equal cost and higher-or-equal quality, better on one.")
    _passed("the Pareto front keeps exactly the points nothing else beats on both cost and quality")


# --- notebook 08
def check_empirical_entropy(empirical_entropy):
    """empirical_entropy(symbols) -> bits per symbol of an integer array: -sum p log2 p over its histogram."""
    rng = np.random.default_rng(0)
    cases = [(np.zeros(100, dtype=np.int64), 0.0, "one value only"),
             (np.array([0, 0, 1, 1]), 1.0, "two values, equally often"),
             (np.array([0, 0, 0, 1]), 0.8112781244591328, "two values, 3 to 1"),
             (np.arange(256).repeat(3), 8.0, "256 values, equally often"),
             (rng.integers(-5, 5, (4, 6, 6)), None, "a 3-D array of integers, some negative")]
    for symbols, want, what in cases:
        if want is None:
            _, counts = np.unique(symbols, return_counts=True)
            p = counts / counts.sum()
            want = float(-(p * np.log2(p)).sum())
        got = _call(empirical_entropy, symbols.copy(), what="empirical_entropy")
        _require(isinstance(got, (float, np.floating)) and abs(float(got) - want) < 1e-6,
                 f"empirical_entropy on {what} should be {want:.4f} bits per symbol, got {got!r}. Hint: count each "
                 f"distinct value (np.unique(..., return_counts=True)), p = count / total, then -sum(p * log2(p)).")
    _passed("the entropy of a histogram: the fewest bits per symbol any coder of independent symbols can reach")


def check_rate_distortion_loss(rate_distortion_loss):
    """rate_distortion_loss(x, x_hat, likelihoods, lmbda) -> {"loss", "bpp", "mse"} (torch scalars)."""
    torch.manual_seed(0)
    x = torch.rand(2, 3, 32, 48)
    x_hat = (x + 0.05 * torch.randn_like(x)).requires_grad_()
    likelihoods = torch.rand(2, 8, 2, 3).clamp_min(1e-3).requires_grad_()
    lmbda = 0.01
    got = _call(rate_distortion_loss, x, x_hat, likelihoods, lmbda, what="rate_distortion_loss")
    _require(isinstance(got, dict) and {"loss", "bpp", "mse"} <= set(got),
             f"rate_distortion_loss should return a dict with keys 'loss', 'bpp' and 'mse', got {got!r}")
    with torch.no_grad():
        bpp = float(-torch.log2(likelihoods).sum() / (2 * 32 * 48))
        mse = float(((x_hat - x) ** 2).mean())
    for key, want, hint in [("bpp", bpp, "bits = -log2(likelihoods) summed over every latent value; divide by the "
                                         "pixels of the batch (N * H * W of x, not of the latent, and not * 3)"),
                            ("mse", mse, "the mean of the squared error over every value of the batch"),
                            ("loss", lmbda * 255 ** 2 * mse + bpp, "loss = lmbda * 255**2 * mse + bpp")]:
        value = got[key]
        close = torch.is_tensor(value) and value.numel() == 1 and abs(float(value.detach()) - want) < 1e-4 * max(1, want)
        _require(close,
                 f"'{key}' should be {want:.5f}, got {value!r}. Hint: {hint}.")
    got["loss"].backward()
    _require(x_hat.grad is not None and likelihoods.grad is not None,
             "the loss must stay differentiable in x_hat and the likelihoods (use torch operations, no .item())")
    _passed("loss = lambda * 255^2 * MSE + bits per pixel, differentiable in both the image and the likelihoods")


# -------------------------------------------------------------------------------------------------- 09 hyperprior
def check_gaussian_likelihood(gaussian_likelihood):
    """gaussian_likelihood(y_hat, scales) -> P(k) = Phi((k + 1/2) / s) - Phi((k - 1/2) / s) per element (a tensor
    of the shape of ``y_hat``), differentiable in the scales."""
    from .hyperprior import _box_likelihood    # the trusted version (tested against float64 sums in its tests)

    torch.manual_seed(0)
    y_hat = torch.round(4 * torch.randn(2, 5, 3, 4))
    scales = (0.2 + 5 * torch.rand(2, 5, 3, 4)).requires_grad_()
    got = _call(gaussian_likelihood, y_hat, scales, what="gaussian_likelihood")
    _require(torch.is_tensor(got) and got.shape == y_hat.shape,
             f"gaussian_likelihood should return a tensor of the shape of y_hat {tuple(y_hat.shape)}, got "
             f"{tuple(got.shape) if torch.is_tensor(got) else got!r}")
    want = _box_likelihood(y_hat, scales.detach())
    # float32 cancellation (1 - 1 far out in the upper tail) is allowed: 1e-6 absolute, beside 0.1 % relative
    error = (got.detach() - want).abs()
    if bool((error > 1e-3 * want + 1e-6).any()):
        worst = float((error / want.clamp_min(1e-6)).max())
        centre = float(gaussian_likelihood(torch.zeros(1), torch.full((1,), 2.0)).detach()[0])
        hint = ("the density at k instead of the probability of the bin [k - 1/2, k + 1/2]: use the cumulative "
                "distribution Phi at both edges" if abs(centre - 0.1995) < 1e-3 else
                "the bin of width 1 around k: Phi((k + 1/2) / s) - Phi((k - 1/2) / s), with Phi the standard normal "
                "cumulative distribution (torch.special.ndtr), and s the standard deviation, not the variance")
        raise CheckFailed(f"gaussian_likelihood is off by up to {100 * worst:.1f} % (P(0) at scale 2 should be "
                          f"0.1974, got {centre:.4f}). Hint: {hint}.")
    k = torch.arange(-60, 61, dtype=torch.float32)
    for s in (0.3, 1.0, 7.5):
        total = float(gaussian_likelihood(k, torch.full_like(k, s)).detach().sum())
        _require(abs(total - 1) < 1e-4, f"the probabilities of all integers at scale {s} should sum to 1, got "
                                        f"{total:.5f}. Hint: each integer k owns the bin [k - 1/2, k + 1/2].")
    if got.requires_grad:
        got.sum().backward()
    _require(scales.grad is not None and bool(torch.isfinite(scales.grad).all()),
             "the likelihood must stay differentiable in the scales (torch operations only, no numpy or .item()): "
             "the hyper decoder learns through it")
    _passed("P(k | s) = Phi((k + 1/2) / s) - Phi((k - 1/2) / s): every element of y gets its own Gaussian")


# ----------------------------------------------------------------------------------------- 01 explore: SSIM by hand
def check_ssim(ssim):
    """ssim(a, b) -> float for two 2-D arrays of values 0..255, checked against scikit-image's SSIM with Wang et al.'s
    settings (Gaussian window of sigma 1.5, population statistics, data range 255)."""
    from skimage.metrics import structural_similarity

    rng = np.random.default_rng(1)
    a = rng.integers(0, 256, (40, 48)).astype(np.uint8)
    smooth = np.clip(np.cumsum(rng.normal(0, 6, (40, 48)), axis=1) + 128, 0, 255).astype(np.uint8)
    cases = {"a noisy copy": (a, np.clip(a + rng.normal(0, 25, a.shape), 0, 255).astype(np.uint8)),
             "a darker copy": (a, (a * 0.7).astype(np.uint8)),
             "a smooth image and its shifted copy": (smooth, np.roll(smooth, 2, axis=1)),
             "an image and itself": (smooth, smooth)}
    for name, (x, y) in cases.items():
        got = _call(ssim, x, y, what="ssim")
        want = structural_similarity(x, y, data_range=255, gaussian_weights=True, sigma=1.5,
                                     use_sample_covariance=False)
        _require(isinstance(got, (float, np.floating)) and np.ndim(got) == 0,
                 f"ssim should return one number (a float), got {type(got).__name__} "
                 f"{getattr(got, 'shape', '')}. Hint: the score is the mean of the SSIM map: float(ssim_map.mean()).")
        _require(abs(got - want) < 1e-6,
                 f"ssim on {name}: got {got:.5f}, scikit-image says {want:.5f}. Hints: convert to float before "
                 f"multiplying (uint8 products overflow); variance = blur(a * a) - mu_a ** 2 and covariance = "
                 f"blur(a * b) - mu_a * mu_b; C1 = (0.01 * 255) ** 2, C2 = (0.03 * 255) ** 2; leave out a border of "
                 f"5 pixels on each side before taking the mean (ssim_map[5:-5, 5:-5]).")
    _passed(f"your ssim matches scikit-image on {len(cases)} pairs of images (e.g. {want:.2f} for an image and itself)")
