"""Several processes on one run store: claims, waiting, take-over of dead claims, the summary's wait and ranking."""
import json
import os
import subprocess
import sys
import textwrap
import threading
import time

import pandas as pd
import pytest

from aelib import report
from aelib.io import atomic_write_json
from aelib.report import missing_rows, rank_table
from aelib.study.claims import HOST, INVOCATIONS, MACHINE, SUMMARY_MARK, Claim, read_claim
from aelib.study.store import RunStore

CONFIG = {"family": "fcae", "latent_dim": 2, "seed": 0}


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # reaped: the pid names no process now
    return child.pid


def _foreign_claim(path, *, pid, host=HOST, machine=MACHINE, age=0.0):
    """A claim file as another process would leave it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"pid": pid, "host": host, "machine": machine, "started": time.time() - age,
                                "token": "someone-else", "label": "test"}))
    os.utime(path, (time.time() - age, time.time() - age))


def _half_written(store, config=CONFIG):
    path = store.path_for("train", config)
    path.mkdir(parents=True)
    (path / "config.json").write_text("{}")
    (path / "model.partial.keras").write_text("in progress")
    return path


def test_a_run_claimed_by_a_live_process_is_skipped_or_waited_for_never_cleared(tmp_path):
    store = RunStore(tmp_path)
    path = _half_written(store)
    claim = store.claim_path("train", CONFIG)
    _foreign_claim(claim, pid=os.getppid())  # a live process that is not this one
    calls = []
    busy = store.run("train", CONFIG, lambda d: calls.append(d) or {"x": 1}, wait=False)
    assert busy.status == "busy" and "claimed by another process" in busy.error
    assert (path / "model.partial.keras").read_text() == "in progress" and calls == []
    assert store.holder("train", CONFIG).pid == os.getppid()

    def other_process_finishes():
        time.sleep(0.3)
        atomic_write_json(path / "metrics.json", {"x": 7})
        claim.unlink()

    threading.Thread(target=other_process_finishes).start()
    waited = store.run("train", CONFIG, lambda d: calls.append(d) or {"x": 1}, poll=0.05)
    assert waited.status == "skipped" and waited.metrics == {"x": 7} and calls == []
    assert (path / "model.partial.keras").exists()  # its files were never touched


def test_waiting_for_a_run_that_fails_elsewhere_returns_that_failure_without_rerunning(tmp_path):
    store = RunStore(tmp_path)
    path = _half_written(store)
    claim = store.claim_path("train", CONFIG)
    _foreign_claim(claim, pid=os.getppid())

    def other_process_fails():
        time.sleep(0.3)
        atomic_write_json(path / "failed.json", {"error": "ValueError: elsewhere"})
        claim.unlink()

    threading.Thread(target=other_process_fails).start()
    result = store.run("train", CONFIG, lambda d: pytest.fail("must not run"), poll=0.05)
    assert result.status == "failed" and result.error == "ValueError: elsewhere"


def test_a_claim_of_a_dead_process_is_taken_over(tmp_path):
    store = RunStore(tmp_path)
    path = _half_written(store)
    claim = store.claim_path("train", CONFIG)
    _foreign_claim(claim, pid=_dead_pid())  # killed with -9: its claim stays behind
    assert read_claim(claim).stale()
    result = store.run("train", CONFIG, lambda d: {"x": 2})
    assert result.status == "complete" and result.metrics["x"] == 2
    assert not (path / "model.partial.keras").exists() and not claim.exists()


def test_another_machine_claim_is_stale_only_after_its_heartbeat_times_out(tmp_path, monkeypatch):
    monkeypatch.setenv("AELIB_CLAIM_TIMEOUT", "60")
    store = RunStore(tmp_path)
    claim = store.claim_path("train", CONFIG)
    _foreign_claim(claim, pid=1, host="elsewhere", age=5)  # pid 1 here says nothing about the other machine
    assert store.run("train", CONFIG, lambda d: {"x": 1}, wait=False).status == "busy"
    _foreign_claim(claim, pid=1, host="elsewhere", age=120)
    assert store.run("train", CONFIG, lambda d: {"x": 1}, wait=False).status == "complete"
    monkeypatch.setenv("AELIB_CLAIM_TIMEOUT", "-1")
    with pytest.raises(ValueError, match="AELIB_CLAIM_TIMEOUT.*Received: '-1'"):
        store.run("train", {"other": 1}, lambda d: {})


def test_the_heartbeat_keeps_a_claim_fresh_and_release_removes_only_its_own(tmp_path):
    path = tmp_path / ".run.claim"
    claim, holder = Claim.acquire(path, label="t", timeout=60, heartbeat=0.05)
    assert holder is None and claim.owned()
    os.utime(path, (time.time() - 50, time.time() - 50))
    time.sleep(0.3)
    assert read_claim(path).age < 5  # refreshed
    _foreign_claim(path, pid=os.getppid())  # taken over meanwhile by another process
    claim.release()
    assert path.exists() and read_claim(path).token == "someone-else"


def test_a_completed_run_clears_failed_json(tmp_path):
    store = RunStore(tmp_path)
    failed = store.run("train", CONFIG, lambda d: 1 / 0)
    assert failed.status == "failed" and (failed.path / "failed.json").is_file()
    assert store.run("train", CONFIG, lambda d: {"x": 1}).status == "complete"
    assert not (failed.path / "failed.json").exists() and store.failures().empty
    # a failed.json beside a good metrics.json (left by an older version) goes on the next look
    atomic_write_json(failed.path / "failed.json", {"error": "old"})
    assert store.run("train", CONFIG, lambda d: {"x": 1}).status == "skipped"
    assert not (failed.path / "failed.json").exists()


def test_summary_waits_for_other_invocations_but_not_for_summarising_or_dead_ones(tmp_path, monkeypatch):
    monkeypatch.delenv("AELIB_INVOCATION", raising=False)
    store = RunStore(tmp_path)
    lease = tmp_path / INVOCATIONS / "shard1of2-host-1.claim"
    _foreign_claim(lease, pid=os.getppid())
    start = time.monotonic()
    active = store.wait_for_others(timeout=0.3, poll=0.05)
    assert [a.path for a in active] == [lease] and time.monotonic() - start >= 0.3
    (tmp_path / INVOCATIONS / ("shard1of2-host-1.claim" + SUMMARY_MARK)).write_text("1")
    assert store.wait_for_others(timeout=5) == []  # it is summarising itself: no waiting on each other
    _foreign_claim(lease, pid=_dead_pid())
    assert store.activity() == [] and not lease.exists()  # a dead lease is cleared


def test_a_family_missing_a_criterion_is_never_ranked_above_one_that_has_it():
    criteria = {"reconstruction": pd.Series({"a": 0.2, "b": 0.3, "c": 0.1}),
                "generative": pd.Series({"a": 0.3, "b": 0.4})}  # c best where it has a value, but lacks one
    ranking = rank_table(criteria, {"reconstruction": False, "generative": False}).set_index("family")
    assert ranking.loc["c", "mean_rank"] == 1.0  # the mean over what it has...
    assert ranking.loc["c", "rank_overall"] == 3 and ranking.loc["c", "criteria_missing"] == 1  # ...ranks last
    assert ranking.loc["a", "rank_overall"] == 1 and ranking.loc["b", "rank_overall"] == 2
    sensitivity = report.ranking_sensitivity(ranking.reset_index()).set_index("family")
    assert sensitivity.loc["c", "rank_overall"] == 3
    assert sensitivity.loc["c", "rank_without_generative"] == 1  # complete once the missing criterion is left out


def test_missing_rows_names_the_families_and_cells_another_shard_has_not_written():
    sweep = pd.DataFrame({"family": ["fcae", "fcae", "vae", "rae"], "latent_dim": [2, 5, 2, 2], "seed": 0})
    missing = missing_rows({"latent_sweep_runs": sweep}, ["fcae", "vae", "rae", "conae"], chosen_z=[2])
    assert missing["family"].tolist() == ["vae", "rae", "conae"]
    assert missing.set_index("family").loc["vae", "cells"] == "z=5 seed=0"
    assert missing.set_index("family").loc["conae", "cells"] == "all (no rows)"
    assert missing_rows({"latent_sweep_runs": sweep[sweep["family"] == "fcae"]}, ["fcae"], chosen_z=[2]).empty


WORKER = textwrap.dedent("""
    import json, os, sys, time
    from aelib.study.store import RunStore
    store, order = RunStore(sys.argv[1]), json.loads(sys.argv[2])
    def fn(run_dir):
        with open(os.path.join(sys.argv[1], "calls.log"), "a") as log:
            log.write(f"{run_dir.name} {os.getpid()}\\n")
        (run_dir / "artifact.txt").write_text(str(os.getpid()))
        time.sleep(0.3)
        return {"pid": os.getpid()}
    statuses = [store.run("train", {"family": "fcae", "latent_dim": z}, fn, poll=0.05).status for z in order]
    print(json.dumps(statuses))
""")


@pytest.mark.slow
def test_two_processes_on_one_store_run_each_run_once_and_both_succeed(tmp_path):
    zs = list(range(1, 7))
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, str(tmp_path), json.dumps(order)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for order in (zs, zs[::-1])]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err for _, err in outputs]
    statuses = [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]
    assert all(s in ("complete", "skipped") for run in statuses for s in run)
    calls = (tmp_path / "calls.log").read_text().split()[::2]
    assert sorted(calls) == sorted(set(calls)) and len(calls) == 6  # every run ran exactly once
    store = RunStore(tmp_path)
    records = store.records("train")
    assert len(records) == 6 and store.failures().empty
    for row in records.itertuples():  # each folder holds the files of the process whose metrics it has
        assert (tmp_path / "train" / row.run_dir.split("/")[-1] / "artifact.txt").read_text() == str(row.pid)
    assert not list((tmp_path / "train").glob(".*.claim"))  # every claim released


def test_a_table_lock_left_by_a_killed_process_is_taken_over(tmp_path):
    from aelib.study.claims import exclusive

    lock = tmp_path / "parts" / ".table.lock"
    _foreign_claim(lock, pid=_dead_pid())
    with exclusive(lock) as claim:
        assert claim.owned()
    assert not lock.exists()
