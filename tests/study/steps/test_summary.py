"""Step 08 writes ``summary/`` as a unit: a summary killed or failing part-way leaves the previous one whole."""
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

from aelib.study.steps import summary

REPO = Path(__file__).resolve().parents[3]


def _summarize(study, families, monkeypatch):
    monkeypatch.setenv("AELIB_SUMMARY_WAIT", "0")  # nothing else works on the folder: never wait
    return summary.run(study, families=families, z_values=[2, 8], chosen_z=[2, 8], complementary=(),
                       profile="quick")


def _snapshot(folder: Path) -> dict[str, bytes]:
    """Every file below ``folder`` (relative name → bytes)."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _raise_vae(study) -> float:
    """Make vae's z=2 reconstruction 0.05 worse in ``tables/rmse_by_z.csv``; its new mean."""
    path = study.tables / "rmse_by_z.csv"
    table = pd.read_csv(path, dtype={"setting": str})
    row = (table["family"] == "vae") & (table["latent_dim"] == 2)
    table.loc[row, ["rmse_mean", "rmse_mean_ci95_low", "rmse_mean_ci95_high"]] += 0.05
    table.to_csv(path, index=False)
    return float(table.loc[row, "rmse_mean"].iloc[0])


def _vae_cell(folder: Path) -> str:
    return pd.read_csv(folder / "rmse_by_z.csv").set_index("family").loc["vae", "z=2"]


def _leftovers(out_dir: Path) -> list[str]:
    return sorted(p.name for p in out_dir.iterdir() if p.name.startswith(".summary"))


# The summary step in a process of its own, paused (after the tables of every criterion, before the ranking)
# once it has written part of the new summary: the test kills it there.
_PAUSED_SUMMARY = textwrap.dedent("""
    import pathlib, sys, time
    from aelib import report
    from aelib.study.steps.summary import run
    from aelib.study.study import Study

    def paused(out, **kwargs):
        pathlib.Path(sys.argv[2]).write_text(str(out))
        time.sleep(600)

    report.ranking_and_comparisons = paused
    run(Study(sys.argv[1], epochs=1, n_train=200, n_test=100), families=["fcae", "vae", "dae"], z_values=[2, 8],
        chosen_z=[2, 8], complementary=(), profile="quick")
""")


@pytest.mark.slow
def test_a_summary_killed_part_way_leaves_the_old_summary_whole_and_the_rerun_writes_the_new(
        fresh_fake_study, monkeypatch, capsys, tmp_path):
    study, families = fresh_fake_study
    _summarize(study, families, monkeypatch)
    old = _snapshot(study.out_dir / "summary")
    old_report = (study.out_dir / "REPORT.md").read_bytes()
    old_cell = _vae_cell(study.out_dir / "summary")
    new_mean = _raise_vae(study)

    ready = tmp_path / "paused"
    env = {**os.environ, "AELIB_OFFLINE": "1", "AELIB_SUMMARY_WAIT": "0", "TF_CPP_MIN_LOG_LEVEL": "3",
           "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.Popen([sys.executable, "-c", _PAUSED_SUMMARY, str(study.out_dir), str(ready)], cwd=REPO,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while not ready.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ready.exists(), f"the summary did not reach its pause (exit {proc.poll()}): {proc.stdout.read()!r}"
        building = Path(ready.read_text())
        # part of the new summary is written: the new rmse_by_z table beside the old summary/
        assert building.name == f"{summary.BUILDING}-{proc.pid}" and building.parent == study.out_dir
        assert f"{new_mean:.4f}" in _vae_cell(building) and _vae_cell(building) != old_cell
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        proc.stdout.close()

    # killed: summary/ is the old one, file for file and byte for byte; the half-built one lies beside it,
    # with the dead process's claim on the summary (taken over by the next one)
    assert _snapshot(study.out_dir / "summary") == old
    assert (study.out_dir / "REPORT.md").read_bytes() == old_report
    assert _leftovers(study.out_dir) == [building.name, summary.LOCK]

    # the rerun clears what the killed one left and puts the new summary in place, whole
    capsys.readouterr()
    _summarize(study, families, monkeypatch)
    assert f"summary: removed {building.name} (a summary killed while it was being built)" in capsys.readouterr().out
    new = _snapshot(study.out_dir / "summary")
    assert sorted(new) == sorted(old)  # the same tables, every one rewritten
    assert f"{new_mean:.4f}" in _vae_cell(study.out_dir / "summary") and new["rmse_by_z.csv"] != old["rmse_by_z.csv"]
    assert _leftovers(study.out_dir) == []


def test_a_summary_that_fails_part_way_leaves_the_old_summary_whole(fresh_fake_study, monkeypatch):
    study, families = fresh_fake_study
    _summarize(study, families, monkeypatch)
    old = _snapshot(study.out_dir / "summary")
    _raise_vae(study)

    def fail(*args, **kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr(summary.report, "ranking_and_comparisons", fail)
    with pytest.raises(OSError, match="No space left"):
        _summarize(study, families, monkeypatch)
    assert _snapshot(study.out_dir / "summary") == old
    assert _leftovers(study.out_dir) == []  # its half-built folder is gone, and so is its lock


def test_swap_in_and_recover_after_a_kill_at_each_moment(tmp_path, capsys):
    out_dir = tmp_path / "study"
    target = out_dir / "summary"
    built = out_dir / f"{summary.BUILDING}-1"
    built.mkdir(parents=True)
    (built / "a.csv").write_text("new")
    summary.swap_in(built, target)  # a first summary: nothing to replace
    assert _snapshot(target) == {"a.csv": b"new"} and _leftovers(out_dir) == []

    # killed between the two renames: no summary/, the old one whole beside it → put back
    target.rename(out_dir / summary.REPLACED)
    assert summary.recover(out_dir) == [f"put the previous summary back from {summary.REPLACED}"]
    assert _snapshot(target) == {"a.csv": b"new"} and _leftovers(out_dir) == []

    # killed after the swap, before the old one was deleted → the old one goes, the new one stays
    (out_dir / summary.REPLACED).mkdir()
    (out_dir / summary.REPLACED / "a.csv").write_text("older")
    # and killed while building (two leftovers, one holding a subfolder)
    for pid in (7, 8):
        (out_dir / f"{summary.BUILDING}-{pid}" / "sub").mkdir(parents=True)
        (out_dir / f"{summary.BUILDING}-{pid}" / "sub" / "b.csv").write_text("half")
    done = summary.recover(out_dir)
    assert done == [f"removed {summary.REPLACED} (the summary before the last one)",
                    f"removed {summary.BUILDING}-7 (a summary killed while it was being built)",
                    f"removed {summary.BUILDING}-8 (a summary killed while it was being built)"]
    printed = capsys.readouterr().out
    assert all(f"summary: {line}" in printed for line in done)
    assert _snapshot(target) == {"a.csv": b"new"} and _leftovers(out_dir) == []
    assert summary.recover(out_dir) == []  # nothing left: nothing done

    # a link among the leftovers is removed itself, never followed
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.csv").write_text("keep")
    (out_dir / f"{summary.BUILDING}-9").symlink_to(outside, target_is_directory=True)
    summary.recover(out_dir)
    assert _leftovers(out_dir) == [] and (outside / "keep.csv").read_text() == "keep"
