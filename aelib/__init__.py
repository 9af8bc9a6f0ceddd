"""aelib: a reproducible comparative study of autoencoder families."""
from __future__ import annotations

import os as _os

# TensorFlow's C++ log lines (with this TensorFlow, a harmless "NodeDef mentions
# attribute" error on every fit) would bury the study's progress lines; errors
# still surface as Python exceptions. Set TF_CPP_MIN_LOG_LEVEL=0 to see them all.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
_os.environ.setdefault("KERAS_BACKEND", "tensorflow")

__version__ = "0.1.0"
