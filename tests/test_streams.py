"""helpers.streams: the two header layouts byte by byte, and the model identity. (What a codec does with a
damaged, foreign or other-kind stream is in test_codec.py.)"""

import hashlib
import json
import struct
import zlib

import pytest

from helpers.entropy import CdfTables, CodecError
from helpers.streams import HEADER_SIZE, HEADER_SIZES, MAGIC, Header, model_identity, pack, unpack


def test_version_1_is_the_layout_every_earlier_stream_has():
    header = Header(b"ABCDEFGH", 37, 51, (8, 3, 4))
    data = pack(header, b"payload")
    head = struct.pack("<4sBB8sIIHHHI", b"NCKc", 1, 0, b"ABCDEFGH", 37, 51, 8, 3, 4, 7)
    assert HEADER_SIZE == 36 and data == head + struct.pack("<I", zlib.crc32(b"payload", zlib.crc32(head))) + \
        b"payload"
    assert unpack(data) == (header, b"payload")


def test_version_2_carries_the_z_shape_and_both_payload_lengths():
    """Before: one version, one payload length."""
    header = Header(b"ABCDEFGH", 130, 65, (8, 3, 2), version=2, z_length=3)
    data = pack(header, b"zzz" + b"yyyy")
    assert data[:4] == MAGIC and data[4] == 2 and HEADER_SIZES[2] == 40 and len(data) == 40 + 7
    assert struct.unpack_from("<HHHII", data, 22) == (8, 3, 2, 3, 4)          # z shape, z length, y length
    assert unpack(data) == (header, b"zzzyyyy")
    with pytest.raises(CodecError, match="truncated: 39 bytes, the header alone has 40"):
        unpack(data[:39])


def test_the_identity_of_a_factorized_model_is_unchanged_and_extras_change_it():
    tables = CdfTables.from_pmfs([-1], [[0.25, 0.5, 0.25, 0.0, 0.0]])
    config = {"channels": 8, "latent_channels": 1}
    before = hashlib.sha256(tables.identity() + json.dumps(config, sort_keys=True).encode()).digest()[:8]
    assert model_identity(tables, config) == before
    assert model_identity(tables, config, b"gaussian tables") != before
