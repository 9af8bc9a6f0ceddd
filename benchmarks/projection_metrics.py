"""Time and peak memory of the projection-quality measures (aelib.metrics.projection).

Data: the first n Fashion-MNIST test images (read from the IDX files of Debian's
dataset-fashion-mnist, /usr/share/datasets/fashion-mnist/, or $AELIB_DATA_DIR/
fashion_mnist/), flattened to 784 values in [0, 1], float64, against their exact
40-D PCA (SVD of the centred n × 784 matrix; a stand-in for a 40-D latent space).

Measured, each in a fresh subprocess (same inputs, same run, interleaved):

* ``all_five``: ``projection_quality(x, y, labels, k=7)`` (trustworthiness,
  continuity, three stress forms, neighbourhood hit, Shepard goodness);
* ``t_c_nh``: ``projection_quality(..., measures=("trustworthiness",
  "continuity", "neighborhood_hit"))``, one pass;
* ``sklearn_t``: ``sklearn.manifold.trustworthiness(x, y, n_neighbors=7)``.

Wall time: ``time.perf_counter`` around the call (after a small warm-up call in
the same process, so numba's compilation or cache load and BLAS start-up are
not counted); CPU time: ``time.process_time`` (all threads). Peak memory: the
subprocess's peak resident set size during the call above its resident set
size just before it (Linux: peak reset through /proc/self/clear_refs, read from
VmHWM; elsewhere ``resource.getrusage`` ru_maxrss minus the RSS before, which
can only over-estimate). Each case is repeated ``--repeats`` times; the median
is reported.

Usage::

    .venv/bin/python benchmarks/projection_metrics.py                 # n = 2000, 5000, 10000
    .venv/bin/python benchmarks/projection_metrics.py --sizes 2000    # quicker

Writes benchmarks/results/projection_metrics.csv and prints a Markdown table.
"""
from __future__ import annotations

import argparse
import csv
import gzip
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
CASES = ("sklearn_t", "t_c_nh", "all_five")
IDX_DIRS = [
    Path(os.environ["AELIB_DATA_DIR"]) / name
    for name in ("fashion_mnist", "fashion-mnist")
    if os.environ.get("AELIB_DATA_DIR")
] + [Path("/usr/share/datasets/fashion-mnist")]


# --------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------


def read_idx(path: Path) -> np.ndarray:
    """A small IDX reader (the MNIST file format), plain or gzip."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    if raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def load_fashion_test() -> tuple[np.ndarray, np.ndarray, str]:
    for folder in IDX_DIRS:
        for suffix in (".gz", ""):
            images = folder / f"t10k-images-idx3-ubyte{suffix}"
            labels = folder / f"t10k-labels-idx1-ubyte{suffix}"
            if images.is_file() and labels.is_file():
                return read_idx(images), read_idx(labels), str(images)
    raise SystemExit(
        "Fashion-MNIST test images not found: apt-get install dataset-fashion-mnist, or put "
        "t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz in $AELIB_DATA_DIR/fashion_mnist/"
    )


def make_inputs(n: int, dims: int, folder: Path) -> Path:
    images, labels, _ = load_fashion_test()
    if n > images.shape[0]:
        raise SystemExit(f"n={n} is more than the {images.shape[0]} test images")
    x = images[:n].reshape(n, -1).astype(np.float64) / 255.0
    xc = x - x.mean(axis=0)
    _, _, vt = np.linalg.svd(xc, full_matrices=False)
    y = xc @ vt[:dims].T
    path = folder / f"inputs_{n}.npz"
    np.savez(path, x=x, y=y, labels=labels[:n].astype(np.int64))
    return path


# --------------------------------------------------------------------------
# Worker (one measurement in its own process)
# --------------------------------------------------------------------------


def _status_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _call(case: str, x, y, labels, k: int):
    if case == "sklearn_t":
        from sklearn.manifold import trustworthiness

        return {"trustworthiness": float(trustworthiness(x, y, n_neighbors=k))}
    from aelib.metrics.projection import projection_quality

    if case == "t_c_nh":
        return projection_quality(x, y, labels, k=k, measures=("trustworthiness", "continuity", "neighborhood_hit"))
    if case == "all_five":
        return projection_quality(x, y, labels, k=k)
    raise ValueError(case)


def worker(case: str, path: str, k: int) -> None:
    data = np.load(path)
    x, y, labels = data["x"], data["y"], data["labels"]
    _call(case, x[:200], y[:200], labels[:200], k)  # warm-up: imports, numba, BLAS threads
    if case != "sklearn_t":  # the numba kernel is used from 1,500 points on
        _call(case, x[:1600], y[:1600], labels[:1600], k)
    exact = _reset_peak()
    rss0 = _status_kb("VmRSS") or 0
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    result = _call(case, x, y, labels, k)
    wall = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    if exact and (peak := _status_kb("VmHWM")) is not None:
        method = "VmHWM after clear_refs"
    else:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        method = "ru_maxrss"
    out = {"wall_s": wall, "cpu_s": cpu, "peak_mib": max(0, peak - rss0) / 1024.0, "memory_method": method}
    out.update({key: (bool(v) if isinstance(v, (bool, np.bool_)) else v) for key, v in result.items()})
    print("RESULT " + json.dumps(out, default=float))


def measure(case: str, path: Path, k: int) -> dict:
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--worker", case, "--input", str(path), "--k", str(k)],
        capture_output=True, text=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"{case} failed:\n{proc.stdout}\n{proc.stderr}")
    return json.loads(lines[-1][len("RESULT "):])


# --------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            names = [ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")]
        if names:
            cpu = names[0]
    except OSError:
        pass
    import sklearn

    try:
        import numba

        nb = numba.__version__
    except ImportError:
        nb = "absent"
    try:
        threads = len(os.sched_getaffinity(0))
    except AttributeError:
        threads = os.cpu_count()
    mem = ""
    try:
        mem = f", {os.sysconf('SC_PHYS_PAGES') * os.sysconf('SC_PAGE_SIZE') / 2**30:.0f} GiB RAM"
    except (ValueError, OSError, AttributeError):
        pass
    return (f"{cpu}, {threads} CPUs{mem}; Python {platform.python_version()}, numpy {np.__version__}, "
            f"scikit-learn {sklearn.__version__}, numba {nb}")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[2000, 5000, 10000])
    ap.add_argument("--dims", type=int, default=40, help="PCA dimensions of the projection (default 40)")
    ap.add_argument("--k", type=int, default=7)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "projection_metrics.csv")
    ap.add_argument("--worker", choices=CASES, help=argparse.SUPPRESS)
    ap.add_argument("--input", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        worker(args.worker, args.input, args.k)
        return

    info = machine()
    load0 = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {info}", flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            path = make_inputs(n, args.dims, Path(tmp))
            runs: dict[str, list[dict]] = {c: [] for c in CASES}
            for rep in range(args.repeats):
                for case in CASES:  # interleaved so that load changes hit all cases alike
                    r = measure(case, path, args.k)
                    runs[case].append(r)
                    print(f"n={n} rep={rep} {case}: {r['wall_s']:.3f} s wall, {r['cpu_s']:.3f} s CPU, "
                          f"{r['peak_mib']:.0f} MiB", flush=True)
            for case in CASES:
                rs = runs[case]
                last = rs[-1]
                rows.append({
                    "n": n, "d_high": 784, "d_low": args.dims, "k": args.k, "case": case,
                    "repeats": len(rs),
                    "wall_s_median": statistics.median(r["wall_s"] for r in rs),
                    "wall_s_min": min(r["wall_s"] for r in rs),
                    "cpu_s_median": statistics.median(r["cpu_s"] for r in rs),
                    "peak_mib_median": statistics.median(r["peak_mib"] for r in rs),
                    "peak_mib_max": max(r["peak_mib"] for r in rs),
                    "memory_method": last["memory_method"],
                    "trustworthiness": last.get("trustworthiness"),
                    "continuity": last.get("continuity"),
                    "neighborhood_hit": last.get("neighborhood_hit"),
                    "stress_seed": last.get("stress_seed"),
                    "shepard_goodness": last.get("shepard_goodness"),
                    "spearman_exact": last.get("spearman_exact"),
                    "spearman_pairs_used": last.get("spearman_pairs_used"),
                })
    load1 = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    for row in rows:
        row["machine"] = info
        row["load_avg_1min_start_end"] = f"{load0:.2f}/{load1:.2f}"

    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"\nwrote {args.out}")
    print(f"1-minute load average at start/end: {load0:.2f}/{load1:.2f}\n")
    print(markdown_table(rows))


def markdown_table(rows: list[dict]) -> str:
    by = {(r["n"], r["case"]): r for r in rows}
    lines = [
        "| n | sklearn T: s | T+C+NH: s | speed-up | all five: s | all five / sklearn T "
        "| peak MiB: sklearn / T+C+NH / all five | T: ours − sklearn | Spearman pairs |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for n in sorted({r["n"] for r in rows}):
        sk, tcn, five = by[(n, "sklearn_t")], by[(n, "t_c_nh")], by[(n, "all_five")]
        diff = five["trustworthiness"] - sk["trustworthiness"]
        pairs = f"{five['spearman_pairs_used']:,} ({'exact' if five['spearman_exact'] else 'sampled'})"

        def t(r):
            return f"{r['wall_s_median']:.2f} ({r['wall_s_min']:.2f})"

        lines.append(
            f"| {n:,} | {t(sk)} | {t(tcn)} "
            f"| {sk['wall_s_median'] / tcn['wall_s_median']:.1f}× ({sk['wall_s_min'] / tcn['wall_s_min']:.1f}×) "
            f"| {t(five)} | {five['wall_s_median'] / sk['wall_s_median']:.2f} "
            f"| {sk['peak_mib_max']:.0f} / {tcn['peak_mib_max']:.0f} / {five['peak_mib_max']:.0f} "
            f"| {diff:.1e} | {pairs} |"
        )
    lines.append("")
    lines.append("Times: median (minimum) wall seconds over the repeats; speed-up = sklearn T time / T+C+NH "
                 "time, from the medians (from the minima). Peak MiB: the largest over the repeats.")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
