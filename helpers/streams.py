"""The codec's byte-stream format: a header that says which model wrote the stream, the payload, a CRC32.

Two versions, one per model kind; a stream says its kind in its version byte, so a decoder never guesses:

* version 1, the factorized prior (``helpers.rd_model``): one ANS payload, the latent y (C, h, w).
  Every stream written before the hyperprior existed is a version-1 stream and decodes exactly as before.
* version 2, the scale hyperprior (``helpers.hyperprior``): two ANS payloads, z first, then y given z. The header
  holds z's shape (K, h, w) (y's is (M, 4h, 4w)) and both payload lengths.

Layout (all integers little-endian)::

    offset size  field
     0     4     magic b"NCKc"
     4     1     format version: 1 (factorized prior) or 2 (scale hyperprior)
     5     1     flags (0; reserved)
     6     8     model identity: first 8 bytes of SHA-256 of the model's integer tables and config
    14     4     image height H (original, before padding)
    18     4     image width W
    22     2     latent channels      version 1: y's C        version 2: z's K
    24     2     latent height        ceil(H / 16)            ceil(H / 64)
    26     2     latent width         ceil(W / 16)            ceil(W / 64)
    28     4     payload length       version 1: the payload  version 2: the z payload
    (32    4     version 2 only: the y payload length)
    32|36  4     CRC32 of all the bytes before it and the payload
    36|40  ...   payload (version 2: z payload then y payload)

Why a module of its own: the format is what two programs must agree on, byte for byte; ``helpers.codec`` turns
images into latents and latents into these bytes, and reads best without the byte layout in the middle of it.
"""

from __future__ import annotations

import hashlib
import json
import struct
import zlib
from dataclasses import dataclass

from .entropy import CdfTables, CodecError

MAGIC = b"NCKc"
KINDS = {1: "factorized prior", 2: "scale hyperprior"}          # format version -> the model kind that writes it
_LAYOUTS = {1: struct.Struct("<4sBB8sIIHHHI"),                  # everything up to the CRC
            2: struct.Struct("<4sBB8sIIHHHII")}
HEADER_SIZE = _LAYOUTS[1].size + 4                              # 36 bytes (version 1)
HEADER_SIZES = {v: layout.size + 4 for v, layout in _LAYOUTS.items()}


@dataclass(frozen=True)
class Header:
    """What a stream's header says. ``latent_shape``: y's (C, h, w) in version 1, z's (K, h, w) in version 2;
    ``z_length``: the bytes of the z payload (version 2; the y payload follows it)."""
    model_id: bytes
    height: int
    width: int
    latent_shape: tuple[int, int, int]
    version: int = 1
    z_length: int = 0


def pack(header: Header, payload: bytes) -> bytes:
    """Header + payload + CRC32 -> the byte stream (version 2: ``payload`` is the z payload then the y payload)."""
    if header.version not in _LAYOUTS:
        raise ValueError(f"unknown stream format version {header.version}; known: {sorted(_LAYOUTS)}")
    lengths = [len(payload)] if header.version == 1 else [header.z_length, len(payload) - header.z_length]
    head = _LAYOUTS[header.version].pack(MAGIC, header.version, 0, header.model_id, header.height, header.width,
                                         *header.latent_shape, *lengths)
    crc = zlib.crc32(payload, zlib.crc32(head))
    return head + struct.pack("<I", crc) + payload


def unpack(data: bytes) -> tuple[Header, bytes]:
    """The inverse of :func:`pack`; checks length, magic, version and CRC (not the model: see ``Codec``)."""
    data = bytes(data)
    if len(data) < HEADER_SIZE:
        raise CodecError(f"stream truncated: {len(data)} bytes, the header alone has {HEADER_SIZE}")
    if data[:4] != MAGIC:
        raise CodecError(f"not a stream of this codec (magic {data[:4]!r}, expected {MAGIC!r})")
    version = data[4]
    if version not in _LAYOUTS:
        known = ", ".join(f"{v} ({kind})" for v, kind in KINDS.items())
        raise CodecError(f"stream format version {version}; this codec reads versions {known}")
    layout, size = _LAYOUTS[version], HEADER_SIZES[version]
    if len(data) < size:
        raise CodecError(f"stream truncated: {len(data)} bytes, the header alone has {size}")
    _, _, flags, model_id, height, width, c, h, w, *lengths = layout.unpack_from(data)
    expected = size + sum(lengths)
    if len(data) < expected:
        raise CodecError(f"stream truncated: {len(data)} bytes, the header announces {expected}")
    if len(data) > expected:
        raise CodecError(f"stream has {len(data) - expected} unexpected bytes after the payload")
    (crc,) = struct.unpack_from("<I", data, layout.size)
    payload = data[size:]
    if zlib.crc32(payload, zlib.crc32(data[:layout.size])) != crc:
        raise CodecError("stream corrupted: CRC32 mismatch")
    if flags != 0:
        raise CodecError(f"unknown flags {flags:#x} in the header")
    z_length = lengths[0] if version == 2 else 0
    return Header(model_id, height, width, (c, h, w), version, z_length), payload


def model_identity(tables: CdfTables, config: dict, *more: bytes) -> bytes:
    """8 bytes naming a model for the stream header: its exact integer tables, its architecture, and ``more``
    (a hyperprior adds the identity of its Gaussian tables)."""
    h = hashlib.sha256(tables.identity())
    h.update(json.dumps(config, sort_keys=True).encode())
    for extra in more:
        h.update(extra)
    return h.digest()[:8]
