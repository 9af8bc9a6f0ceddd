"""benchmarks/step_times.py on a fabricated study folder: two invocations with known seconds (no timings)."""
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import step_times  # noqa: E402

A, B = "inv-a", "inv-b"


def _line(invocation, step, seconds, finished, complete=0, skipped=0):
    return {"invocation": invocation, "step": step, "shard": "", "status": "complete", "seconds": seconds,
            "finished": finished, "runs": {"complete": complete, "failed": 0, "skipped": skipped}}


#: invocation A made both of step 01's runs (100 s) and one of step 02's (50 s), then was stopped; B found
#: step 01 complete (10 s), made a second run of step 02 (200 s) and reused a third that no logged execution
#: made; it then ran step 03 (40 s) and two family notebooks (20 s and 30 s).
LOG = [
    _line(A, "01_architecture", 100.0, "2026-01-01 10:01:40", complete=2),
    _line(A, "02_latent_sweep", 50.0, "2026-01-01 10:02:30", complete=1),
    "{\"invocation\": \"inv-a\", \"step\": \"03_reconst",  # cut short by a kill: skipped
    _line(B, "01_architecture", 10.0, "2026-01-01 11:00:10", skipped=2),
    _line(B, "02_latent_sweep", 200.0, "2026-01-01 11:03:30", complete=1, skipped=2),
    _line(B, "03_reconstruction", 40.0, "2026-01-01 11:04:10", complete=1),
    _line(B, "models/vae", 20.0, "2026-01-01 11:04:30"),
    _line(B, "models/fcae", 30.0, "2026-01-01 11:05:00"),
]


def _epoch(when: str) -> float:
    return time.mktime(time.strptime(when, "%Y-%m-%d %H:%M:%S"))


def _write_log(folder: Path, lines) -> Path:
    (folder / "provenance").mkdir(parents=True, exist_ok=True)
    text = "\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n"
    (folder / "provenance" / "steps.jsonl").write_text(text, encoding="utf-8")
    return folder


def _run(folder: Path, kind: str, name: str, metrics: dict, written: str) -> None:
    path = folder / "runs" / kind / name / "metrics.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(metrics), encoding="utf-8")
    os.utime(path, (_epoch(written), _epoch(written)))


@pytest.fixture
def study(tmp_path):
    out = _write_log(tmp_path / "out", LOG)
    _run(out, "train", "fcae-s0", {"seconds": 60.0}, "2026-01-01 10:00:30")  # A's step 01
    _run(out, "train", "fcae-s1", {"seconds": 70.0}, "2026-01-01 10:01:30")  # A's step 01
    _run(out, "train", "vae-s0", {"train_seconds": 90.0}, "2026-01-01 11:01:00")  # B's step 02, train_seconds only
    _run(out, "train", "vae-s1", {"seconds": 500.0}, "2026-01-01 09:00:00")  # before any logged execution
    _run(out, "reconstruction", "vae-z2", {"seconds": 3.0}, "2026-01-01 11:04:00")  # B's step 03
    (out / "runs" / "train" / "half-written").mkdir()  # no metrics.json: not a complete run
    return out


def _by_step(rows):
    return {r["step"]: r for r in rows}


def test_rows_totals_and_run_seconds(study):
    rows, text = step_times.report(study)
    assert [r["step"] for r in rows] == ["01_architecture", "02_latent_sweep", "03_reconstruction",
                                         "family notebooks (2)", step_times.OUTSIDE, "total"]
    by = _by_step(rows)
    assert by["01_architecture"]["wall_s"] == pytest.approx(110.0)  # B's 10 s and A's 100 s, whose runs B reused
    assert by["01_architecture"]["invocations"] == f"{B}; {A}" and not by["01_architecture"]["unlogged"]
    assert by["02_latent_sweep"]["wall_s"] == pytest.approx(250.0) and by["02_latent_sweep"]["unlogged"]
    assert by["03_reconstruction"]["wall_s"] == pytest.approx(40.0)
    assert by["family notebooks (2)"]["wall_s"] == pytest.approx(50.0)
    assert by[step_times.OUTSIDE]["wall_s"] is None
    total = by["total"]
    assert total["wall_s"] == pytest.approx(110 + 250 + 40 + 50) and total["unlogged"]
    assert by["01_architecture"]["runs"] == 2 and by["01_architecture"]["run_s"] == pytest.approx(130.0)
    assert by["02_latent_sweep"]["run_s_by_kind"] == "train 90 s (1)"
    assert by["03_reconstruction"]["run_s_by_kind"] == "reconstruction 3 s (1)"
    assert by[step_times.OUTSIDE]["run_s"] == pytest.approx(500.0)
    assert total["runs"] == 5 and total["run_s"] == pytest.approx(130 + 90 + 3 + 500)
    assert "Total wall time of the study: 450 s (7 min 30 s), a lower bound" in text
    assert "| 02_latent_sweep | 250 + unlogged |" in text


def test_everything_logged_is_not_a_lower_bound(tmp_path):
    out = _write_log(tmp_path, [_line(A, "03_reconstruction", 12.5, "2026-01-01 10:00:00", complete=1),
                                _line(A, "08_summary", 7.5, "2026-01-01 10:00:10")])
    rows, text = step_times.report(out)
    assert [r["step"] for r in rows] == ["03_reconstruction", "08_summary", "total"]
    assert rows[-1]["wall_s"] == pytest.approx(20.0) and not rows[-1]["unlogged"]
    assert "every step's runs were made by logged executions" in text


def test_baseline_folder_ratio(study, tmp_path):
    base = _write_log(tmp_path / "base", [_line(A, "01_architecture", 55.0, "2025-12-01 10:00:00", complete=2),
                                          _line(A, "02_latent_sweep", 125.0, "2025-12-01 10:03:00", complete=3),
                                          _line(A, "04_latent_space", 9.0, "2025-12-01 10:04:00", complete=1)])
    rows, text = step_times.report(study, baseline=str(base))
    by = _by_step(rows)
    assert by["01_architecture"]["baseline_wall_s"] == pytest.approx(55.0)
    assert by["01_architecture"]["ratio"] == pytest.approx(2.0)
    assert by["02_latent_sweep"]["ratio"] == pytest.approx(2.0)
    assert by["03_reconstruction"]["baseline_wall_s"] is None and by["03_reconstruction"]["ratio"] is None
    assert by["04_latent_space"]["wall_s"] is None and by["04_latent_space"]["baseline_wall_s"] == 9.0
    assert by["total"]["ratio"] == pytest.approx(450 / 189)
    assert rows[-1]["step"] == "total"
    assert "| 01_architecture | 110 | 55 | 2.00 |" in text and f"Baseline: folder {base}" in text


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_baseline_git_revision(study, tmp_path):
    repo = study.parent
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run(git + ["add", "out/provenance/steps.jsonl"], check=True)
    subprocess.run(git + ["commit", "-q", "-m", "log"], check=True)
    first = subprocess.run(git + ["rev-parse", "--short", "HEAD"], check=True, capture_output=True,
                           text=True).stdout.strip()
    _write_log(study, LOG + [_line(B, "03_reconstruction", 80.0, "2026-01-01 12:00:00")])  # 03 now takes 80 s
    rows, text = step_times.report(study, baseline=first)
    by = _by_step(rows)
    assert by["03_reconstruction"]["ratio"] == pytest.approx(2.0)
    assert by["01_architecture"]["ratio"] == pytest.approx(1.0)
    assert f"Baseline: git revision {first}" in text
    with pytest.raises(step_times.ProvenanceError, match="Unknown git revision 'no-such-revision-31'"):
        step_times.report(study, baseline="no-such-revision-31")


def test_main_writes_csv_and_markdown(study, tmp_path, capsys):
    results = tmp_path / "results"
    assert step_times.main(["--out", str(study), "--results", str(results)]) == 0
    csv = (results / "step_times.csv").read_text(encoding="utf-8").splitlines()
    assert csv[0] == ",".join(step_times.COLUMNS)
    assert csv[1].startswith("01_architecture,110.0,False,inv-b; inv-a,,,2,130.0,")
    assert (results / "step_times.md").read_text(encoding="utf-8") in capsys.readouterr().out


def test_folder_without_log_exits_2(tmp_path, capsys):
    assert step_times.main(["--out", str(tmp_path / "empty"), "--results", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "empty" / "provenance" / "steps.jsonl") in err
    assert "./run_all.sh" in err and "aelib run --out" in err
    assert not (tmp_path / "r").exists()


def test_unknown_revision_exits_2(study, tmp_path, capsys):
    assert step_times.main(["--out", str(study), "--baseline", "no-such-revision-31",
                            "--results", str(tmp_path / "r")]) == 2
    assert "no-such-revision-31" in capsys.readouterr().err


def test_baseline_folder_without_log_exits_2(study, tmp_path, capsys):
    (tmp_path / "bare").mkdir()
    assert step_times.main(["--out", str(study), "--baseline", str(tmp_path / "bare"),
                            "--results", str(tmp_path / "r")]) == 2
    assert str(tmp_path / "bare" / "provenance" / "steps.jsonl") in capsys.readouterr().err


def test_steps_run_at_once_count_once_in_the_total(tmp_path):
    # lanes: 04 and 06 both started at 12:00:00; 04 took 100 s, 06 150 s; then 08 alone for 30 s
    out = _write_log(tmp_path / "out", [_line(B, "04_latent_space", 100.0, "2026-01-01 12:01:40"),
                                        _line(B, "06_generative", 150.0, "2026-01-01 12:02:30"),
                                        _line(B, "08_summary", 30.0, "2026-01-01 12:03:00")])
    rows, text = step_times.report(out)
    total = _by_step(rows)["total"]
    assert total["wall_s"] == pytest.approx(150 + 30) and total["steps_s"] == pytest.approx(100 + 150 + 30)
    assert "Total wall time of the study: 180 s" in text and "add up to 280 s" in text


def test_a_run_made_while_two_steps_ran_at_once_goes_to_the_step_of_its_kind(tmp_path):
    out = _write_log(tmp_path / "out", [_line(B, "04_latent_space", 100.0, "2026-01-01 12:01:40"),
                                        _line(B, "06_generative", 150.0, "2026-01-01 12:02:30")])
    _run(out, "generative", "fcae-z2", {"seconds": 4.0}, "2026-01-01 12:01:00")  # during both; 04 is narrower
    _run(out, "latent", "fcae-z2", {"seconds": 2.0}, "2026-01-01 12:01:00")
    by = _by_step(step_times.report(out)[0])
    assert by["06_generative"]["run_s_by_kind"] == "generative 4 s (1)"
    assert by["04_latent_space"]["run_s_by_kind"] == "latent 2 s (1)"
