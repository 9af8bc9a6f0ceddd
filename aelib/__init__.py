"""aelib: a reproducible comparative study of autoencoder families."""
from __future__ import annotations

import os as _os

_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
_os.environ.setdefault("KERAS_BACKEND", "tensorflow")

__version__ = "0.1.0"
