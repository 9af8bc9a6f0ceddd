"""scripts/depth_by_size.py's report, from a made-up set of runs (no training)."""
from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

import pandas as pd

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "depth_by_size.py"


def _script():
    spec = importlib.util.spec_from_file_location("depth_by_size", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _runs() -> pd.DataFrame:
    rows = []
    # at 4,000 images depth 2 wins at z = 10 by less than the seeds' spread; at 15,000 depth 3 wins clearly
    for n, n_fit, val in ((4000, 3600, {1: (0.120, 0.121), 2: (0.1190, 0.1212), 3: (0.125, 0.126)}),
                          (15000, 13500, {1: (0.110, 0.111), 2: (0.105, 0.106), 3: (0.100, 0.101)})):
        for depth, values in val.items():
            for seed, v in enumerate(values):
                rows.append({"n_train": n, "n_fit": n_fit, "latent_dim": 10, "depth": depth, "seed": seed,
                             "val_rmse": v, "rmse_mean": v + 0.001, "epochs_run": 50, "train_seconds": 600.0})
    return pd.DataFrame(rows)


def test_report_names_the_depth_chosen_at_each_size_and_whether_it_leads_clearly(tmp_path):
    script = _script()
    args = argparse.Namespace(out=tmp_path, depths=[1, 2, 3], z=[10], seeds=[0, 1], dataset="fashion_mnist",
                              sizes=[4000, 15000, 60000])
    script.write_outputs(args, _runs())
    text = (tmp_path / "REPORT.md").read_text()
    assert "- z = 10: depth 2 at 4,000; depth 3 at 15,000." in text
    assert "n_train = 4,000, z = 10: best depth 2" in text and "not a clear winner" in text
    assert "n_train = 15,000, z = 10: best depth 3" in text and "the seeds' ranges do not overlap" in text
    assert "The fit sees 3,600, 13,500 images" in text
    assert "the 12 runs' own training times add up to 2.0 h" in text
    assert "Not run yet: training-set sizes 60,000" in text
    table = pd.read_csv(tmp_path / "depth_by_size.csv")
    assert table["best_on_validation"].sum() == 2 and (tmp_path / "depth_by_size.png").is_file()


def test_sizes_beyond_the_data_or_a_data_set_that_cannot_load_are_refused_before_training(monkeypatch, capsys):
    import numpy as np

    import aelib.data

    script = _script()
    five_thousand = (np.zeros((5000, 28, 28, 1)), np.zeros(5000))
    monkeypatch.setattr(aelib.data, "load_dataset", lambda name, split: five_thousand)
    assert script.main(["--sizes", "4000", "15000"]) == 2
    err = capsys.readouterr().err
    assert "between 100 and the 5,000 images" in err and "Received: --sizes 4000 15000" in err

    def missing(name, split):
        raise FileNotFoundError("no fashion_mnist files found")

    monkeypatch.setattr(aelib.data, "load_dataset", missing)
    assert script.main(["--dataset", "fashion_mnist"]) == 2
    err = capsys.readouterr().err
    assert "cannot load the 'fashion_mnist' training split: no fashion_mnist files found" in err
