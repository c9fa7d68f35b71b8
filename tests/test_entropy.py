"""helpers.entropy: integer tables from pmfs, the golden bytes of the ANS coder, and coding one list of values per
table row (``encode_rows`` / ``decode_rows``), which the scale hyperprior uses and ``encode_symbols`` is built on.
(test_codec.py codes a codec's own tables.)"""

import base64

import numpy as np
import pytest

from helpers.entropy import (CdfTables, CodecError, decode_rows, decode_symbols, encode_rows, encode_symbols,
                             quantize_pmf)

PMFS = [[0.05, 0.2, 0.5, 0.2, 0.05, 1e-4, 1e-4], [0.9, 0.1, 1e-5, 1e-5], [0.25, 0.25, 0.25, 0.25, 1e-3, 1e-3]]
TABLES = CdfTables.from_pmfs([-2, 0, 5], PMFS)


def test_rows_of_any_length_round_trip_with_escapes():
    rows = [np.array([0, 1, -2, 2**31 - 1, -(2**31), 2]), np.array([], dtype=np.int64), np.array([5, 6, 7, 8, 9, 4])]
    payload = encode_rows(rows, TABLES)
    back = decode_rows(payload, TABLES, [len(r) for r in rows])
    assert [b.dtype for b in back] == [np.int32] * 3
    assert all(np.array_equal(b, r) for b, r in zip(back, rows))


def test_encode_symbols_is_one_row_per_channel():
    """The factorized prior's streams are unchanged: a channel is a row."""
    symbols = np.array([[[1000, 1, 1], [2, -3, -1]], [[0, 1, 1], [1, 0, 0]], [[8, 6, 6], [6, 8, -70000]]])
    payload = encode_symbols(symbols, TABLES)
    assert payload == encode_rows([symbols[c].ravel() for c in range(3)], TABLES)
    assert np.array_equal(decode_symbols(payload, TABLES, symbols.shape), symbols)


def test_rows_that_do_not_match_the_tables_are_refused():
    with pytest.raises(ValueError, match="3 rows"):
        encode_rows([np.array([0])] * 2, TABLES)
    with pytest.raises(ValueError, match="integers"):
        encode_rows([np.array([0.5]), np.array([0]), np.array([5])], TABLES)
    with pytest.raises(ValueError, match="32-bit"):
        encode_rows([np.array([2**31]), np.array([0]), np.array([5])], TABLES)


def test_counts_that_a_payload_cannot_hold_are_refused_before_decoding():
    payload = encode_rows([np.array([0]), np.array([0]), np.array([5])], TABLES)
    with pytest.raises(CodecError, match="cannot hold"):
        decode_rows(payload, TABLES, [10**9, 0, 0])
    with pytest.raises(CodecError):
        decode_rows(payload, TABLES, [2, 1, 1])


def test_quantize_pmf_sums_to_precision_and_never_zero():
    pmf = np.array([0.5, 0.3, 1e-12, 0.2 - 1e-12, 0.0])
    f = quantize_pmf(pmf, 16)
    assert f.sum() == 1 << 16 and f.min() >= 1 and f.dtype == np.int32
    assert np.array_equal(f, quantize_pmf(pmf.copy(), 16))
    assert abs(f[0] / 65536 - 0.5) < 1e-3


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
