"""Small order-statistics kernels shared by the signal kernels."""

from __future__ import annotations

import math

import numpy as np

from ._jit import njit


@njit(cache=True, nogil=True)
def median_inplace(a: np.ndarray) -> float:
    """Median of ``a`` (as ``np.median``: the mean of the two middle values when the size is
    even, NaN when a value is NaN or ``a`` is empty) by quickselect, reordering ``a`` in
    place; O(n) with no allocation."""
    n = a.size
    if n == 0:
        return np.nan
    for i in range(n):
        if math.isnan(a[i]):
            return np.nan  # as np.median
    k = n // 2
    lo = 0
    hi = n - 1
    while hi > lo:
        # median-of-three pivot, Hoare partition
        mid = (lo + hi) // 2
        p0 = a[lo]
        p1 = a[mid]
        p2 = a[hi]
        if p0 > p1:
            p0, p1 = p1, p0
        if p1 > p2:
            p1 = p2
            if p0 > p1:
                p1 = p0
        i = lo
        j = hi
        while i <= j:
            while a[i] < p1:
                i += 1
            while a[j] > p1:
                j -= 1
            if i <= j:
                t = a[i]
                a[i] = a[j]
                a[j] = t
                i += 1
                j -= 1
        if k <= j:
            hi = j
        elif k >= i:
            lo = i
        else:
            break
    upper = a[k]
    if n % 2 == 1:
        return upper
    lower = a[0]
    for i in range(1, k):
        if a[i] > lower:
            lower = a[i]
    return (lower + upper) / 2.0
