"""helpers.codec / helpers.streams: byte round trips, real size against the model's estimate, damaged and
foreign streams, odd image sizes, the command line, the shipped checkpoints; the same for the scale hyperprior
(stream format version 2), and a stream written before the hyperprior existed."""

import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import hyperprior
from helpers.codec import (CHECKPOINT_DIR, DEFAULT_CHECKPOINT, HEADER_SIZE, Codec, CodecError, Header,
                           HyperpriorCodec, by_kind, codec_for_stream, load_codec_checkpoint, main, pack,
                           shipped_checkpoints, unpack)
from helpers.entropy import CdfTables, decode_symbols, encode_symbols
from helpers.metrics import psnr
from helpers.rd_model import FactorizedPriorModel, load_checkpoint, save_checkpoint


def small_codec(seed=0, channels=8, latent=8) -> Codec:
    torch.manual_seed(seed)
    return Codec(FactorizedPriorModel(channels, latent), name=f"random{seed}")


def sample_symbols(tables: CdfTables, shape, seed=0) -> np.ndarray:
    """Integer latents drawn from the tables themselves (so their ideal code length is the entropy)."""
    rng = np.random.default_rng(seed)
    c, h, w = shape
    out = np.empty(shape, dtype=np.int32)
    for ch in range(c):
        n = int(tables.lengths[ch])
        f = tables.freqs[ch, :n].astype(np.float64)
        out[ch] = rng.choice(n, size=(h, w), p=f / f.sum()) + tables.offsets[ch]
    return out


def smooth_image(h, w, seed=0) -> np.ndarray:
    """A photo-like test image: smooth gradients, a few edges, mild noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    img = np.stack([0.5 + 0.4 * np.sin(6 * xx + 2 * yy), 0.5 + 0.3 * np.cos(5 * yy), 0.3 + 0.5 * xx * yy], -1)
    img[h // 3: h // 2, w // 4: w // 2] = [0.9, 0.2, 0.1]
    img += rng.normal(0, 0.02, img.shape)
    return (np.clip(img, 0, 1) * 255).round().astype(np.uint8)


# -- the entropy coder on a codec's tables ---------------------------------------------------------------

def test_symbols_round_trip_with_escapes():
    codec = small_codec()
    t = codec.tables
    sym = sample_symbols(t, (t.channels, 5, 7))
    # values far outside every table, both signs, up to the int32 limits
    sym[0, 0, 0] = 2**31 - 1
    sym[1, 1, 1] = -(2**31)
    sym[2, 2, 2] = int(t.offsets[2]) - 1
    sym[3, 3, 3] = int(t.offsets[3] + t.lengths[3])
    payload = encode_symbols(sym, t)
    assert np.array_equal(decode_symbols(payload, t, sym.shape), sym)


def test_a_header_announcing_a_huge_latent_is_refused_before_decoding():
    codec = small_codec()
    with pytest.raises(CodecError, match="cannot hold"):
        decode_symbols(b"\0" * 8, codec.tables, (8, 60000, 60000))


# -- the stream ----------------------------------------------------------------------------------------

def test_byte_round_trip_gives_exactly_the_same_latent():
    codec = small_codec()
    sym = sample_symbols(codec.tables, (8, 3, 4), seed=1)
    data = codec.encode_latent(sym, 37, 51)
    back, header = codec.decode_latent(data)
    assert back.dtype == np.int32 and np.array_equal(back, sym)
    assert header == Header(codec.model_id, 37, 51, (8, 3, 4))
    assert data[:4] == b"NCKc" and len(data) == HEADER_SIZE + struct.unpack_from("<I", data, 28)[0]
    # encoding is deterministic: the same latent always gives the same bytes
    assert codec.encode_latent(back, 37, 51) == data


@pytest.mark.parametrize("size", [(37, 51), (1, 1), (16, 16), (17, 33), (64, 23)])
def test_odd_image_sizes_are_padded_and_cropped(size):
    codec = small_codec()
    img = smooth_image(*size)
    data = codec.compress(img)
    out = codec.decompress(data)
    assert out.shape == (*size, 3) and out.dtype == np.uint8
    header, _ = unpack(data)
    assert (header.height, header.width) == size
    assert header.latent_shape == (8, -(-size[0] // 16), -(-size[1] // 16))


def test_estimate_matches_real_size_on_a_large_latent():
    """On ~100k symbols the fixed costs (36-byte header, the ANS coder's last 32-bit word, the 16-bit
    quantization of the tables) are well under 2 % of the payload; on a handful of symbols they are not,
    so the comparison is only meaningful on a latent this large (a 768x512 image with 64 channels is 98k)."""
    codec = small_codec(latent=64, channels=8)
    sym = sample_symbols(codec.tables, (64, 32, 48), seed=2)
    data = codec.encode_latent(sym, 512, 768)
    estimate = codec.estimate_bits(sym)
    assert abs(8 * len(data) - estimate) / estimate < 0.02


# -- damaged, foreign and hand-made streams -------------------------------------------------------------

@pytest.fixture(scope="module")
def stream():
    codec = small_codec()
    return codec, codec.compress(smooth_image(40, 56))


@pytest.mark.parametrize("cut", [0, 1, 4, HEADER_SIZE - 1, HEADER_SIZE, -4, -1])
def test_truncated_stream_is_a_clear_error(stream, cut):
    codec, data = stream
    with pytest.raises(CodecError, match="truncated"):
        codec.decompress(data[:cut])


def assert_every_single_byte_corruption_is_caught(codec, data: bytes) -> None:
    for i in range(len(data)):
        for flip in (0x01, 0x80):
            bad = bytearray(data)
            bad[i] ^= flip
            with pytest.raises(CodecError):
                codec.decompress(bytes(bad))


def test_every_single_byte_corruption_is_caught(stream):
    assert_every_single_byte_corruption_is_caught(*stream)


def test_extra_bytes_and_foreign_data_are_errors(stream):
    codec, data = stream
    with pytest.raises(CodecError, match="unexpected bytes"):
        codec.decompress(data + b"\0")
    with pytest.raises(CodecError, match="not a stream"):
        codec.decompress(b"\x89PNG\r\n\x1a\n" + bytes(64))


def test_stream_of_another_model_is_refused(stream):
    codec, data = stream
    other = small_codec(seed=1)
    assert other.model_id != codec.model_id
    with pytest.raises(CodecError, match="another model"):
        other.decompress(data)


def _repack(data: bytes, **fields) -> bytes:
    """A stream with header fields changed and a valid CRC (what a buggy or malicious writer could make)."""
    header, payload = unpack(data)
    payload = fields.pop("payload", payload)
    return pack(Header(**{**header.__dict__, **fields}), payload)


def test_valid_crc_but_inconsistent_content_is_an_error(stream):
    codec, data = stream
    with pytest.raises(CodecError, match="inconsistent header"):
        codec.decompress(_repack(data, height=1000))
    with pytest.raises(CodecError, match="inconsistent header"):
        codec.decompress(_repack(data, latent_shape=(8, 3, 3)))
    with pytest.raises(CodecError):
        codec.decompress(_repack(data, payload=b""))
    with pytest.raises(CodecError):
        codec.decompress(_repack(data, payload=b"\x01\x02\x03"))
    rng = np.random.default_rng(0)
    for _ in range(20):   # garbage payloads of plausible length: an error, never a crash or silent garbage
        with pytest.raises(CodecError):
            codec.decompress(_repack(data, payload=rng.integers(0, 256, len(unpack(data)[1]), np.uint8).tobytes()))


def test_unknown_version_and_flags(stream):
    """Version 2 is the scale hyperprior's now (see the hyperprior tests below): 3 is the first unknown one."""
    codec, data = stream
    for offset, value, message in [(4, 3, "version 3"), (4, 255, "version 255"), (5, 1, "flags")]:
        bad = bytearray(data)
        bad[offset] = value
        bad[32:36] = struct.pack("<I", zlib.crc32(bytes(bad[HEADER_SIZE:]), zlib.crc32(bytes(bad[:32]))))
        with pytest.raises(CodecError, match=message):
            codec.decompress(bytes(bad))


def test_codec_error_is_a_value_error():
    assert issubclass(CodecError, ValueError)


# -- the command line ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A small untrained model saved as a checkpoint: the command line does not care how good it is."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    save_checkpoint(FactorizedPriorModel(8, 8), path, lmbda=0.01)
    return path


def test_command_line_round_trip_on_an_odd_sized_grey_image(checkpoint, tmp_path, capsys):
    source = tmp_path / "photo.png"
    Image.fromarray(smooth_image(45, 70)[..., 0]).save(source)           # 8-bit grey, 45 x 70
    stream, decoded = tmp_path / "photo.nck", tmp_path / "decoded.png"
    assert main(["compress", str(source), str(stream), "--checkpoint", str(checkpoint)]) == 0
    assert "bpp" in capsys.readouterr().out
    assert main(["decompress", str(stream), str(decoded), "--checkpoint", str(checkpoint)]) == 0
    image = np.asarray(Image.open(decoded))
    assert image.shape == (45, 70, 3)
    codec = Codec.load(checkpoint)
    assert np.array_equal(image, codec.decompress(stream.read_bytes()))
    # never overwrite silently
    before = stream.read_bytes()
    assert main(["compress", str(source), str(stream), "--checkpoint", str(checkpoint)]) == 1
    assert "--force" in capsys.readouterr().err and stream.read_bytes() == before
    assert main(["compress", str(source), str(stream), "--checkpoint", str(checkpoint), "--force"]) == 0


def test_command_line_errors_name_the_problem(checkpoint, tmp_path, capsys):
    bad = tmp_path / "bad.nck"
    bad.write_bytes(b"NCKc" + bytes(40))
    assert main(["decompress", str(bad), str(tmp_path / "x.png"), "--checkpoint", str(checkpoint)]) == 1
    assert "error:" in capsys.readouterr().err and not (tmp_path / "x.png").exists()
    assert main(["compress", str(tmp_path / "missing.png"), str(tmp_path / "o.nck"),
                 "--checkpoint", str(checkpoint)]) == 1
    assert "missing.png" in capsys.readouterr().err
    not_a_checkpoint = tmp_path / "notes.pt"
    not_a_checkpoint.write_text("hello")
    Image.fromarray(smooth_image(20, 20)).save(tmp_path / "a.png")
    assert main(["compress", str(tmp_path / "a.png"), str(tmp_path / "a.nck"),
                 "--checkpoint", str(not_a_checkpoint)]) == 1
    assert "notes.pt" in capsys.readouterr().err


def test_the_codec_reads_files_with_the_kits_one_reader_which_names_a_bad_file(checkpoint, tmp_path, capsys):
    from helpers import codec as kit_codec
    from helpers import images

    assert kit_codec.read_image is images.read_image            # one image reader in the kit, not a copy
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(20))
    assert main(["compress", str(broken), str(tmp_path / "b.nck"), "--checkpoint", str(checkpoint)]) == 1
    assert "broken.png" in capsys.readouterr().err and not (tmp_path / "b.nck").exists()


def test_float_images_become_pixels_by_the_kits_one_rule():
    from helpers.codec import to_uint8_rgb
    from helpers.images import to_pixel_levels

    values = np.array([-0.2, 0.0, 0.5 / 255, 1.5 / 255, 2.5 / 255, 0.5, 254.5 / 255, 1.0, 1.3], dtype=np.float32)
    image = np.stack([np.tile(values, (4, 1))] * 3, axis=-1)             # (4, 9, 3) floats, some out of [0, 1]
    expected = to_pixel_levels(image).astype(np.uint8)
    assert np.array_equal(to_uint8_rgb(image), expected)
    with_alpha = np.concatenate([image, np.ones_like(image[..., :1])], axis=-1)
    assert np.array_equal(to_uint8_rgb(with_alpha), expected)            # a fourth channel (alpha) is dropped
    codec = small_codec()
    assert codec.compress(image) == codec.compress(expected)


def test_checkpoint_keeps_float16_weights_and_exact_tables(checkpoint):
    model, tables, info = load_checkpoint(checkpoint)
    assert info["lambda"] == 0.01 and not model.training
    assert np.array_equal(tables.freqs, model.tabulate().freqs)      # the stored tables are the model's own


# -- the shipped checkpoints ----------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["factorized", "hyperprior"])
def test_shipped_checkpoints_load_and_decode(kind):
    paths = shipped_checkpoints()
    assert sum(p.stat().st_size for p in paths) <= 20 * 1024 * 1024
    assert DEFAULT_CHECKPOINT in paths
    codecs = by_kind([Codec.load(p) for p in paths]).get(kind, [])
    if kind == "hyperprior" and not codecs:
        pytest.skip("no hyperprior checkpoints shipped")
    enough = 4 if kind == "factorized" else 2      # the hyperprior's: only the two that no other one dominates
    assert len(codecs) >= enough, f"train them with tools/train_codec.py into {CHECKPOINT_DIR}"
    from skimage import data as skdata
    image = skdata.astronaut()[40:140, 150:300]                  # 100 x 150: a face, hair, a flag
    results = []
    for codec in codecs:
        data = codec.compress(image)
        decoded = codec.decompress(data)
        assert decoded.shape == image.shape
        results.append((8 * len(data) / image[..., 0].size, psnr(image, decoded)))
    assert len({codec.model_id for codec in codecs}) == len(codecs)
    # ordered from the lowest lambda: the rate grows, and so does the quality (from end to end: one image's PSNR
    # need not grow at every step, since each codec was trained on other images)
    bpps, psnrs = zip(*results)
    assert list(bpps) == sorted(bpps), results
    assert psnrs[-1] > psnrs[0] + 1 and min(psnrs) > 22, results


def _train_codec_tool():
    """tools/train_codec.py as a module (tools/ is not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("train_codec", CHECKPOINT_DIR.parent / "tools" / "train_codec.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _manifest_runs() -> list[dict]:
    """The training runs checkpoints/manifest.json records: the factorized one at the top level, and the scale
    hyperprior's under "hyperprior" (each with its command, settings, machine and checkpoints)."""
    import json

    manifest = json.loads((CHECKPOINT_DIR / "manifest.json").read_text())
    return [manifest] + ([manifest["hyperprior"]] if "hyperprior" in manifest else [])


@pytest.mark.parametrize("kind", ["factorized", "hyperprior"])
def test_shipped_checkpoints_measure_what_their_manifest_says(kind):
    """checkpoints/manifest.json records each codec's validation bpp (real bytes), PSNR (and SSIM where recorded)
    on the embedded sample; measuring again with tools/train_codec.py's own data and measure() gives the same."""
    runs = {run["settings"].get("model", "factorized"): run for run in _manifest_runs()}
    if kind not in runs:
        pytest.skip(f"no {kind} checkpoints shipped")
    run = runs[kind]
    train_codec = _train_codec_tool()
    settings = run["settings"]
    _, val_images, _ = train_codec.load_data(settings["crop"], settings["seed"])
    assert len(val_images) >= 3
    for entry in run["checkpoints"]:
        codec = Codec.load(CHECKPOINT_DIR / entry["file"])
        assert isinstance(codec, HyperpriorCodec) == (kind == "hyperprior"), entry["file"]
        measured = train_codec.measure(codec, val_images)
        assert measured["bpp"] == pytest.approx(entry["val_bpp"], rel=0.01), entry["file"]
        assert measured["psnr"] == pytest.approx(entry["val_psnr"], abs=0.05), entry["file"]
        if "val_ssim" in entry:
            assert measured["ssim"] == pytest.approx(entry["val_ssim"], abs=0.002), entry["file"]


def test_every_shipped_checkpoint_is_in_the_manifest_and_all_fit_in_20_mb():
    """The manifest lists exactly the shipped checkpoints (with their sizes), and together they stay small."""
    listed = {entry["file"]: entry["bytes"] for run in _manifest_runs() for entry in run["checkpoints"]}
    shipped = {path.name: path.stat().st_size for path in shipped_checkpoints()}
    assert listed == shipped
    assert sum(shipped.values()) <= 20 * 2**20


def test_train_codec_quick_run_writes_codecs_that_work_and_never_overwrites(tmp_path, capsys):
    import json

    train_codec = _train_codec_tool()
    threads = torch.get_num_threads()
    try:
        assert train_codec.main(["--quick", "--out", str(tmp_path), "--bf16", "off"]) in (0, None)
        manifest = json.loads((tmp_path / "manifest.json").read_text())
        assert [c["lambda"] for c in manifest["checkpoints"]] == [0.013, 0.0045]
        image = smooth_image(40, 56)
        for entry in manifest["checkpoints"]:
            codec = Codec.load(tmp_path / entry["file"])
            assert codec.decompress(codec.compress(image)).shape == image.shape
        before = (tmp_path / "manifest.json").read_bytes()
        with pytest.raises(SystemExit):
            train_codec.main(["--quick", "--out", str(tmp_path)])
        assert "pass --force" in capsys.readouterr().err
        assert (tmp_path / "manifest.json").read_bytes() == before
    finally:
        torch.set_num_threads(threads)


def _is_window_of(crop: np.ndarray, image: np.ndarray) -> bool:
    """True when ``crop`` (or its mirror) is a window of ``image`` at the stored scale."""
    c = crop.shape[0]
    for candidate in (crop, crop[:, ::-1]):
        for top in range(image.shape[0] - c + 1):
            for left in range(image.shape[1] - c + 1):
                if np.array_equal(image[top:top + c, left:left + c], candidate):
                    return True
    return False


def test_random_scale_crops_are_seeded_and_shrink_the_photographs():
    """tools/train_codec.py --min-scale: crops of the right shape, the same for the same seed, epoch and index,
    new ones each epoch; at min_scale 1 every crop is a window of the stored image, at 0.4 most are not (the
    image was shrunk first); bad settings stop with the value named."""
    train_codec = _train_codec_tool()
    images = [smooth_image(48, 64, seed=1), smooth_image(40, 40, seed=2)]
    crops = train_codec.RandomScaleCrops(images, 32, min_scale=0.4, crops_per_image=4, seed=3)
    assert len(crops) == 8
    x, y = crops[5]
    assert x.shape == (3, 32, 32) and x.dtype == torch.float32 and torch.equal(x, y)
    assert 0 <= float(x.min()) and float(x.max()) <= 1
    again = train_codec.RandomScaleCrops(images, 32, min_scale=0.4, crops_per_image=4, seed=3)
    assert all(np.array_equal(crops.pixels(i), again.pixels(i)) for i in range(8))
    first = [crops.pixels(i) for i in range(8)]
    crops.set_epoch(1)
    assert any(not np.array_equal(a, crops.pixels(i)) for i, a in enumerate(first))
    shrunk = sum(not _is_window_of(crops.pixels(i), images[i // 4]) for i in range(8))
    assert shrunk >= 4
    plain = train_codec.RandomScaleCrops(images, 32, min_scale=1.0, crops_per_image=4, seed=3)
    assert all(_is_window_of(plain.pixels(i), images[i // 4]) for i in range(8))
    with pytest.raises(ValueError, match="min_scale must be in"):
        train_codec.RandomScaleCrops(images, 32, min_scale=0.0)
    with pytest.raises(ValueError, match=r"images \[1\] are smaller than the crop size 48"):
        train_codec.RandomScaleCrops(images, 48)


def test_shipped_stream_found_by_its_model_identity(tmp_path):
    Image.fromarray(smooth_image(33, 47)).save(tmp_path / "a.png")
    assert main(["compress", str(tmp_path / "a.png"), str(tmp_path / "a.nck")]) == 0
    assert main(["decompress", str(tmp_path / "a.nck"), str(tmp_path / "b.png")]) == 0
    expected = Codec.load(DEFAULT_CHECKPOINT).decompress((tmp_path / "a.nck").read_bytes())
    assert np.array_equal(np.asarray(Image.open(tmp_path / "b.png")), expected)


def test_real_size_matches_the_estimate_on_a_photo():
    """A 768x512 photograph through the default shipped codec: bpp from the byte length (header included)
    within 2 % of the model's own estimate -log2 p(y_hat) under its learned (float) density."""
    from skimage import data as skdata
    photo = np.asarray(Image.fromarray(skdata.astronaut()).resize((768, 512), Image.Resampling.LANCZOS))
    codec = Codec.load()
    symbols = codec.analyse(photo)
    data = codec.encode_latent(symbols, 512, 768)
    estimate = codec.estimate_bits(symbols)
    assert abs(8 * len(data) - estimate) / estimate < 0.02, (8 * len(data), estimate)


# -- outputs: atomic, never onto an input; bounded and deterministic decoding ----------------------------

def _half_then_interrupt(real):
    """A writer (Path.write_bytes, Image.save) that writes half of its output, then is stopped by Ctrl-C."""
    def write(self, target, *args, **kwargs):
        real(self, target, *args, **kwargs)
        path = Path(target) if isinstance(target, (str, Path)) else self
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2]) if path.exists() else None
        raise KeyboardInterrupt
    return write


def test_an_interrupted_output_write_leaves_the_previous_file(checkpoint, tmp_path, monkeypatch):
    """Before: write_bytes / Image.save on the final path: Ctrl-C midway left half a file."""
    Image.fromarray(smooth_image(30, 40)).save(tmp_path / "a.png")
    stream, decoded = tmp_path / "a.nck", tmp_path / "b.png"
    assert main(["compress", str(tmp_path / "a.png"), str(stream), "--checkpoint", str(checkpoint)]) == 0
    assert main(["decompress", str(stream), str(decoded), "--checkpoint", str(checkpoint)]) == 0
    old_stream, old_png = stream.read_bytes(), decoded.read_bytes()
    names = sorted(p.name for p in tmp_path.iterdir())

    def half_bytes(self, data):
        real_write_bytes(self, data[: len(data) // 2])
        raise KeyboardInterrupt

    real_write_bytes = Path.write_bytes
    with monkeypatch.context() as m:
        m.setattr(Path, "write_bytes", half_bytes)
        with pytest.raises(KeyboardInterrupt):
            main(["compress", str(tmp_path / "a.png"), str(stream), "--checkpoint", str(checkpoint), "--force"])
    with monkeypatch.context() as m:
        m.setattr(Image.Image, "save", _half_then_interrupt(Image.Image.save))
        with pytest.raises(KeyboardInterrupt):
            main(["decompress", str(stream), str(decoded), "--checkpoint", str(checkpoint), "--force"])
    assert stream.read_bytes() == old_stream and decoded.read_bytes() == old_png
    assert sorted(p.name for p in tmp_path.iterdir()) == names          # no temporary file left behind


def test_no_command_writes_onto_its_own_input_even_with_force(checkpoint, tmp_path, capsys):
    """Before: compress photo.png photo.png --force replaced the photo by its stream."""
    source = tmp_path / "photo.png"
    Image.fromarray(smooth_image(30, 40)).save(source)
    stream = tmp_path / "photo.nck"
    assert main(["compress", str(source), str(stream), "--checkpoint", str(checkpoint)]) == 0
    (tmp_path / "link.png").symlink_to(source)
    os.link(source, tmp_path / "hard.png")
    (tmp_path / "link.nck").symlink_to(stream)
    originals = {p: p.read_bytes() for p in (source, stream, checkpoint)}
    cases = [["compress", str(source), str(source)], ["compress", str(source), str(tmp_path / "link.png")],
             ["compress", str(source), str(tmp_path / "hard.png")], ["compress", str(source), str(checkpoint)],
             ["decompress", str(stream), str(stream)], ["decompress", str(stream), str(tmp_path / "link.nck")],
             ["decompress", str(stream), str(checkpoint)]]
    for argv in cases:
        assert main([*argv, "--checkpoint", str(checkpoint), "--force"]) == 1, argv
        err = capsys.readouterr().err
        assert err.startswith("error:") and "input" in err and argv[2] in err, argv
    assert {p: p.read_bytes() for p in originals} == originals


@pytest.fixture(scope="module")
def small_stream(checkpoint):
    """A 48x64 image through the tiny checkpoint: 3072 pixels."""
    codec = Codec.load(checkpoint)
    return codec, codec.compress(smooth_image(48, 64))


def test_a_stream_above_the_pixel_limit_is_refused_before_decoding(small_stream, checkpoint, tmp_path, capsys,
                                                                   monkeypatch):
    """Before: no limit, a stream decoded to whatever size its header announced."""
    codec, data = small_stream
    with pytest.raises(CodecError, match=r"64x48 image \(3,072 pixels\).*limit of 3,000.*--max-pixels 3072"):
        codec.decompress(data, max_pixels=3000)
    assert codec.decompress(data, max_pixels=3072).shape == (48, 64, 3)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 3000)          # the default is Pillow's limit
    monkeypatch.setattr(Codec, "decode_latent", lambda *a: pytest.fail("decoded before the size check"))
    with pytest.raises(CodecError, match="limit of 3,000 pixels"):
        codec.decompress(data)
    monkeypatch.undo()
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 3000)
    (tmp_path / "s.nck").write_bytes(data)
    out = tmp_path / "s.png"
    assert main(["decompress", str(tmp_path / "s.nck"), str(out), "--checkpoint", str(checkpoint)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error:") and "64x48" in err and "--max-pixels" in err and not out.exists()
    assert main(["decompress", str(tmp_path / "s.nck"), str(out), "--checkpoint", str(checkpoint),
                 "--max-pixels", "4000"]) == 0


def test_a_huge_header_is_refused_by_the_pixel_limit(small_stream):
    codec, data = small_stream
    header, payload = unpack(data)
    huge = pack(Header(header.model_id, 100_000, 100_000, (8, 6250, 6250)), payload)
    with pytest.raises(CodecError, match=r"100000x100000 image \(10,000,000,000 pixels\).*--max-pixels"):
        codec.decompress(huge)


def test_decoding_that_would_exhaust_memory_is_a_codec_error(small_stream, monkeypatch):
    """Before: the allocator's RuntimeError ("DefaultCPUAllocator: can't allocate memory") reached the user."""
    import psutil

    codec, data = small_stream
    real = psutil.virtual_memory()
    with monkeypatch.context() as m:
        m.setattr(psutil, "virtual_memory", lambda: real._replace(available=100_000))
        with pytest.raises(CodecError, match=r"64x48 image would need about .* GiB of memory"):
            codec.decompress(data)

    def out_of_memory(*args):
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory: "
                           "you tried to allocate 77309411328 bytes")
    monkeypatch.setattr(codec.model, "synthesis", out_of_memory)
    with pytest.raises(CodecError, match="not enough memory to decode a 64x48 image"):
        codec.decompress(data)


_DECODE = """
import sys, torch
from helpers.codec import main
torch.set_num_threads(int(sys.argv[1]))
sys.exit(main(["decompress", sys.argv[2], sys.argv[3]]))
"""


def test_decoding_gives_the_same_png_bytes_with_1_and_2_threads(tmp_path):
    """Before: the synthesis ran on torch's thread count and its sums changed with it (measured on a 512x512
    image: different pixels with 1 and 2 threads)."""
    import subprocess
    import sys

    image = (np.random.default_rng(0).random((512, 512, 3)) * 255).astype(np.uint8)    # noise: many latents
    stream = tmp_path / "a.nck"
    stream.write_bytes(Codec.load().compress(image))
    outputs = []
    for threads in (1, 2):
        out = tmp_path / f"t{threads}.png"
        subprocess.run([sys.executable, "-c", _DECODE, str(threads), str(stream), str(out)], check=True,
                       cwd=Path(__file__).resolve().parents[1])
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]
    threads = torch.get_num_threads()
    Codec.load().decompress(stream.read_bytes())
    assert torch.get_num_threads() == threads                   # the caller's setting is restored


class _Exploit:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_bad_codec_checkpoints_name_the_file_and_what_to_do(checkpoint, tmp_path, capsys):
    data = checkpoint.read_bytes()
    bad = {"empty.pt": b"", "truncated.pt": data[: len(data) // 2], "random.pt": bytes(range(256)) * 8}
    for name, content in bad.items():
        (tmp_path / name).write_bytes(content)
    torch.save({"format": "helpers.rd_model/1", "x": _Exploit()}, tmp_path / "code.pt")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "foreign.pt")
    for name in [*bad, "code.pt", "foreign.pt"]:
        with pytest.raises(ValueError) as err:
            load_checkpoint(tmp_path / name)
        message = str(err.value)
        assert name in message and "tools/train_codec.py" in message and "weights_only" not in message, name
    assert "never run" not in capsys.readouterr().out


# -- streams written before the hyperprior --------------------------------------------------------------

GOLDEN = Path(__file__).parent / "golden" / "factorized_v1_astronaut_48x63.nck"
GOLDEN_MODEL = Path(__file__).parent / "golden" / "rd_lambda0.004.pt"   # the codec that wrote it (shipped until 2026-12)


def test_a_stream_written_before_the_hyperprior_still_decodes_exactly():
    """``GOLDEN`` was written by the then shipped rd_lambda0.004 codec (kept as ``GOLDEN_MODEL``) before stream
    format version 2 existed (commit 278be97): astronaut()[40:88, 150:213]. It decodes to the same pixels, and
    today's writer gives the same bytes."""
    from skimage import data as skdata
    import hashlib

    data = GOLDEN.read_bytes()
    codec = codec_for_stream(data, candidates=[GOLDEN_MODEL])
    assert codec.name == "rd_lambda0.004" and type(codec) is Codec and unpack(data)[0].version == 1
    decoded = codec.decompress(data)
    assert hashlib.sha256(decoded.tobytes()).hexdigest() == \
        "4adad37299e7dbe4cdc3c8793c68e223487459f8417541070589134f59a2c428"
    assert codec.compress(skdata.astronaut()[40:88, 150:213]) == data


# -- the scale hyperprior through the codec ---------------------------------------------------------------

def small_hyperprior(seed=0, channels=8, latent=8, hyper=8) -> HyperpriorCodec:
    torch.manual_seed(seed)
    return HyperpriorCodec(hyperprior.ScaleHyperpriorModel(channels, latent, hyper), name=f"hyper{seed}")


@pytest.mark.parametrize("size", [(1, 1), (37, 51), (64, 64), (65, 130)])
def test_hyperprior_round_trip_is_bit_exact_at_odd_sizes(size):
    """Before: the codec knew only the factorized prior (stride 16, one payload)."""
    codec = small_hyperprior()
    image = smooth_image(*size)
    data = codec.compress(image)
    header, payload = unpack(data)
    z_shape = (8, -(-size[0] // 64), -(-size[1] // 64))              # padded to 64
    assert header.version == 2 and header.latent_shape == z_shape and 0 < header.z_length < len(payload)
    (z_hat, y_hat), _ = codec.decode_latent(data)
    z_ref, y_ref = codec.analyse(image)
    assert np.array_equal(z_hat, z_ref) and np.array_equal(y_hat, y_ref) and y_hat.shape == (8, *(4 * n for n in
                                                                                                z_shape[1:]))
    decoded = codec.decompress(data)
    assert decoded.shape == (*size, 3) and np.array_equal(decoded, codec.synthesize((z_ref, y_ref), *size))
    assert codec.compress(image) == data                            # deterministic


@pytest.fixture(scope="module")
def hyper_checkpoints(tmp_path_factory):
    """Two small hyperpriors and a factorized model saved as checkpoints, and a stream of the first hyperprior."""
    folder = tmp_path_factory.mktemp("hyper")
    for seed in (0, 1):
        torch.manual_seed(seed)
        hyperprior.save_checkpoint(hyperprior.ScaleHyperpriorModel(8, 8, 8), folder / f"hp{seed}.pt", lmbda=0.01)
    torch.manual_seed(0)
    save_checkpoint(FactorizedPriorModel(8, 8), folder / "rd.pt", lmbda=0.01)
    return folder, Codec.load(folder / "hp0.pt").compress(smooth_image(70, 90))


def test_hyperprior_checkpoints_load_as_hyperprior_codecs(hyper_checkpoints):
    folder, data = hyper_checkpoints
    codec = Codec.load(folder / "hp0.pt")
    assert type(codec) is HyperpriorCodec and codec.name == "hp0" and codec.lmbda == 0.01
    assert type(Codec.load(folder / "rd.pt")) is Codec
    model, tables, _ = hyperprior.load_checkpoint(folder / "hp0.pt")
    assert HyperpriorCodec(model, tables).model_id == codec.model_id
    assert codec.decompress(data).shape == (70, 90, 3)


def test_a_hyperprior_stream_names_its_model_and_is_found_among_several(hyper_checkpoints):
    folder, data = hyper_checkpoints
    hp0, hp1, rd = (Codec.load(folder / name) for name in ("hp0.pt", "hp1.pt", "rd.pt"))
    assert len({hp0.model_id, hp1.model_id, rd.model_id}) == 3
    with pytest.raises(CodecError, match="another model"):
        hp1.decompress(data)
    with pytest.raises(CodecError, match=r"scale hyperprior model \(format version 2\); rd is a factorized prior"):
        rd.decompress(data)
    with pytest.raises(CodecError, match=r"factorized prior model \(format version 1\); hp0 is a scale hyperprior"):
        hp0.decompress(rd.compress(smooth_image(20, 20)))
    found = codec_for_stream(data, [folder / "rd.pt", folder / "hp1.pt", folder / "hp0.pt"])
    assert found.name == "hp0" and np.array_equal(found.decompress(data), hp0.decompress(data))
    with pytest.raises(CodecError, match="not among the checkpoints"):
        codec_for_stream(data, [folder / "rd.pt", folder / "hp1.pt"])


def test_the_hyperprior_identity_covers_config_z_tables_and_gaussian_tables():
    codec = small_hyperprior()
    model = codec.model
    assert HyperpriorCodec(model).model_id == codec.model_id
    other_z = model.tabulate()
    other_z.freqs[0, :2] += np.array([1, -1], dtype=other_z.freqs.dtype)
    assert HyperpriorCodec(model, other_z).model_id != codec.model_id
    model.gaussian = hyperprior.GaussianConditional(hyperprior.SCALE_TABLE * 1.01)
    assert HyperpriorCodec(model).model_id != codec.model_id
    assert small_hyperprior(hyper=4).model_id != codec.model_id       # config (and the z tables' channels)


def test_hyperprior_real_size_is_within_a_few_percent_of_the_estimate_on_a_photo(trained_hyperprior):
    """The astronaut (512x512) through a briefly trained hyperprior: bits of the whole stream (40-byte header
    included) against the model's own estimate from the same integer latents (within 5 %; test_hyperprior.py
    measures the payloads 2.9 % below it)."""
    from skimage import data as skdata
    codec = HyperpriorCodec(trained_hyperprior, name="trained")
    photo = skdata.astronaut()
    latents = codec.analyse(photo)
    data = codec.encode_latent(latents, 512, 512)
    estimate = codec.estimate_bits(latents)
    assert abs(8 * len(data) - estimate) / estimate < 0.05, (8 * len(data), estimate)
    assert data == codec.compress(photo)


def test_a_truncated_or_corrupted_hyperprior_stream_is_a_codec_error():
    codec = small_hyperprior()
    data = codec.compress(smooth_image(40, 56))
    for cut in (0, 4, 39, 40, 41, len(data) - 1):
        with pytest.raises(CodecError, match="truncated"):
            codec.decompress(data[:cut])
    assert_every_single_byte_corruption_is_caught(codec, data)
    header, payload = unpack(data)
    for fields in ({"z_length": 0}, {"z_length": len(payload)}, {"latent_shape": (8, 2, 1)}, {"height": 200},
                   {"payload": payload[:-3]}):
        with pytest.raises(CodecError):                                 # a valid CRC, inconsistent content
            codec.decompress(_repack(data, **fields))
    v1 = bytearray(small_codec().compress(smooth_image(40, 56)))
    v1[4] = 2                                                           # claims to be a hyperprior stream
    v1[32:36] = struct.pack("<I", zlib.crc32(bytes(v1[HEADER_SIZE:]), zlib.crc32(bytes(v1[:32]))))
    with pytest.raises(CodecError):
        codec.decompress(bytes(v1))


def test_the_pixel_limit_is_checked_before_any_network_runs(monkeypatch):
    """The header's z shape must fit its image size, and the size is checked first: a huge z never reaches h_s."""
    codec = small_hyperprior()
    data = codec.compress(smooth_image(48, 64))
    header, payload = unpack(data)
    monkeypatch.setattr(hyperprior, "coding_scales", lambda *a: pytest.fail("h_s ran before the size check"))
    monkeypatch.setattr(codec.model, "synthesis", lambda *a: pytest.fail("g_s ran before the size check"))
    with pytest.raises(CodecError, match=r"64x48 image \(3,072 pixels\).*limit of 3,000"):
        codec.decompress(data, max_pixels=3000)
    huge = pack(Header(header.model_id, 100_000, 100_000, (8, 1563, 1563), version=2, z_length=header.z_length),
                payload)
    with pytest.raises(CodecError, match=r"100000x100000 image"):
        codec.decompress(huge)
    with pytest.raises(CodecError, match="inconsistent header"):          # a z larger than the image allows
        codec.decompress(_repack(data, latent_shape=(8, 1000, 1000)))


def test_the_checkpoint_dispatcher_names_the_file_and_the_marks_it_reads(tmp_path, hyper_checkpoints):
    """Before: the codec read only rd_model's checkpoints; a hyperprior's was 'not a helpers.rd_model/1'."""
    folder, _ = hyper_checkpoints
    assert isinstance(load_codec_checkpoint(folder / "hp0.pt")[0], hyperprior.ScaleHyperpriorModel)
    assert isinstance(load_codec_checkpoint(folder / "rd.pt")[0], FactorizedPriorModel)
    torch.save({"format": "helpers.rd_model/9", "config": {}}, tmp_path / "future.pt")
    with pytest.raises(ValueError, match=r"future\.pt is not a helpers\.rd_model/1 or helpers\.hyperprior/1 "
                                         r"checkpoint \(format 'helpers\.rd_model/9'\).*tools/train_codec\.py"):
        Codec.load(tmp_path / "future.pt")


def test_train_codec_quick_run_trains_hyperprior_codecs_that_work(tmp_path, capsys):
    import json

    train_codec = _train_codec_tool()
    threads = torch.get_num_threads()
    small = ["--channels", "8", "--latent-channels", "8", "--hyper-channels", "8", "--bf16", "off"]
    try:
        with pytest.raises(SystemExit):
            train_codec.main(["--quick", "--model", "hyperprior", "--out", str(tmp_path), "--crop", "80"])
        assert "multiple of 64" in capsys.readouterr().err
        with pytest.raises(SystemExit):
            train_codec.main(["--quick", "--model", "hyperprior", "--out", str(tmp_path), "--min-scale", "1.5"])
        assert "--min-scale 1.5 must be in (0, 1]" in capsys.readouterr().err
        assert train_codec.main(["--quick", "--model", "hyperprior", "--out", str(tmp_path), "--min-scale", "0.5",
                                 *small]) in (0, None)
        assert "crops (scales 0.5..1, flips)" in capsys.readouterr().out
        manifest = json.loads((tmp_path / "manifest.json").read_text())
        assert manifest["settings"]["min_scale"] == 0.5 and manifest["cpu"]
        assert [c["file"] for c in manifest["checkpoints"]] == ["hp_lambda0.013.pt", "hp_lambda0.0045.pt"]
        assert all(0 < c["val_ssim"] <= 1 for c in manifest["checkpoints"])
        image = smooth_image(40, 56)
        for entry in manifest["checkpoints"]:
            codec = Codec.load(tmp_path / entry["file"])
            assert type(codec) is HyperpriorCodec and codec.model.config["hyper_channels"] == 8
            data = codec.compress(image)
            found = codec_for_stream(data, shipped_checkpoints(tmp_path))
            assert found.name == codec.name and found.decompress(data).shape == image.shape
    finally:
        torch.set_num_threads(threads)
