"""helpers.entropy: coding one list of values per table row (``encode_rows`` / ``decode_rows``), which the scale
hyperprior uses and ``encode_symbols`` is built on. (The older entropy tests are still in test_codec.py.)"""

import numpy as np
import pytest

from helpers.entropy import CdfTables, CodecError, decode_rows, decode_symbols, encode_rows, encode_symbols

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
