"""The kit's image codec: a trained rate-distortion model, rounding, entropy coding, and a byte-stream format.

    image --pad to 16--> g_a --> round --> ANS (integer CDF tables) --> header + payload + CRC32 = bytes
    bytes --check header, CRC, model--> ANS decode --> g_s --> crop --> image

Two model kinds, one class each: :class:`Codec` for the factorized prior (``helpers.rd_model``) and
:class:`HyperpriorCodec` for the scale hyperprior (``helpers.hyperprior``: padded to 64; z coded first, then y
with the scales of ``h_s(z)``). ``Codec.load`` reads a checkpoint of either kind (its format mark says which).
A stream says which kind wrote it (``helpers.streams``: version 1, the factorized prior, which every stream
written before the hyperprior is and still decodes exactly; version 2, the scale hyperprior).

Python::

    from helpers.codec import Codec
    codec = Codec.load()                       # a shipped checkpoint (or Codec.load("checkpoints/....pt"))
    data = codec.compress(image)               # uint8 (H, W, 3) -> bytes; bpp = 8 * len(data) / (H * W)
    image_hat = codec.decompress(data)         # -> uint8 (H, W, 3)

Command line::

    python -m helpers.codec compress photo.png photo.nck [--checkpoint PATH] [--force]
    python -m helpers.codec decompress photo.nck photo_decoded.png [--checkpoint PATH] [--force] [--max-pixels N]

``decompress`` finds the shipped checkpoint that wrote the stream from the model identity in its header. An output
is written atomically (``helpers.files``), never onto the command's own input (the image, the stream, a
checkpoint), even with ``--force``.

Bounded decoding: the header gives the image's size, so before anything is decoded a stream is refused when it
decodes to more pixels than ``max_pixels`` (default Pillow's ``PIL.Image.MAX_IMAGE_PIXELS``, about 89 million;
raise it with ``--max-pixels`` / ``max_pixels=``) or when the synthesis transform would need more memory than the
machine has available (estimated from the size and the model's channels). An allocation that fails all the same
is a :class:`CodecError` too, never a raw allocator traceback.

Deterministic decoding: the synthesis transform runs on one CPU thread (torch's convolutions sum in an order that
depends on the thread count, which changed decoded pixels between 1 and 2 threads), and the caller's thread count
is restored afterwards. The same stream therefore decodes to the same pixels, hence the same PNG bytes, whatever
``torch.set_num_threads`` says.

Anything that does not check out (short, long, bad magic or version, CRC mismatch, a stream of the other kind or
another model's identity, inconsistent shapes, a payload that does not decode to exactly the announced latents)
raises :class:`CodecError`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from . import hyperprior, rd_model
from .entropy import CdfTables, CodecError, decode_symbols, encode_symbols
from .files import atomic_output, atomic_write, check_not_input, load_torch_file
from .images import read_image, to_pixel_levels
from .models import torch_threads
from .paths import REPO_ROOT
from .rd_model import FactorizedPriorModel, pad_to_stride
from .streams import HEADER_SIZE, KINDS, Header, model_identity, pack, unpack

__all__ = ["Codec", "HyperpriorCodec", "CodecError", "Header", "pack", "unpack", "shipped_checkpoints", "by_kind",
           "DEFAULT_CHECKPOINT", "CHECKPOINT_DIR", "main", "check_decode_size", "decode_memory_bytes",
           "load_codec_checkpoint", "HEADER_SIZE"]

CHECKPOINT_DIR = REPO_ROOT / "checkpoints"
DEFAULT_CHECKPOINT = CHECKPOINT_DIR / "rd_lambda0.004.pt"      # the middle of the shipped lambdas, about 0.2 bpp
# Peak memory of the synthesis transform, in bytes per (padded) pixel and hidden channel. Measured: compressing and
# decoding a 2048x2048 image with 48 channels raised the peak resident memory by about 4.3 bytes per pixel and
# channel over a 256x256 one; 6 leaves a margin.
DECODE_BYTES_PER_PIXEL_CHANNEL = 6
DECODE_THREADS = 1              # the synthesis runs on this many CPU threads: the same pixels on every machine setting


def _latent_size(n: int, stride: int) -> int:
    return -(-n // stride)


# Not metrics.to_uint8, which refuses a fourth channel and guesses channels-first: the codec takes RGBA (alpha dropped).
def to_uint8_rgb(image) -> np.ndarray:
    """A PIL image or an array (H, W), (H, W, 1|3|4) -> uint8 (H, W, 3). Float arrays are taken as [0, 1] and
    converted by the kit's one rule (``helpers.images.to_pixel_levels``); a fourth channel (alpha) is dropped."""
    if hasattr(image, "convert"):                       # PIL
        image = np.asarray(image.convert("RGB"))
    a = np.asarray(image)
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or a.shape[2] not in (1, 3, 4):
        raise ValueError(f"expected an image (H, W) or (H, W, 1|3|4), got shape {a.shape}")
    if a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    a = a[..., :3]
    if a.dtype != np.uint8:
        if np.issubdtype(a.dtype, np.floating):
            a = to_pixel_levels(a)
        a = a.astype(np.uint8)
    if a.shape[0] < 1 or a.shape[1] < 1:
        raise ValueError("empty image")
    return np.ascontiguousarray(a)


class Codec:
    """A trained :class:`FactorizedPriorModel` with its integer CDF tables, coding images to bytes and back
    (stream format version 1). :class:`HyperpriorCodec` is the same for a scale hyperprior."""

    version = 1                         # the stream format version this kind writes (``helpers.streams.KINDS``)

    def __init__(self, model: FactorizedPriorModel, tables: CdfTables | None = None, name: str = "model",
                 lmbda: float | None = None):
        self.model = model.eval().cpu()
        self.tables = tables if tables is not None else model.tabulate()
        if self.tables.channels != model.density.channels:
            raise ValueError("the tables do not match the channels of the model's density")
        self.model_id = self._identity()
        self.name = name
        self.lmbda = lmbda

    def _identity(self) -> bytes:
        return model_identity(self.tables, self.model.config)

    @classmethod
    def load(cls, checkpoint=None) -> "Codec":
        """From a checkpoint path, or a file name in ``checkpoints/``; the default shipped one when None. The
        checkpoint's kind decides the class: a :class:`Codec` or a :class:`HyperpriorCodec`."""
        path = _resolve_checkpoint(checkpoint)
        model, tables, info = load_codec_checkpoint(path)
        codec_class = HyperpriorCodec if isinstance(model, hyperprior.ScaleHyperpriorModel) else Codec
        return codec_class(model, tables, name=path.stem, lmbda=info.get("lambda"))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, id={self.model_id.hex()})"

    # -- latents <-> bytes ---------------------------------------------------------------------------
    def encode_latent(self, symbols: np.ndarray, height: int, width: int) -> bytes:
        """Integer latents (C, h, w) of an image of size ``height`` x ``width`` -> the byte stream."""
        symbols = np.asarray(symbols)
        shape = tuple(int(s) for s in symbols.shape)
        expected = self._latent_shape(height, width)
        if shape != expected:
            raise ValueError(f"latent shape {shape} does not fit a {height}x{width} image ({expected})")
        header = Header(self.model_id, int(height), int(width), shape)
        return pack(header, encode_symbols(symbols, self.tables))

    def decode_latent(self, data: bytes) -> tuple[np.ndarray, Header]:
        """The byte stream -> (integer latents (C, h, w), header). Raises :class:`CodecError`."""
        header, payload = self._checked(data)
        return decode_symbols(payload, self.tables, header.latent_shape), header

    def _latent_shape(self, height: int, width: int) -> tuple[int, int, int]:
        """The shape of the latent in the header (y's; a hyperprior's z) for an image of this size."""
        stride = self.model.stride
        return self.tables.channels, _latent_size(height, stride), _latent_size(width, stride)

    def _checked(self, data: bytes) -> tuple[Header, bytes]:
        """``unpack``, then: the stream's kind and model are this codec's, and its shapes fit its image size."""
        header, payload = unpack(data)
        if header.version != self.version:
            raise CodecError(f"stream of a {KINDS[header.version]} model (format version {header.version}); "
                             f"{self.name} is a {KINDS[self.version]} codec: decode it with the checkpoint that "
                             f"wrote it")
        if header.model_id != self.model_id:
            raise CodecError(f"stream was written by another model (id {header.model_id.hex()}); "
                             f"this is {self.name} (id {self.model_id.hex()})")
        expected = self._latent_shape(header.height, header.width)
        if header.height < 1 or header.width < 1 or header.latent_shape != expected:
            raise CodecError(f"inconsistent header: image {header.height}x{header.width}, "
                             f"latent {header.latent_shape}, expected {expected}")
        return header, payload

    # -- images <-> latents --------------------------------------------------------------------------
    def _padded(self, image) -> torch.Tensor:
        """uint8 image -> (1, 3, H', W') in [0, 1], padded to multiples of the model's stride."""
        x = torch.tensor(to_uint8_rgb(image)).permute(2, 0, 1)[None].float() / 255.0
        return pad_to_stride(x, self.model.stride)

    @torch.no_grad()
    def analyse(self, image) -> np.ndarray:
        """uint8 image -> integer latents (C, ceil(H/16), ceil(W/16)), int32."""
        return torch.round(self.model.analysis(self._padded(image)))[0].numpy().astype(np.int32)

    @torch.no_grad()
    def synthesize(self, symbols: np.ndarray, height: int, width: int) -> np.ndarray:
        """Integer latents -> uint8 image (height, width, 3), cropped from the padded reconstruction."""
        y_hat = torch.from_numpy(np.asarray(symbols, dtype=np.float32))[None]
        x_hat = self.model.synthesis(y_hat)[0, :, :height, :width]
        return to_pixel_levels(x_hat).to(torch.uint8).permute(1, 2, 0).numpy()

    @torch.no_grad()
    def estimate_bits(self, symbols: np.ndarray) -> float:
        """The model's own entropy estimate of integer latents: sum of -log2 p under the learned density."""
        y = torch.from_numpy(np.asarray(symbols, dtype=np.float32))[None]
        return float(-torch.log2(self.model.density.likelihood(y).double()).sum())

    def compress(self, image) -> bytes:
        a = to_uint8_rgb(image)
        return self.encode_latent(self.analyse(a), a.shape[0], a.shape[1])

    def decompress(self, data: bytes, max_pixels: int | None = None) -> np.ndarray:
        """The byte stream -> uint8 image (H, W, 3). Raises :class:`CodecError` on a bad stream, and before
        decoding anything (no network runs) when the image would have more than ``max_pixels`` pixels (default
        ``PIL.Image.MAX_IMAGE_PIXELS``) or would need more memory than the machine has available."""
        header, _ = unpack(data)
        check_decode_size(header.height, header.width, self.model.config["channels"], max_pixels, self.model.stride)
        symbols, header = self.decode_latent(data)
        try:
            with torch_threads(DECODE_THREADS):
                return self.synthesize(symbols, header.height, header.width)
        except (RuntimeError, MemoryError) as e:      # the allocator failed after all (the estimate is an estimate)
            if isinstance(e, RuntimeError) and "alloc" not in str(e).lower() and "memory" not in str(e).lower():
                raise
            raise CodecError(f"not enough memory to decode a {header.width}x{header.height} image "
                             f"({type(e).__name__}: {str(e).splitlines()[0][:200]}); decode it on a machine with "
                             f"more memory") from None


class HyperpriorCodec(Codec):
    """A trained ``hyperprior.ScaleHyperpriorModel`` with its z tables (stream format version 2).

    Its latents are a pair (z_hat (K, h, w), y_hat (M, 4h, 4w)), int32: z is coded with the z tables, then y with
    the Gaussian table rows that ``h_s(z_hat)`` picks. The model identity covers the config, the z tables and the
    Gaussian tables. ``decompress`` checks the pixel limit before any network (h_s, then g_s) runs, and the header's
    z shape must fit the image size, so the limit bounds z too."""

    version = 2

    def _identity(self) -> bytes:
        return model_identity(self.tables, self.model.config, self.model.gaussian.tables.identity())

    def encode_latent(self, latents: tuple[np.ndarray, np.ndarray], height: int, width: int) -> bytes:
        """Integer latents (z_hat, y_hat) of an image of size ``height`` x ``width`` -> the byte stream."""
        z_hat, y_hat = (np.asarray(t) for t in latents)
        k, h, w = self._latent_shape(height, width)
        expected = ((k, h, w), (self.model.config["latent_channels"], *(n * hyperprior.HYPER_STRIDE for n in (h, w))))
        if (z_hat.shape, y_hat.shape) != expected:
            raise ValueError(f"latent shapes {z_hat.shape}, {y_hat.shape} do not fit a {height}x{width} image "
                             f"({expected})")
        z_bytes, y_bytes = hyperprior.encode_latents(self.model, z_hat, y_hat, self.tables)
        header = Header(self.model_id, int(height), int(width), (k, h, w), version=2, z_length=len(z_bytes))
        return pack(header, z_bytes + y_bytes)

    def decode_latent(self, data: bytes) -> tuple[tuple[np.ndarray, np.ndarray], Header]:
        """The byte stream -> ((z_hat, y_hat), header). Raises :class:`CodecError`."""
        header, payload = self._checked(data)
        z_bytes, y_bytes = payload[:header.z_length], payload[header.z_length:]
        return hyperprior.decode_latents(self.model, z_bytes, y_bytes, header.latent_shape, self.tables), header

    def analyse(self, image) -> tuple[np.ndarray, np.ndarray]:
        """uint8 image -> integer latents (z_hat (K, ceil(H/64), ceil(W/64)), y_hat (M, 4x those)), int32."""
        return tuple(t.astype(np.int32) for t in hyperprior.analyse_latents(self.model, self._padded(image)))

    def synthesize(self, latents: tuple[np.ndarray, np.ndarray], height: int, width: int) -> np.ndarray:
        """Integer latents (z_hat, y_hat) -> uint8 image (height, width, 3): g_s of y_hat, cropped."""
        return super().synthesize(latents[1], height, width)

    def estimate_bits(self, latents: tuple[np.ndarray, np.ndarray]) -> float:
        """The model's own estimate of integer latents (z_hat, y_hat): ``hyperprior.latent_bits``."""
        return hyperprior.latent_bits(self.model, *latents)


def default_max_pixels() -> int | None:
    """Pillow's decompression-bomb limit (``PIL.Image.MAX_IMAGE_PIXELS``, about 89 million); None: no limit."""
    from PIL import Image
    return Image.MAX_IMAGE_PIXELS


def decode_memory_bytes(height: int, width: int, channels: int, stride: int = 16) -> int:
    """An estimate of the synthesis transform's peak memory for a ``height`` x ``width`` image (padded to
    ``stride``) with ``channels`` hidden channels, in bytes."""
    padded = _latent_size(height, stride) * stride * _latent_size(width, stride) * stride
    return DECODE_BYTES_PER_PIXEL_CHANNEL * channels * padded


def check_decode_size(height: int, width: int, channels: int, max_pixels: int | None = None,
                      stride: int = 16) -> None:
    """Raise :class:`CodecError` when a ``height`` x ``width`` image has more than ``max_pixels`` pixels (default
    :func:`default_max_pixels`) or when decoding it (padded to ``stride``) would need more memory than is
    available now."""
    import psutil

    limit = default_max_pixels() if max_pixels is None else int(max_pixels)
    pixels = int(height) * int(width)
    if limit is not None and pixels > limit:
        raise CodecError(f"the stream decodes to a {width}x{height} image ({pixels:,} pixels), above the limit of "
                         f"{limit:,} pixels (a guard against decompression bombs); if you trust the stream, raise "
                         f"the limit with --max-pixels {pixels} (max_pixels={pixels} in Python)")
    need, available = decode_memory_bytes(height, width, channels, stride), psutil.virtual_memory().available
    if need > available:
        raise CodecError(f"decoding the {width}x{height} image would need about {need / 2**30:.1f} GiB of memory; "
                         f"{available / 2**30:.1f} GiB are available: decode it on a machine with more memory")


# ----------------------------------------------------------------------------------------------------
# Checkpoints on disk
# ----------------------------------------------------------------------------------------------------

MODEL_KINDS = {rd_model.FORMAT: FactorizedPriorModel, hyperprior.FORMAT: hyperprior.ScaleHyperpriorModel}


def load_codec_checkpoint(path) -> tuple[torch.nn.Module, CdfTables, dict]:
    """A codec checkpoint of either kind -> (model, its tables, the other fields), as ``rd_model.load_checkpoint``
    and ``hyperprior.load_checkpoint`` give them. The file's format mark says which model to build; any other
    mark is a ``ValueError`` that names the file and the marks this codec reads."""
    ckpt = load_torch_file(path, tuple(MODEL_KINDS), rd_model.CHECKPOINT_TODO)
    return rd_model.model_from_checkpoint(ckpt, MODEL_KINDS[ckpt["format"]], path)


def by_kind(codecs) -> dict[str, list["Codec"]]:
    """Codecs grouped by model kind, each group in the given order: ``{"factorized": [...], "hyperprior": [...]}``,
    a kind with no codec left out. One curve per kind: a factorized and a hyperprior codec are not two settings of
    the same codec."""
    kinds = {"factorized": [c for c in codecs if not isinstance(c, HyperpriorCodec)],
             "hyperprior": [c for c in codecs if isinstance(c, HyperpriorCodec)]}
    return {kind: found for kind, found in kinds.items() if found}


def shipped_checkpoints(directory=CHECKPOINT_DIR) -> list[Path]:
    """The checkpoints in ``directory``, from the lowest lambda (lowest rate) to the highest."""
    def lam(p: Path) -> float:
        try:
            return float(p.stem.split("lambda", 1)[1])
        except (IndexError, ValueError):
            return float("inf")
    return sorted(Path(directory).glob("*.pt"), key=lambda p: (lam(p), p.name))


def _resolve_checkpoint(checkpoint) -> Path:
    if checkpoint is None:
        path = DEFAULT_CHECKPOINT
        if not path.exists():
            found = shipped_checkpoints()
            if not found:
                raise FileNotFoundError(f"no checkpoint in {CHECKPOINT_DIR}; train some with tools/train_codec.py")
            path = found[len(found) // 2]
        return path
    path = Path(checkpoint)
    if not path.exists() and not path.is_absolute() and (CHECKPOINT_DIR / path).exists():
        path = CHECKPOINT_DIR / path
    if not path.exists():
        raise FileNotFoundError(f"checkpoint {checkpoint} not found (shipped ones are in {CHECKPOINT_DIR})")
    return path


def codec_for_stream(data: bytes, candidates=None) -> Codec:
    """The shipped codec whose model identity matches the stream's header."""
    header, _ = unpack(data)
    for path in candidates if candidates is not None else shipped_checkpoints():
        codec = Codec.load(path)
        if codec.model_id == header.model_id:
            return codec
    raise CodecError(f"stream was written by a model (id {header.model_id.hex()}) that is not among the "
                     f"checkpoints in {CHECKPOINT_DIR}; pass it with --checkpoint")


# ----------------------------------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------------------------------

def _check_output(path: Path, force: bool, inputs) -> None:
    check_not_input(path, inputs)               # even with --force: the input would be lost
    if path.exists() and not force:
        raise FileExistsError(f"{path} exists; pass --force to overwrite it")
    if path.parent and not path.parent.exists():
        raise FileNotFoundError(f"folder {path.parent} does not exist")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.codec", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("compress", help="image file -> compressed stream")
    c.add_argument("image", type=Path, help="input image (PNG, JPEG, BMP, TIFF, ...), any size")
    c.add_argument("out", type=Path, help="output stream file")
    d = sub.add_parser("decompress", help="compressed stream -> image file")
    d.add_argument("stream", type=Path, help="input stream file")
    d.add_argument("out", type=Path, help="output image; the format follows the extension (PNG is lossless)")
    for p in (c, d):
        p.add_argument("--checkpoint", default=None,
                       help="checkpoint path or a file name in checkpoints/ (compress: default "
                            f"{DEFAULT_CHECKPOINT.name}; decompress: the one that wrote the stream)")
        p.add_argument("--force", action="store_true", help="overwrite an existing output file")
    d.add_argument("--max-pixels", type=int, default=None, metavar="N",
                   help="refuse a stream that decodes to more pixels (default Pillow's MAX_IMAGE_PIXELS, "
                        "about 89 million)")
    args = parser.parse_args(argv)
    try:
        source = args.image if args.command == "compress" else args.stream
        checkpoints = [_resolve_checkpoint(args.checkpoint)] if args.checkpoint or args.command == "compress" \
            else shipped_checkpoints()              # decompress looks for the one that wrote the stream
        _check_output(args.out, args.force, [source, *checkpoints])
        if args.command == "compress":
            image = read_image(args.image)          # helpers.images: a DataError (a ValueError) names the file
            codec = Codec.load(args.checkpoint)
            data = codec.compress(image)
            atomic_write(args.out, data)
            h, w = image.shape[:2]
            print(f"{args.out}: {len(data)} bytes, {8 * len(data) / (h * w):.4f} bpp, {w}x{h}, {codec.name}")
        else:
            data = args.stream.read_bytes()
            codec = Codec.load(args.checkpoint) if args.checkpoint else codec_for_stream(data)
            image = codec.decompress(data, max_pixels=args.max_pixels)
            from PIL import Image
            with atomic_output(args.out) as tmp:    # the temporary name keeps the suffix: the format follows it
                Image.fromarray(image).save(tmp)
            print(f"{args.out}: {image.shape[1]}x{image.shape[0]} from {len(data)} bytes, {codec.name}")
    except (ValueError, OSError) as e:      # CodecError and DataError are ValueErrors; OSError: files, checkpoints
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
