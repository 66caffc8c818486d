"""Numba kernels: arrays in, numbers out.  Imported only where they are used.

Nothing here is imported by ``import edx``; the first call compiles (or loads from
the numba cache, ``NUMBA_CACHE_DIR`` honoured) the kernels it needs.
"""
