"""Tests of aelib.augmentation.artworks: the Painter by Numbers reader and the stand-in works."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from aelib.augmentation.artworks import long_tail_counts, read_artworks, standin_works


def test_read_artworks_skips_and_counts_bad_rows(art_folder):
    images, csv = art_folder
    works = read_artworks(images, csv, min_works=2)
    r = works.report
    assert r["n_rows"] == 10
    assert r["n_unreadable"] == 1 and r["unreadable"][0]["filename"] == "broken.jpg"
    assert r["n_missing_files"] == 1 and r["missing_files"] == ["gone.jpg"]
    assert r["n_artists_below_min_works"] == 1 and r["n_works_of_dropped_artists"] == 1  # Carol
    assert len(works) == r["n_works"] == 7
    assert works.artist_names == ["Alice", "Bob"]
    assert np.bincount(works.labels).tolist() == [4, 3]
    assert all(p.is_file() for p in works.paths)
    json.dumps(r)  # the report is JSON-able for provenance


def test_read_artworks_missing_inputs_say_how_to_get_data(tmp_path, art_folder):
    images, csv = art_folder
    with pytest.raises(FileNotFoundError, match=r"(?s)nope\.csv.*painter-by-numbers"):
        read_artworks(images, tmp_path / "nope.csv")
    with pytest.raises(FileNotFoundError, match=r"(?s)no_such_dir.*painter-by-numbers"):
        read_artworks(tmp_path / "no_such_dir", csv)


def test_read_artworks_nothing_readable_names_the_folder(tmp_path):
    images = tmp_path / "imgs"
    images.mkdir()
    (images / "a.jpg").write_bytes(b"garbage")
    csv = tmp_path / "train_info.csv"
    pd.DataFrame({"filename": ["a.jpg", "b.jpg"], "artist": ["X", "Y"]}).to_csv(csv, index=False)
    with pytest.raises(ValueError, match=str(images)):
        read_artworks(images, csv)



def test_standin_works_are_long_tailed_letters():
    images, labels, names, info = standin_works(n_classes=4, max_works=12, min_works=5, seed=0)
    assert images.shape[1:3] == (28, 28) and len(images) == len(labels)
    assert np.bincount(labels).tolist() == long_tail_counts(4, 12, 5).tolist()
    assert all(n.startswith("letter-") for n in names) and len(set(names)) == 4
    assert info["stand_in"] is True
    again = standin_works(n_classes=4, max_works=12, min_works=5, seed=0)
    np.testing.assert_array_equal(images, again[0])
    with pytest.raises(ValueError, match="n_classes=27"):
        standin_works(n_classes=27)
