"""REPORT.md's step times end to end (issue 31): a tiny study run through the command line into a folder that
holds another study's provenance shows, for the steps it ran, its own invocation and the seconds it logged."""
import json
import re

import pytest

from aelib.study import cli

OLD = "old-invocation"
OLD_WHEN = "2020-01-01 00:00:00"
OLD_SECONDS = 5555.0  # recognisable, far above anything the tiny run takes
OLD_SHOWN = "1 h 32 min"  # how REPORT shows it
TINY = ["--families", "fcae", "--z", "2", "--n-train", "300", "--n-test", "100", "--epochs", "1", "--seeds", "0"]


def _old_study(out):
    """The provenance a committed study leaves: its steps' records, their executions, its invocation."""
    prov = out / "provenance"
    prov.mkdir(parents=True)
    executions = []
    for step, runs in (("02_latent_sweep", {"complete": 7, "failed": 0, "skipped": 0}),
                       ("08_summary", {"complete": 0, "failed": 0, "skipped": 0})):
        (prov / f"{step}.json").write_text(json.dumps(
            {"step": step, "when": OLD_WHEN, "invocation": OLD, "runs": runs, "failures": [],
             "parameters": {"profile": "quick", "families": ["fcae"], "seeds": [0, 1, 2]},
             "data_sources": {}, "machine": "another machine"}, indent=2))
        executions.append({"invocation": OLD, "step": step, "shard": "", "status": "complete",
                           "seconds": OLD_SECONDS, "finished": OLD_WHEN, "runs": runs})
    (prov / "steps.jsonl").write_text("".join(json.dumps(e) + "\n" for e in executions))
    record = {"profile": "quick", "argv": ["run", "--steps", "02,08"], "finished": OLD_WHEN,
              "seconds": 2 * OLD_SECONDS,
              "steps": [{"step": e["step"], "status": "complete", "seconds": OLD_SECONDS} for e in executions]}
    (prov / "study.json").write_text(json.dumps(record))
    (prov / "invocations.jsonl").write_text(json.dumps(record) + "\n")


def _seconds(shown):
    """Seconds of a REPORT time cell: "X min YY s" (under an hour) or "H h MM min"."""
    if match := re.fullmatch(r"(\d+) min (\d{2}) s", shown):
        return int(match[1]) * 60 + int(match[2])
    match = re.fullmatch(r"(\d+) h (\d{2}) min", shown)
    assert match, f"not a step time: {shown!r}"
    return (int(match[1]) * 60 + int(match[2])) * 60


@pytest.mark.slow
def test_report_times_are_the_new_runs_own_in_a_folder_of_another_study(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("AELIB_WORKERS", "1")  # no worker processes to start for one tiny model
    _old_study(tmp_path)

    code = cli.main(["run", "--out", str(tmp_path), "--steps", "02,08", *TINY])
    printed = capsys.readouterr()
    assert code == 0, printed.out[-3000:] + printed.err[-3000:]

    executions = [json.loads(line) for line in (tmp_path / "provenance" / "steps.jsonl").read_text().splitlines()]
    new = executions[-1]["invocation"]
    assert new and new != OLD
    assert [e["invocation"] for e in executions] == [OLD, OLD, new, new]  # the old lines are kept
    # the invocation's own record names it, so REPORT's invocations match the "built by" column
    assert json.loads((tmp_path / "provenance" / "invocations.jsonl").read_text().splitlines()[-1])["invocation"] == new
    logged = {e["step"]: e for e in executions if e["invocation"] == new}
    assert set(logged) == {"02_latent_sweep", "08_summary"}
    assert logged["02_latent_sweep"]["runs"] == {"complete": 1, "failed": 0, "skipped": 0}

    text = (tmp_path / "REPORT.md").read_text()
    what_ran = text.split("## What ran", 1)[1].split("\ntime: ", 1)[0]
    rows = {cells[0]: cells for cells in ([c.strip() for c in line.strip("|").split("|")]
                                          for line in what_ran.splitlines() if line.startswith("| 0"))}
    assert set(rows) == {"02_latent_sweep", "08_summary"}, what_ran

    # step 02: this run's invocation alone, the seconds it logged, its own runs (the old study's 7 were replaced)
    step, when, shown, built_by, ran, complete, failed = rows["02_latent_sweep"]
    assert built_by == f"`{new}`", what_ran
    assert when != OLD_WHEN and OLD not in "|".join(rows["02_latent_sweep"])
    assert _seconds(shown) == round(logged["02_latent_sweep"]["seconds"]) < 600, what_ran
    assert (ran, complete, failed) == ("1", "0", "0")

    # step 08 wrote this REPORT while running: its row is this invocation's, with its time so far, although
    # the old study's provenance/08_summary.json and its execution are still there when the report is written
    step, when, shown, built_by, ran, complete, failed = rows["08_summary"]
    assert OLD not in "|".join(rows["08_summary"]) and when != OLD_WHEN, what_ran
    assert built_by == "this invocation (running)", what_ran
    assert shown.endswith(" so far") and _seconds(shown.removesuffix(" so far")) <= logged["08_summary"]["seconds"]

    # `aelib report` rebuilds the summary as an invocation of its own: logged, listed, its row its own
    assert cli.main(["report", "--out", str(tmp_path)]) == 0
    executions = [json.loads(line) for line in (tmp_path / "provenance" / "steps.jsonl").read_text().splitlines()]
    report_run = executions[-1]
    assert report_run["step"] == "08_summary" and report_run["invocation"] not in (new, OLD)
    log = (tmp_path / "provenance" / "invocations.jsonl").read_text()
    invocations = [json.loads(line) for line in log.splitlines()]
    assert invocations[-1]["invocation"] == report_run["invocation"] and invocations[-1]["argv"][0] == "report"
    text = (tmp_path / "REPORT.md").read_text()
    assert re.search(r"\| 08_summary \| [^|]+ \| \d+ min \d\d s so far \| this invocation \(running\) \|", text)
    assert f"`{report_run['invocation']}`" not in text.split("## What ran", 1)[1].split("\ntime: ", 1)[0]
