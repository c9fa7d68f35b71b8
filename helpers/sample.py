"""The embedded LIVE-shaped sample: built offline, deterministically, from photographs installed packages carry.

``build_sample()`` (re-exported by ``helpers.data``) writes, by default under ``helpers.paths.SAMPLE_DIR``::

    refimgs/<name>.bmp        19 reference images (RGB, 24-bit BMP as in LIVE), short side >= 256, long side <= 768
    jpeg/img1.jpg ...         each reference saved by Pillow at the qualities in SAMPLE_QUALITIES (real JPEG files,
                              so their bit rate is their size: bpp = 8 * bytes / (width * height))
    jpeg/info.txt             LIVE's format, one line per JPEG: ``<reference> <distorted> <bits per pixel>``
    jpeg/qualities.txt        ``<distorted> <Pillow quality>`` (the real LIVE has no such file)
    SOURCES.md                where each image comes from, its license, and what was done to it
    MANIFEST.json             written last, atomically: every file with its size and sha256

The whole tree is built in a temporary sibling folder and renamed into place, so a reader never sees a half-built
sample; an existing sample whose manifest is missing, from an older version, or whose files no longer match it is
rebuilt. The same packages give the same bytes: nothing depends on time, locale or order of a directory listing.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from PIL import Image

from . import paths
from .files import atomic_write
from .images import DataError, read_image

__all__ = ["build_sample", "sample_is_complete", "SAMPLE_QUALITIES", "SAMPLE_SOURCES", "MANIFEST_NAME"]

#: Pillow JPEG qualities of the sample's distorted versions: about 0.2 to 3 bits per pixel, the span of LIVE's JPEGs.
SAMPLE_QUALITIES = (5, 10, 20, 30, 50, 75, 90)
#: The manifest's name; its presence (with the right version and matching files) means "built".
MANIFEST_NAME = "MANIFEST.json"
#: Bump when the sample's content changes: an older sample is then rebuilt.
SAMPLE_VERSION = 1
MAX_SIDE = 768  # long side cap (LIVE's references are 768x512 or close)
MIN_SIDE = 256  # short side floor
_OWN_ENTRIES = {"refimgs", "jpeg", "SOURCES.md", MANIFEST_NAME}


@dataclass(frozen=True)
class Source:
    name: str  # reference file stem
    package: str  # "scikit-image" or "matplotlib"
    file: str  # file inside the package
    call: str  # how to get it from Python
    subject: str
    origin: str
    license: str
    crop: tuple[int, int, int, int] | None = None  # (left, upper, right, lower) in the stored image


_SK = "scikit-image"
#: The table of the sample's references, one record per image with the fields of :class:`Source`, in order (img
#: numbering follows this order, then the qualities). Licenses as the packages document them (scikit-image's
#: ``skimage.data`` docstrings; matplotlib ships grace_hopper.jpg without a license note of its own).
SOURCES_FILE = Path(__file__).with_name("sample_sources.json")


def _read_sources(path: Path) -> tuple[Source, ...]:
    """One :class:`Source` per record of the JSON table at ``path`` (``crop``: four integers, or null for none)."""
    records = json.loads(path.read_text(encoding="utf-8"))
    return tuple(Source(**{**r, "crop": tuple(r["crop"]) if r["crop"] else None}) for r in records)


#: Every reference of the sample, read from :data:`SOURCES_FILE`.
SAMPLE_SOURCES: tuple[Source, ...] = _read_sources(SOURCES_FILE)


def _source_path(src: Source) -> Path:
    if src.package == _SK:
        p = Path(str(files("skimage.data") / src.file))
    else:
        import matplotlib

        p = Path(matplotlib.get_data_path()) / src.file
    if not p.is_file():
        raise DataError(
            f"{p}: the {src.package} file the embedded sample needs for '{src.name}' is missing. "
            f"Reinstall the kit's environment (make setup) so that {src.package} is complete."
        )
    return p


def _reference_image(src: Source, _decoded: dict) -> Image.Image:
    path = _source_path(src)
    if path not in _decoded:
        _decoded[path] = read_image(path)  # RGB uint8: grayscale files become gray RGB
    a = _decoded[path]
    im = Image.fromarray(a, "RGB")
    if src.crop is not None:
        im = im.crop(src.crop)
    w, h = im.size
    if max(w, h) > MAX_SIDE:
        scale = MAX_SIDE / max(w, h)
        im = im.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.LANCZOS)
    if min(im.size) < MIN_SIDE:
        raise DataError(f"{path}: '{src.name}' is {im.size[0]}x{im.size[1]}, below the sample's {MIN_SIDE} px floor.")
    return im


def _encode(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def _sources_md(rows: list[tuple[Source, tuple[int, int]]]) -> str:
    lines = [
        "# Where the embedded sample's images come from",
        "",
        "Built by `helpers.data.build_sample()` from images that installed Python packages carry; nothing is",
        "downloaded. Each reference is decoded to RGB (grayscale files become gray RGB), cropped where noted,",
        f"downscaled with a Lanczos filter where its long side exceeded {MAX_SIDE} px, and saved as a 24-bit BMP.",
        f"`jpeg/imgN.jpg` are Pillow JPEGs of each reference at qualities {', '.join(map(str, SAMPLE_QUALITIES))}",
        "(4:2:0, optimized Huffman tables); `jpeg/info.txt` gives their bit rate measured from the file size.",
        "",
        "| reference | size | package | file | how to get it | subject | origin | license | crop (l, u, r, b) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for src, (w, h) in rows:
        crop = ", ".join(map(str, src.crop)) if src.crop else "none"
        lines.append(
            f"| {src.name}.bmp | {w}x{h} | {src.package} | {src.file} | `{src.call}` | {src.subject} | "
            f"{src.origin} | {src.license} | {crop} |"
        )
    lines += [
        "",
        "Licenses are as the packages document them (the docstrings of `skimage.data`; matplotlib ships",
        "`grace_hopper.jpg` without a license note). The packages themselves: scikit-image BSD-3-Clause,",
        "matplotlib the Matplotlib License (PSF-based).",
        "",
    ]
    return "\n".join(lines)


def _write_sample(root: Path) -> None:
    (root / "refimgs").mkdir(parents=True)
    (root / "jpeg").mkdir()
    decoded: dict = {}
    info, qualities, rows = [], [], []
    n = 0
    for src in SAMPLE_SOURCES:
        im = _reference_image(src, decoded)
        w, h = im.size
        rows.append((src, (w, h)))
        ref_name = f"{src.name}.bmp"
        (root / "refimgs" / ref_name).write_bytes(_encode(im, "BMP"))
        for q in SAMPLE_QUALITIES:
            n += 1
            data = _encode(im, "JPEG", quality=q, optimize=True)
            dist_name = f"img{n}.jpg"
            (root / "jpeg" / dist_name).write_bytes(data)
            info.append(f"{ref_name} {dist_name} {8 * len(data) / (w * h):.4f}")
            qualities.append(f"{dist_name} {q}")
    (root / "jpeg" / "info.txt").write_text("\n".join(info) + "\n", encoding="ascii", newline="\n")
    (root / "jpeg" / "qualities.txt").write_text("\n".join(qualities) + "\n", encoding="ascii", newline="\n")
    (root / "SOURCES.md").write_text(_sources_md(rows), encoding="utf-8", newline="\n")
    entries = {}
    for p in sorted(root.rglob("*")):
        if p.is_file():
            data = p.read_bytes()
            entries[p.relative_to(root).as_posix()] = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    manifest = {
        "kind": "embedded sample",
        "version": SAMPLE_VERSION,
        "references": len(SAMPLE_SOURCES),
        "jpeg": n,
        "qualities": list(SAMPLE_QUALITIES),
        "files": entries,
    }
    atomic_write(root / MANIFEST_NAME, (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode())


def read_manifest(root) -> dict | None:
    """The sample's manifest, or None when ``root`` holds no (readable) manifest."""
    try:
        return json.loads((Path(root) / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def sample_is_complete(root) -> bool:
    """True when ``root`` holds a sample of this version whose files all exist with the sizes its manifest lists."""
    root = Path(root)
    m = read_manifest(root)
    if not m or m.get("kind") != "embedded sample" or m.get("version") != SAMPLE_VERSION:
        return False
    try:
        return all((root / rel).stat().st_size == e["bytes"] for rel, e in m["files"].items())
    except (OSError, KeyError, TypeError, AttributeError):
        return False


def _check_ours(root: Path) -> None:
    """Refuse a folder that holds anything the sample does not write (it is somebody's, not a stale sample)."""
    if not root.is_dir():
        raise DataError(f"{root}: exists and is not a folder. Choose another place for the sample.")
    foreign = sorted({p.name for p in root.iterdir()} - _OWN_ENTRIES)
    if foreign:
        raise DataError(
            f"{root}: exists and is not a complete embedded sample, and holds files the sample does not write "
            f"({', '.join(foreign[:5])}). Choose another folder, or delete this one if it is yours to delete."
        )


def _remove_stale(root: Path) -> None:
    _check_ours(root)
    shutil.rmtree(root)


def build_sample(root=None, *, force: bool = False) -> Path:
    """Build the embedded LIVE-shaped sample (offline, deterministic) and return its root; reuse it if built.

    ``root`` defaults to ``helpers.paths.SAMPLE_DIR``. ``force=True`` rebuilds even a complete sample.
    A folder left half-built (no manifest, or files that no longer match it) is rebuilt; a folder that holds
    anything else raises :class:`DataError` rather than being deleted.
    """
    root = Path(root) if root is not None else paths.SAMPLE_DIR
    if not force and sample_is_complete(root):
        return root
    if root.exists():
        _check_ours(root)  # before any work: never build only to find the folder is not ours
    root.parent.mkdir(parents=True, exist_ok=True)
    _sweep_old_builds(root)
    tmp = Path(tempfile.mkdtemp(dir=root.parent, prefix=f".{root.name}-building-"))
    try:
        _write_sample(tmp)
        if root.exists():
            if not force and sample_is_complete(root):  # another process finished first: keep its copy
                shutil.rmtree(tmp, ignore_errors=True)
                return root
            _remove_stale(root)
        os.replace(tmp, root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return root


def _sweep_old_builds(root: Path, older_than_s: float = 3600) -> None:
    """Remove temporary build folders a killed build left behind (only ours, only old ones)."""
    now = time.time()
    for p in root.parent.glob(f".{root.name}-building-*"):
        try:
            if p.is_dir() and now - p.stat().st_mtime > older_than_s:
                shutil.rmtree(p, ignore_errors=True)
        except OSError:
            pass

