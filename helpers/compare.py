"""The honest comparison: an autoencoder against JPEG (and WebP) at the same bits per pixel, on whole images.

An autoencoder only compresses once its latent is stored. Here the latent is stored the simplest way: each value
quantized uniformly to ``bits_per_value`` bits between the tile's own minimum and maximum (two float32 numbers
kept beside it). Its bit rate is therefore exact, with no entropy coding (notebook 08 adds that)::

    bpp = (latent values per tile * bits_per_value + 64) / (tile * tile)

Models trained on ``tile x tile`` patches compress a whole image by cutting it into tiles (the image is cropped to
a multiple of the tile), coding each tile, and putting the decoded tiles back together. JPEG then gets the same
cropped image at the highest quality whose bit rate is at most the autoencoder's (``helpers.metrics.codec_at_bpp``),
and both are measured on 8-bit pixels with the same PSNR and SSIM.
"""

import numpy as np
import torch

from helpers import metrics
from helpers.models import evaluation_mode

RANGE_BITS = 64  # the two float32 numbers (min, max) stored with each quantized tile


def quantize_uniform(z, bits_per_value=8):
    """Quantize each row of z (N, ...) uniformly to 2**bits levels between its own min and max; return the
    dequantized tensor (same shape). bits_per_value=None or 32 returns z unchanged (float32 storage)."""
    if bits_per_value is None or bits_per_value >= 32:
        return z
    levels = 2 ** int(bits_per_value) - 1
    flat = z.reshape(z.shape[0], -1)
    low, high = flat.min(dim=1, keepdim=True).values, flat.max(dim=1, keepdim=True).values
    scale = (high - low).clamp_min(1e-12) / levels
    codes = torch.round((flat - low) / scale)  # integers 0..levels: what would be stored
    return (codes * scale + low).reshape(z.shape)


def tile_bpp(model, tile, bits_per_value=8):
    """Bits per pixel of the stored latent of one tile x tile image (with its min/max when quantized).
    Works for any model with an encode method: the latent's size is read from encoding one blank tile."""
    device = next(model.parameters()).device
    with evaluation_mode(model), torch.no_grad():
        latent_values = model.encode(torch.zeros(1, 3, tile, tile, device=device)).numel()
    if bits_per_value is None or bits_per_value >= 32:
        return latent_values * 32 / tile**2
    return (latent_values * bits_per_value + RANGE_BITS) / tile**2


def crop_to_tiles(image, tile):
    """Crop an (H, W, 3) image to the largest multiple of `tile` on each side (top-left corner kept)."""
    h, w = (image.shape[0] // tile) * tile, (image.shape[1] // tile) * tile
    if h == 0 or w == 0:
        raise ValueError(f"image of {image.shape[0]}x{image.shape[1]} is smaller than one tile of {tile}x{tile}")
    return image[:h, :w]


def center_crop(image, size):
    """The central size x size square of an (H, W, 3) image; a side shorter than `size` sets the square's size."""
    size = min(size, image.shape[0], image.shape[1])
    top, left = (image.shape[0] - size) // 2, (image.shape[1] - size) // 2
    return image[top:top + size, left:left + size]


def detail(image):
    """How much fine detail an (H, W, 3) uint8 image holds: the mean squared difference between neighbouring
    pixels (horizontal and vertical, all channels, on 0-255 values). Flat areas score 0; texture and edges score
    high. Used to pick a detailed region to show reconstructions on."""
    a = np.asarray(image, dtype=np.float64)
    if a.ndim != 3 or a.shape[0] < 2 or a.shape[1] < 2:
        raise ValueError(f"detail needs an (H, W, 3) image of at least 2x2 pixels, got shape {a.shape}")
    return float((np.diff(a, axis=0) ** 2).mean() + (np.diff(a, axis=1) ** 2).mean())


def most_detailed_window(image, size, tile):
    """(top, left) of the size x size window of `image` (H, W, 3) with the most :func:`detail`, among windows
    whose corners lie on the tile grid (so the window holds whole tiles, as the autoencoder codes them).
    `size` must be a multiple of `tile` and fit in the image cropped to tiles."""
    if size < tile or size % tile:
        raise ValueError(f"size={size} must be a positive multiple of the tile ({tile})")
    image = crop_to_tiles(image, tile)
    if size > min(image.shape[0], image.shape[1]):
        raise ValueError(f"size={size} does not fit in the image of {image.shape[0]}x{image.shape[1]} "
                         f"(cropped to tiles of {tile}): choose a smaller window")
    corners = [(top, left) for top in range(0, image.shape[0] - size + 1, tile)
               for left in range(0, image.shape[1] - size + 1, tile)]
    return max(corners, key=lambda c: detail(image[c[0]:c[0] + size, c[1]:c[1] + size]))


@torch.no_grad()
def reconstruct(model, image, tile, normalization, bits_per_value=8, batch_size=64):
    """Compress and decompress one uint8 image (H, W, 3) tile by tile; returns the uint8 reconstruction of the
    image cropped to a multiple of `tile`. `normalization` maps pixels to the model's inputs and its outputs back
    (a helpers.data.Normalization, the one the model was trained with)."""
    image = crop_to_tiles(image, tile)
    rows, cols = image.shape[0] // tile, image.shape[1] // tile
    tiles = image.reshape(rows, tile, cols, tile, 3).swapaxes(1, 2).reshape(-1, tile, tile, 3)
    device = next(model.parameters()).device
    outputs = []
    with evaluation_mode(model):
        for start in range(0, len(tiles), batch_size):
            x = normalization(tiles[start:start + batch_size]).to(device)
            z = quantize_uniform(model.encode(x), bits_per_value)
            outputs.append(normalization.to_uint8(model.decode(z).cpu()))
    out = np.concatenate(outputs).reshape(rows, cols, tile, tile, 3).swapaxes(1, 2)
    return out.reshape(rows * tile, cols * tile, 3)


def compare_with_codecs(model, images, tile, normalization, bits_per_value=8, codecs=("jpeg",), names=None):
    """One row per (image, method): the autoencoder, then each codec at the highest quality whose bit rate is at
    most the autoencoder's. Rows: image, method, bpp, psnr, ssim, quality (codecs), hit_target (codecs).
    Also returns the reconstructions as {image name: {method: uint8 array}} for plots."""
    bpp = tile_bpp(model, tile, bits_per_value)
    rows, pictures = [], {}
    for index, image in enumerate(images):
        name = names[index] if names else f"image {index}"
        original = crop_to_tiles(image, tile)
        recon = reconstruct(model, image, tile, normalization, bits_per_value)
        pictures[name] = {"original": original, "autoencoder": recon}
        rows.append(dict(image=name, method="autoencoder", bpp=bpp, psnr=metrics.psnr(original, recon),
                         ssim=metrics.ssim(original, recon), quality=None, hit_target=True))
        for codec in codecs:
            coded = metrics.codec_at_bpp(original, bpp, codec)
            pictures[name][codec] = coded["decoded"]
            rows.append(dict(image=name, method=codec, bpp=coded["bpp"], psnr=coded["psnr"], ssim=coded["ssim"],
                             quality=coded["quality"], hit_target=coded["hit_target"]))
    return rows, pictures


def photo_metrics(model, images, tile, normalization, bits_per_value=8):
    """How well `model` compresses whole photographs (uint8 (H, W, 3) arrays), tile by tile with the latent
    quantized as stored: the numbers every verdict of the course uses.

    Returns a dict of floats: 'bpp' (the stored rate), 'image_psnr' (dB, mean of the per-image PSNRs),
    'psnr_of_mean_mse' (dB, the PSNR of the mean squared error over images: a bad image weighs more, as it does in
    the training loss), 'image_mse' (mean, on 0-255 pixels), 'image_ssim' (mean), and 'per_image_psnr' (a list,
    one per image, in order). The mean of per-patch PSNRs printed during training is usually higher, mostly
    because a mean of PSNRs rewards easy patches (notebook 03, section 6, measures each step)."""
    if len(images) == 0:
        raise ValueError("photo_metrics needs at least one photograph")
    psnrs, mses, ssims = [], [], []
    for image in images:
        original = crop_to_tiles(image, tile)
        recon = reconstruct(model, image, tile, normalization, bits_per_value)
        psnrs.append(metrics.psnr(original, recon))
        mses.append(metrics.mse(original, recon))
        ssims.append(metrics.ssim(original, recon))
    return {"bpp": tile_bpp(model, tile, bits_per_value), "image_psnr": float(np.mean(psnrs)),
            "psnr_of_mean_mse": metrics.psnr_from_mse(float(np.mean(mses))), "image_mse": float(np.mean(mses)),
            "image_ssim": float(np.mean(ssims)), "per_image_psnr": [float(p) for p in psnrs]}
