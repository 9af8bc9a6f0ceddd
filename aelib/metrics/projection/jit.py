"""numba when it is installed (umap-learn brings it): the one decorator all compiled code uses."""
from __future__ import annotations

try:  # numba is optional
    import numba as _numba

    _HAVE_NUMBA = True
except Exception:  # pragma: no cover - depends on the environment
    _numba = None
    _HAVE_NUMBA = False

# Compiled once and cached in __pycache__ (the first compilation costs seconds);
# no GIL, so kernels run in parallel threads.
_njit = _numba.njit(cache=True, nogil=True) if _HAVE_NUMBA else None
