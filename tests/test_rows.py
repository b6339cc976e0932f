"""minigrad.ops.rows: row sums and row dot products through BLAS, as accurate as numpy's own
reductions, the same bits for a row in any block of rows, and numpy's reductions where BLAS
does not apply."""
from __future__ import annotations

import numpy as np
import pytest

from minigrad.ops import rows
from minigrad.ops.rows import dots, sums


@pytest.mark.parametrize("shape", [(2048, 512), (7, 3, 64), (5, 1), (1, 4096), (3, 0), (0, 8)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sums_and_dots_match_float64_references(shape, dtype) -> None:
    rng = np.random.default_rng(0)
    a, b = (rng.random(shape).astype(dtype) for _ in range(2))
    tolerance = 4e-7 if dtype == np.float32 else 1e-14
    expected_sums = a.astype(np.float64).sum(axis=-1, keepdims=True)
    expected_dots = (a.astype(np.float64) * b).sum(axis=-1, keepdims=True)
    for got, expected in ((sums(a, a.ndim - 1), expected_sums), (dots(a, b), expected_dots)):
        assert got.shape == expected.shape and got.dtype == dtype
        np.testing.assert_allclose(got, expected, rtol=tolerance, atol=0)


def test_a_row_gets_the_same_bits_in_any_block() -> None:
    a, b = np.random.default_rng(1).standard_normal((2, 1001, 384)).astype(np.float32)
    whole_sums, whole_dots = sums(a, 1), dots(a, b)
    for start, stop in ((0, 1), (1, 4), (4, 517), (517, 1001)):
        assert np.array_equal(sums(a[start:stop], 1), whole_sums[start:stop])
        assert np.array_equal(dots(a[start:stop], b[start:stop]), whole_dots[start:stop])


def test_what_blas_does_not_cover_is_numpys_reduction() -> None:
    rng = np.random.default_rng(2)
    long_rows = rng.random((3, rows.max_length + 1)).astype(np.float32)
    np.testing.assert_array_equal(sums(long_rows, 1), long_rows.sum(axis=1, keepdims=True))
    columns = rng.random((6, 5)).astype(np.float32)
    np.testing.assert_array_equal(sums(columns, 0), columns.sum(axis=0, keepdims=True))
    half = rng.random((4, 8)).astype(np.float16)
    assert sums(half, 1).dtype == np.float16 and dots(half, half).dtype == np.float16
    np.testing.assert_array_equal(sums(half, 1), half.sum(axis=1, keepdims=True))
    ints = np.arange(12).reshape(3, 4)
    np.testing.assert_array_equal(sums(ints, 1), [[6], [22], [38]])
    np.testing.assert_array_equal(dots(ints, ints), (ints * ints).sum(axis=1, keepdims=True))


def test_nan_and_inf_propagate_as_in_numpy() -> None:
    a = np.array([[1.0, np.nan, 2.0], [np.inf, 1.0, 0.0], [np.inf, -np.inf, 1.0]], dtype=np.float32)
    with np.errstate(invalid="ignore"):  # inf - inf, in numpy's reduction as in BLAS
        expected = a.sum(axis=1, keepdims=True)
        np.testing.assert_array_equal(sums(a, 1), expected)
        np.testing.assert_array_equal(dots(a, np.ones_like(a)), expected)
