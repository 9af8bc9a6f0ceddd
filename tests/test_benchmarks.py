"""The GPU check is ready for a device: its smoke mode runs end to end on a CPU."""
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_gpu_check_smoke_writes_its_timings_and_the_concurrent_training_check(tmp_path):
    out = tmp_path / "gpu_check.csv"
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "gpu_check.py"), "--smoke",
                           "--families", "vanilla", "--n-images", "256", "--workers", "2", "--out", str(out)],
                          capture_output=True, text=True, timeout=600, cwd=REPO,
                          env={**os.environ, "AELIB_OFFLINE": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    timings = pd.read_csv(out)
    assert set(timings["determinism_requested"]) == {True, False} and (timings["seconds_per_epoch"] > 0).all()
    concurrent = pd.read_csv(tmp_path / "gpu_check_concurrent.csv")
    assert list(concurrent["workers"]) == [1, 2]  # one at a time is always the baseline
    assert concurrent["speedup"].iloc[0] == 1.0 and (concurrent["wall_s"] > 0).all()
    assert concurrent["max_rmse_diff_vs_one"].max() < 1e-3  # the same runs, whichever way they were trained
    assert "Concurrent training on this device" in proc.stdout


def test_gpu_check_refuses_bad_worker_counts(tmp_path):
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "gpu_check.py"), "--smoke", "--workers", "two",
                           "--out", str(tmp_path / "x.csv")], capture_output=True, text=True, timeout=300, cwd=REPO)
    assert proc.returncode == 2 and "Expected --workers" in proc.stderr and "'two'" in proc.stderr
