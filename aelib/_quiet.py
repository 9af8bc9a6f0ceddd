"""Keep TensorFlow's start-up noise off the user's screen.

TensorFlow's C++ runtime writes a few lines to file descriptor 2 while it
loads ("I0000 … oneDNN custom operations are on", "Could not find cuda
drivers", "All log messages before absl::InitializeLog() …"), before
``TF_CPP_MIN_LOG_LEVEL`` takes effect, so they reach the screen of every
notebook kernel and study process. :func:`import_tensorflow` imports it with
descriptor 2 pointed at the null device for the import only, unless the user
asked for TensorFlow's log lines (``TF_CPP_MIN_LOG_LEVEL=0``). A failing
import still raises its Python exception, which is not written to descriptor 2
until after the redirection ends.
"""
from __future__ import annotations

import contextlib
import logging
import os
import sys


@contextlib.contextmanager
def stderr_to_devnull():
    """Point file descriptor 2 at the null device inside the block (C and C++ writes included)."""
    try:
        sys.stderr.flush()
    except (AttributeError, ValueError):
        pass
    saved = os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


class _NotRetracing(logging.Filter):
    """Drops TensorFlow's "N out of the last M calls … triggered tf.function retracing" warning. Every model
    the study builds traces its own predict and train functions once; TensorFlow counts those traces across
    models and warns as if one function were being retraced, which is not the case here."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "triggered tf.function retracing" not in record.getMessage()


def import_tensorflow():
    """``import tensorflow`` without its C++ start-up lines (see the module docstring) and without the
    retracing warning (:class:`_NotRetracing`); returns the module."""
    if "tensorflow" in sys.modules or os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0") == "0":
        import tensorflow
    else:
        with stderr_to_devnull():
            import tensorflow
    logger = logging.getLogger("tensorflow")
    if not any(isinstance(f, _NotRetracing) for f in logger.filters):
        logger.addFilter(_NotRetracing())
    return tensorflow
