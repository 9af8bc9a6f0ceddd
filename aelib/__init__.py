"""aelib: a reproducible comparative study of autoencoder families."""
from __future__ import annotations

import os as _os

# whether the user chose TensorFlow's C++ log level (the study's command line
# quietens it further only when they did not)
TF_LOG_LEVEL_SET_BY_USER = "TF_CPP_MIN_LOG_LEVEL" in _os.environ
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
_os.environ.setdefault("KERAS_BACKEND", "tensorflow")

__version__ = "0.1.0"
