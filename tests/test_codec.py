"""helpers.entropy / helpers.codec / helpers.bdrate: byte round trips, real size against the model's estimate,
damaged and foreign streams, odd image sizes, the command line, the shipped checkpoints, BD-rate."""

import base64
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import bdrate
from helpers.codec import (CHECKPOINT_DIR, DEFAULT_CHECKPOINT, HEADER_SIZE, Codec, CodecError, Header, main, pack,
                           shipped_checkpoints, unpack)
from helpers.entropy import CdfTables, decode_symbols, encode_symbols, quantize_pmf
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


# -- integer tables and the entropy coder ---------------------------------------------------------------

def test_quantize_pmf_sums_to_precision_and_never_zero():
    pmf = np.array([0.5, 0.3, 1e-12, 0.2 - 1e-12, 0.0])
    f = quantize_pmf(pmf, 16)
    assert f.sum() == 1 << 16 and f.min() >= 1 and f.dtype == np.int32
    assert np.array_equal(f, quantize_pmf(pmf.copy(), 16))
    assert abs(f[0] / 65536 - 0.5) < 1e-3


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


def test_golden_payload_from_fixed_tables():
    """The integer tables and the ANS bytes are a file format: the same pmfs and latents must give these exact
    integers and bytes on every machine and every run (a change here breaks every stream already written)."""
    pmfs = [[0.05, 0.2, 0.5, 0.2, 0.05, 1e-4, 1e-4], [0.9, 0.1, 1e-5, 1e-5], [0.25, 0.25, 0.25, 0.25, 1e-3, 1e-3]]
    tables = CdfTables.from_pmfs([-2, 0, 5], pmfs)
    assert tables.freqs.tolist() == [[3277, 13104, 32759, 13104, 3277, 8, 7], [58978, 6554, 2, 2, 0, 0, 0],
                                     [16351, 16351, 16351, 16351, 66, 66, 0]]
    assert tables.identity().hex() == "7b2c9ef25b9652a7"
    symbols = np.array([[[1000, 1, 1, 3, 1], [2, 2, -2, -3, -1]], [[0, 1, 1, 0, 0], [1, 0, 1, 0, 0]],
                        [[8, 6, 6, 6, 7], [6, 8, 6, 6, -70000]]], dtype=np.int32)
    payload = base64.b64decode("VqdzbMEZAgfI9/+/n3LUfQv6/345EgAA")
    assert encode_symbols(symbols, tables) == payload
    assert np.array_equal(decode_symbols(payload, tables, symbols.shape), symbols)


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


def test_every_single_byte_corruption_is_caught(stream):
    codec, data = stream
    for i in range(len(data)):
        for flip in (0x01, 0x80):
            bad = bytearray(data)
            bad[i] ^= flip
            with pytest.raises(CodecError):
                codec.decompress(bytes(bad))


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
    codec, data = stream
    for offset, value, message in [(4, 2, "version 2"), (5, 1, "flags")]:
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

def test_shipped_checkpoints_load_and_decode():
    paths = shipped_checkpoints()
    assert len(paths) >= 4, f"train them with tools/train_codec.py into {CHECKPOINT_DIR}"
    assert sum(p.stat().st_size for p in paths) <= 5 * 1024 * 1024
    assert DEFAULT_CHECKPOINT in paths
    from skimage import data as skdata
    image = skdata.astronaut()[40:140, 150:300]                  # 100 x 150: a face, hair, a flag
    results = []
    for path in paths:
        codec = Codec.load(path)
        data = codec.compress(image)
        decoded = codec.decompress(data)
        assert decoded.shape == image.shape
        results.append((8 * len(data) / image[..., 0].size, psnr(image, decoded)))
    ids = {Codec.load(p).model_id for p in paths}
    assert len(ids) == len(paths)
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


def test_shipped_checkpoints_measure_what_their_manifest_says():
    """checkpoints/manifest.json records each codec's validation bpp (real bytes) and PSNR on the embedded sample;
    measuring again with tools/train_codec.py's own data and measure() gives the same figures."""
    import json

    train_codec = _train_codec_tool()
    manifest = json.loads((CHECKPOINT_DIR / "manifest.json").read_text())
    settings = manifest["settings"]
    _, val_images, _ = train_codec.load_data(settings["crop"], settings["seed"])
    assert len(val_images) >= 3
    for entry in manifest["checkpoints"]:
        measured = train_codec.measure(Codec.load(CHECKPOINT_DIR / entry["file"]), val_images)
        assert measured["bpp"] == pytest.approx(entry["val_bpp"], rel=0.01), entry["file"]
        assert measured["psnr"] == pytest.approx(entry["val_psnr"], abs=0.05), entry["file"]


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


# -- BD-rate -------------------------------------------------------------------------------------------

R = np.array([0.1, 0.25, 0.5, 1.0, 2.0])
P = np.array([26.0, 29.0, 32.0, 35.0, 38.0])


@pytest.mark.parametrize("factor", [0.5, 0.8, 1.0, 1.3])
def test_bd_rate_of_a_curve_shifted_by_a_rate_factor(factor):
    assert bdrate.bd_rate(R, P, R * factor, P) == pytest.approx((factor - 1) * 100, abs=1e-9)
    assert bdrate.bd_rate(R * factor, P, R, P) == pytest.approx((1 / factor - 1) * 100, abs=1e-9)


def test_bd_rate_hand_computed_case():
    """ref: log R = P / 10, test: log R = P / 10 - (P - 30) / 20, both linear (PCHIP reproduces lines), on
    P in [30, 34] after the overlap: mean log difference = -mean(P - 30) / 20 = -2 / 20 -> exp(-0.1) - 1."""
    p_ref = np.array([28.0, 30.0, 32.0, 34.0])
    p_test = np.array([30.0, 32.0, 34.0, 36.0])
    r_ref = np.exp(p_ref / 10)
    r_test = np.exp(p_test / 10 - (p_test - 30) / 20)
    assert bdrate.bd_rate(r_ref, p_ref, r_test, p_test) == pytest.approx((np.exp(-0.1) - 1) * 100, abs=1e-9)


def test_bd_psnr_and_psnr_at_rate():
    assert bdrate.bd_psnr(R, P, R, P + 1.5) == pytest.approx(1.5, abs=1e-9)
    assert bdrate.psnr_at_rate(R, P, 0.5) == pytest.approx(32.0)
    assert 29.0 < bdrate.psnr_at_rate(R, P, 0.3) < 32.0
    assert np.isnan(bdrate.psnr_at_rate(R, P, 0.05))


def test_bd_rate_needs_overlapping_curves():
    with pytest.raises(ValueError, match="overlap"):
        bdrate.bd_rate(R, P, R, P + 20)
    with pytest.raises(ValueError):
        bdrate.bd_rate(R, P, [1.0], [30.0])


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
