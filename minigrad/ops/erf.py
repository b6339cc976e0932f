"""The error function on whole numpy arrays, in the array's own precision, without scipy.

numpy has no vectorized erf, and the exact GELU needs one. Two formulas, chosen by dtype:

float64: W. J. Cody's rational Chebyshev approximations ("Rational Chebyshev approximations for
the error function", Math. Comp. 23, 1969, pp. 631-638; the coefficients of his SPECFUN routine
CALERF), accurate to float64 rounding (|error| <= 2.3e-16 against math.erf). With y = |x|:

    y <= 0.46875        erf(x)  = x P1(x^2) / Q1(x^2)
    0.46875 < y <= 4    erfc(y) = exp(-y^2) P2(y) / Q2(y)
    y > 4               erfc(y) = exp(-y^2) / y * (1/sqrt(pi) - z P3(z) / Q3(z)),  z = 1/y^2

and erf(x) = sign(x) (1 - erfc(y)) outside the first interval.

float32 (and narrower): erf(x) = tanh(x P(min(x^2, 16))), P's argument clipped at |x| = 4. float32
erf rounds to +-1 from |x| = 3.92 on, but numpy's float32 tanh returns 1 - 2^-24, one step short
of 1, for arguments up to about 10; at the clip the argument x P(16) is 10.6 (and beyond it
larger), so erf reaches +-1 exactly
and the exact GELU of a large negative x is 0, not -3e-8 |x|. P is a degree-7 polynomial fitted
for this module (a near-minimax fit of atanh(erf(x)) / x in powers of x^2, relative error 7e-8 in
exact arithmetic, about 2e-7, i.e. 2 ulp, when evaluated in float32; the tests check it against
math.erf). Why a second
formula: Cody's needs each element's interval, and picking elements by a bool mask costs ~4 ms
per million float32 elements in numpy; evaluating every interval on the whole array instead
took ~9 ms per million, against ~2.5 ms for this single smooth formula (tanh is vectorized).

For Phi (below) the 1/sqrt 2 is folded into P's coefficients, and x^2 is the caller's: the
exact GELU needs x^2 for its derivative too, so the pass that squares x is made once.

The normal CDF Phi(x) = (1 + erf(x / sqrt 2)) / 2, which the exact GELU needs, loses its digits
in the lower tail: erf is there -1 plus a few ulp of 1, and 1 + erf keeps only those few ulp
(float32's GELU(-5) came out 17% low; float64's Phi(-9) came out 0). `normal_cdf` therefore
computes Phi for x < -3 as erfc(-x / sqrt 2) / 2, with Cody's erfc in float64 and, in float32,
the erfc of W. H. Press et al., "Numerical Recipes in C" (2nd ed., 1992, section 6.2, `erfcc`):
a Chebyshev fit in t = 1 / (1 + y/2) with relative error below 1.2e-7 for every y >= 0. The tail
then keeps its digits (float32: a relative 1e-5 down to x = -9), and Phi reaches 0 exactly only
where erfc underflows.
"""
from __future__ import annotations

import numpy as np

from ..parallel import map_blocks

# Polynomial coefficients, highest power first.
_P1 = (1.85777706184603153e-1, 3.16112374387056560e0, 1.13864154151050156e2, 3.77485237685302021e2,
       3.20937758913846947e3)
_Q1 = (1.0, 2.36012909523441209e1, 2.44024637934444173e2, 1.28261652607737228e3, 2.84423683343917062e3)
_P2 = (2.15311535474403846e-8, 5.64188496988670089e-1, 8.88314979438837594e0, 6.61191906371416295e1,
       2.98635138197400131e2, 8.81952221241769090e2, 1.71204761263407058e3, 2.05107837782607147e3,
       1.23033935479799725e3)
_Q2 = (1.0, 1.57449261107098347e1, 1.17693950891312499e2, 5.37181101862009858e2, 1.62138957456669019e3,
       3.29079923573345963e3, 4.36261909014324716e3, 3.43936767414372164e3, 1.23033935480374942e3)
_P3 = (1.63153871373020978e-2, 3.05326634961232344e-1, 3.60344899949804439e-1, 1.25781726111229246e-1,
       1.60837851487422766e-2, 6.58749161529837803e-4)
_Q3 = (1.0, 2.56852019228982242e0, 1.87295284992346047e0, 5.27905102951428412e-1, 6.05183413124413191e-2,
       2.33520497626869185e-3)
_INV_SQRT_PI = 0.56418958354775628695

_TANH_P = (5.421627060087755e-09, 2.7575573707949047e-08, -4.794601652196026e-06, 8.459657494809552e-05,
           -6.148382392496585e-04, -1.9528815007185631e-04, 1.0276986411478817e-01, 1.12837924718782)
_TANH_CLIP = 4.0
_INV_SQRT2 = 0.70710678118654752440
# _TANH_P for erf(x / sqrt 2) as a function of x: the power k of x^2 scaled by (1/sqrt 2)^(2k + 1)
_PHI_P = tuple(c * _INV_SQRT2 ** (2 * (len(_TANH_P) - 1 - i) + 1) for i, c in enumerate(_TANH_P))

# Press et al.'s erfc(y) = t exp(-y^2 + poly(t)), t = 1 / (1 + y/2); poly's coefficients, highest first.
_ERFC_T = (0.17087277, -0.82215223, 1.48851587, -1.13520398, 0.27886807, -0.18628806, 0.09678418,
           0.37409196, 1.00002368, -1.26551223)
_TAIL = -3.0  # below it 1 + erf(x / sqrt 2) drifts: in float32 1e-3 relative at -4, 19% at -5


def _polyval(coeffs: tuple[float, ...], t: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """coeffs[0] t^n + ... + coeffs[n] (n >= 1) by Horner's rule, in t's dtype (into `out`)."""
    acc = np.multiply(t, coeffs[0], out=out)
    acc += coeffs[1]
    for c in coeffs[2:]:
        acc *= t
        acc += c
    return acc


def _erfc_middle(y: np.ndarray) -> np.ndarray:
    """erfc(y) for 0.46875 < y <= 4."""
    return np.exp(-y * y) * _polyval(_P2, y) / _polyval(_Q2, y)


def _erfc_large(y: np.ndarray) -> np.ndarray:
    """erfc(y) for y > 4 (exp underflows to 0 past y ~ 27, as erfc does)."""
    with np.errstate(over="ignore", under="ignore"):
        z = 1 / (y * y)
        return np.exp(-y * y) / y * (_INV_SQRT_PI - z * _polyval(_P3, z) / _polyval(_Q3, z))


def _erf_cody(flat: np.ndarray, out: np.ndarray) -> None:
    y = np.abs(flat)
    out.fill(np.nan)  # NaN falls in no interval and stays NaN
    small = np.flatnonzero(y <= 0.46875)
    s = flat[small] * flat[small]
    out[small] = flat[small] * _polyval(_P1, s) / _polyval(_Q1, s)
    for erfc, inside in ((_erfc_middle, (y > 0.46875) & (y <= 4.0)), (_erfc_large, y > 4.0)):
        i = np.flatnonzero(inside)
        out[i] = np.copysign(1 - erfc(y[i]), flat[i])


def _tanh_form(x: np.ndarray, squares: np.ndarray, coeffs: tuple[float, ...], most: float,
               out: np.ndarray) -> None:
    """out = tanh(x P(min(x^2, most))): erf(x) with P = _TANH_P and most = 4^2, or erf(x / sqrt 2)
    with the 1/sqrt 2 folded into P (_PHI_P) and most = (4 sqrt 2)^2. Past the clip the
    argument only grows (|x| P(most) >= 10.6), so tanh is +-1 there, as at the clip."""
    _polyval(coeffs, np.minimum(squares, most), out=out)
    out *= x
    np.tanh(out, out=out)


def _erf_tanh(x: np.ndarray, out: np.ndarray) -> None:
    _tanh_form(x, x * x, _TANH_P, _TANH_CLIP ** 2, out)


def erf(x: np.ndarray) -> np.ndarray:
    """erf of a float array, elementwise, in its own dtype: float64 to float64 rounding with
    Cody's approximations, float32 to about 2 ulp with a faster formula. Other inputs (ints)
    are computed in float64."""
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
    flat = x.reshape(-1)  # elementwise: any blocks will do; a 0-d array becomes (1,)
    out = np.empty_like(flat)
    map_blocks(_erf_cody if x.dtype.itemsize >= 8 else _erf_tanh, flat, out)
    return out.reshape(x.shape)


def _erfc_of_tail(y: np.ndarray) -> np.ndarray:
    """erfc(y) for y >= 2 (the lower tail of Phi, where 1 + erf has cancelled), in y's dtype:
    Cody's two outer intervals in float64, Press et al.'s fit in float32."""
    if y.dtype.itemsize >= 8:
        return np.where(y <= 4.0, _erfc_middle(y), _erfc_large(y))
    t = y * 0.5
    t += 1
    np.reciprocal(t, out=t)
    exponent = _polyval(_ERFC_T, t)
    exponent -= y * y
    out = np.exp(exponent, out=exponent)
    out *= t
    return out


def normal_cdf(x: np.ndarray, squares: np.ndarray | None = None) -> np.ndarray:
    """Phi(x) = (1 + erf(x / sqrt 2)) / 2, the standard normal CDF, of a float array in its own
    dtype; below x = -3 it is erfc(-x / sqrt 2) / 2 instead, whose digits 1 + erf has lost (see
    the module's docstring). `squares`, x * x, when the caller has it (GELU's derivative needs
    it too): the float32 formula starts from it."""
    if x.dtype.itemsize >= 8:
        cdf = erf(x * _INV_SQRT2)
    else:  # erf's float32 form, with x / sqrt 2 folded into its polynomial
        cdf = np.empty(x.shape, dtype=x.dtype)  # C order, so that reshape(-1) below is a view
        _tanh_form(x, x * x if squares is None else squares, _PHI_P, 2 * _TANH_CLIP ** 2, cdf)
    cdf += 1
    cdf *= 0.5
    # The tail is rare in activations, so it is patched by index: one pass to find it.
    tail = np.flatnonzero(x < _TAIL)
    if tail.size:  # (cdf is C-contiguous, from erf or from the line above: reshape is a view)
        cdf.reshape(-1)[tail] = 0.5 * _erfc_of_tail(np.take(x, tail) * -_INV_SQRT2)
    return cdf
