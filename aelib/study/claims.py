"""Claims and leases: which process works on a run, or on a results folder, right now.

Any number of processes may share one run store (shards, two notebook sessions
on one Drive folder, Slurm jobs). A process works on a run only while it holds
the run's claim (:class:`Claim`): a file created with ``O_CREAT | O_EXCL``
(atomic on local disks and NFS, no ``fcntl`` lock needed) holding the owner's
pid, host and start time, its modification time refreshed by a heartbeat while
the run goes on. A claim is stale, and is taken over, when its process is dead
(same machine) or its heartbeat is older than ``AELIB_CLAIM_TIMEOUT`` seconds
(600 by default; other machines). Each ``aelib run`` also holds an invocation
lease (:func:`invocation_lease`) so that the summary can wait for the other
shards (:func:`wait_for_others`). :func:`exclusive` holds a claim for a short
critical section (merging a table).
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import socket
import threading
import time
import uuid
from pathlib import Path

CLAIM_SUFFIX = ".claim"
INVOCATIONS = ".invocations"  # folder of the invocation leases, under the store's root
SUMMARY_MARK = ".summary"  # beside an invocation lease: that invocation is summarising (its work is done)
BREAK_LOCK_STALE = 30.0  # seconds after which a lock left by a process killed while breaking a claim is removed
HOST = socket.gethostname()
_HELD: set[str] = set()  # claim files this process holds now


def env_seconds(name: str, default: float, *, allow_zero: bool = False) -> float:
    """Seconds from the environment variable ``name`` (``default`` when unset or blank).

    Raises:
        ValueError: not a finite number > 0 (>= 0 with ``allow_zero``), naming the variable and what it held.
    """
    text = os.environ.get(name)
    if text is None or not text.strip():
        return default
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"Expected {name} as a number of seconds {bound}. Received: {text!r}")
    return value


def claim_timeout() -> float:
    """Seconds without a heartbeat after which another machine's claim is stale (``AELIB_CLAIM_TIMEOUT``, 600)."""
    return env_seconds("AELIB_CLAIM_TIMEOUT", 600.0)


def _machine() -> str:
    """This machine's boot and pid namespace: a pid means the same process only where both match."""
    parts = []
    for source in ("/proc/sys/kernel/random/boot_id", "/proc/self/ns/pid"):
        try:
            parts.append(Path(source).read_text().strip() if "boot_id" in source else str(os.stat(source).st_ino))
        except OSError:
            parts.append("?")
    return ":".join(parts)


MACHINE = _machine()


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this machine (a zombie, killed but not yet reaped, does not)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    except OSError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


@dataclasses.dataclass
class ClaimInfo:
    """What a claim file says, and how long ago its heartbeat was."""

    path: Path
    pid: int | None
    host: str | None
    machine: str | None
    started: float | None
    token: str | None  # None: empty or garbled (its writer died between creating and writing it)
    label: str
    age: float  # seconds since the last heartbeat (the file's modification time)
    raw: bytes
    mtime_ns: int

    def same_machine(self) -> bool:
        return self.host == HOST and self.machine == MACHINE

    def stale(self, timeout: float | None = None) -> bool:
        """Dead (its pid on this machine is gone) or silent (no heartbeat for ``timeout`` seconds)."""
        timeout = claim_timeout() if timeout is None else timeout
        if self.token is None:
            return self.age > min(timeout, BREAK_LOCK_STALE)
        if self.same_machine() and self.pid is not None and not pid_alive(self.pid):
            return True
        return self.age > timeout

    def mine(self) -> bool:
        return self.same_machine() and self.pid == os.getpid()

    def describe(self) -> str:
        since = time.strftime("%H:%M:%S", time.localtime(self.started)) if self.started else "?"
        return (f"{self.label or self.path.name}: pid {self.pid} on {self.host}, since {since}, "
                f"heartbeat {self.age:.0f}s ago")


def read_claim(path: str | Path) -> ClaimInfo | None:
    """The claim at ``path``, or None when there is none."""
    path = Path(path)
    try:
        st = path.stat()
        raw = path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        data = json.loads(raw.decode("utf-8"))
        token = str(data["token"])
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        data, token = {}, None
    pid = data.get("pid")
    return ClaimInfo(path=path, pid=int(pid) if isinstance(pid, int) else None, host=data.get("host"),
                     machine=data.get("machine"), started=data.get("started"), token=token,
                     label=str(data.get("label", "")), age=max(0.0, time.time() - st.st_mtime), raw=raw,
                     mtime_ns=st.st_mtime_ns)


def _breakable(info: ClaimInfo, timeout: float) -> bool:
    """Stale, or left with this process's pid by an earlier process (this one does not hold it)."""
    return info.stale(timeout) or (info.mine() and str(info.path) not in _HELD)


def _break_stale(path: Path, seen: ClaimInfo, timeout: float) -> None:
    """Remove the stale claim ``seen`` unless someone replaced or refreshed it meanwhile.

    Two processes may find the same stale claim: a second lock file (``.break``)
    lets only one of them remove it, and only if it is still the claim it read.
    """
    lock = path.with_name(path.name + ".break")
    try:
        os.close(os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
    except FileExistsError:
        try:
            if time.time() - lock.stat().st_mtime > BREAK_LOCK_STALE:  # its process died while breaking
                lock.unlink(missing_ok=True)
        except FileNotFoundError:
            pass
        time.sleep(0.05)
        return
    try:
        again = read_claim(path)
        unchanged = again is not None and again.raw == seen.raw and again.mtime_ns == seen.mtime_ns
        if unchanged and _breakable(again, timeout):
            path.unlink(missing_ok=True)
    finally:
        lock.unlink(missing_ok=True)


class Claim:
    """An exclusive claim on ``path`` held by this process, kept fresh by a heartbeat thread until released."""

    def __init__(self, path: Path, token: str, *, label: str, timeout: float, heartbeat: float | None = None) -> None:
        self.path = path
        self.token = token
        self.label = label
        self.timeout = timeout
        self.interval = heartbeat if heartbeat is not None else max(0.05, min(30.0, timeout / 5))
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"aelib-claim-{label}", daemon=True)
        self._thread.start()

    @classmethod
    def acquire(cls, path: str | Path, *, label: str = "", timeout: float | None = None,
                heartbeat: float | None = None) -> tuple["Claim | None", ClaimInfo | None]:
        """``(claim, None)`` when this process now holds ``path``; ``(None, holder)`` when a live process does.

        A stale claim (see :meth:`ClaimInfo.stale`) is taken over.
        """
        path = Path(path)
        timeout = claim_timeout() if timeout is None else float(timeout)
        path.parent.mkdir(parents=True, exist_ok=True)
        holder = None
        for _ in range(20):
            token = uuid.uuid4().hex
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = read_claim(path)
                if holder is None:  # released meanwhile: try again
                    continue
                if holder.mine() and str(path) in _HELD:
                    raise RuntimeError(f"{label or path}: this process already holds that claim (a run started "
                                       "again from inside itself)")
                if not _breakable(holder, timeout):
                    return None, holder
                _break_stale(path, holder, timeout)
                continue
            payload = {"pid": os.getpid(), "host": HOST, "machine": MACHINE, "started": time.time(), "token": token,
                       "label": label}
            with os.fdopen(fd, "wb") as f:
                f.write(json.dumps(payload).encode("utf-8"))
                f.flush()
                os.fsync(f.fileno())
            _HELD.add(str(path))
            return cls(path, token, label=label, timeout=timeout, heartbeat=heartbeat), None
        return None, holder or read_claim(path)  # contended: the caller waits and tries again

    def owned(self) -> bool:
        """Whether the claim file is still this claim (not taken over after a missed heartbeat)."""
        info = read_claim(self.path)
        return info is not None and info.token == self.token

    def _beat(self) -> None:
        while not self._stop.wait(self.interval):
            if not self.owned():
                self.lost = True
                return
            try:
                os.utime(self.path)
            except OSError:
                pass

    def release(self) -> None:
        """Stop the heartbeat and remove the claim file if it is still this claim."""
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        if self.owned():
            self.path.unlink(missing_ok=True)
        _HELD.discard(str(self.path))

    def __enter__(self) -> "Claim":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


@contextlib.contextmanager
def exclusive(path: str | Path, *, poll: float = 0.05, label: str = "", timeout: float = 60.0):
    """Hold the claim ``path`` for a short critical section (e.g. merging a table), waiting while another
    process holds it; a holder that died is taken over as any stale claim (on another machine: after
    ``timeout`` seconds without a heartbeat, shorter than a run's since the section is short)."""
    while True:
        claim, _ = Claim.acquire(path, label=label or Path(path).name, timeout=timeout)
        if claim is not None:
            break
        time.sleep(poll)
    try:
        yield claim
    finally:
        claim.release()


def invocations_dir(out_dir: str | Path) -> Path:
    """The folder of the invocation leases of the results folder ``out_dir``."""
    return Path(out_dir) / "runs" / INVOCATIONS


@contextlib.contextmanager
def invocation_lease(out_dir: str | Path, tag: str = ""):
    """Hold a lease on ``out_dir`` for the duration of an invocation (``aelib run``, a shard, a Slurm job).

    The summary of another invocation waits while this lease is live and not
    summarising (:func:`wait_for_others`). Sets ``AELIB_INVOCATION``
    (this lease, which the summary of this same invocation does not wait for)
    and ``AELIB_SHARD_TAG`` (``tag``, which names the per-step provenance files
    of a shard) for the step notebooks this process starts.
    """
    name = f"{tag.strip('-') or 'run'}-{HOST}-{os.getpid()}{CLAIM_SUFFIX}".replace("/", "_")
    path = invocations_dir(out_dir) / name
    claim, holder = Claim.acquire(path, label=f"invocation {tag.strip('-') or 'run'}")
    if claim is None:  # only a process with this pid on this host could hold it
        raise RuntimeError(f"Invocation lease {path} is held by {holder.describe() if holder else 'another process'}")
    previous = {k: os.environ.get(k) for k in ("AELIB_INVOCATION", "AELIB_SHARD_TAG")}
    os.environ["AELIB_INVOCATION"] = str(path)
    os.environ["AELIB_SHARD_TAG"] = tag
    try:
        yield claim
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        path.with_name(path.name + SUMMARY_MARK).unlink(missing_ok=True)
        claim.release()


def mark_summarising() -> None:
    """Mark this process's invocation (``AELIB_INVOCATION``) as summarising: its work is done, so the summaries
    of other invocations stop waiting for it (two summaries never wait for each other). The mark goes with the
    lease."""
    own = os.environ.get("AELIB_INVOCATION")
    if own and Path(own).is_file():
        try:
            Path(own + SUMMARY_MARK).write_text(str(os.getpid()))
        except OSError:
            pass


def activity(root: str | Path) -> list[ClaimInfo]:
    """Live claims of other processes on the run store ``root``: runs in progress, and invocations
    (``aelib run``) not yet summarising.

    The invocation this process belongs to (``AELIB_INVOCATION``) is left out;
    stale invocation leases are removed.
    """
    root = Path(root)
    own = os.environ.get("AELIB_INVOCATION")
    out = []
    invocations = root / INVOCATIONS
    for path in sorted(invocations.glob(f"*{CLAIM_SUFFIX}")) if invocations.is_dir() else []:
        if own and path == Path(own):
            continue
        info = read_claim(path)
        if info is None:
            continue
        if info.stale():
            path.unlink(missing_ok=True)
            path.with_name(path.name + SUMMARY_MARK).unlink(missing_ok=True)
        elif not path.with_name(path.name + SUMMARY_MARK).exists():
            out.append(info)
    for path in sorted(root.glob(f"*/.*{CLAIM_SUFFIX}")):
        info = read_claim(path)
        if info is not None and not info.stale() and not info.mine():
            out.append(info)
    return out


def wait_for_others(root: str | Path, *, timeout: float | None = None, poll: float = 5.0, every: float = 60.0,
                    label: str = "summary") -> list[ClaimInfo]:
    """Wait (at most ``timeout`` seconds, ``AELIB_SUMMARY_WAIT`` or 1800) while other processes work on the
    run store ``root`` (:func:`activity`), printing progress every ``every`` seconds. Returns what is still
    active."""
    timeout = env_seconds("AELIB_SUMMARY_WAIT", 1800.0, allow_zero=True) if timeout is None else timeout
    start = time.monotonic()
    last = None
    while True:
        active = activity(root)
        waited = time.monotonic() - start
        if not active or waited >= timeout:
            if active:
                print(f"[{label}] stopped waiting after {waited:.0f}s (limit {timeout:.0f}s, AELIB_SUMMARY_WAIT); "
                      f"still active: " + "; ".join(a.describe() for a in active), flush=True)
            elif last is not None:
                print(f"[{label}] the other processes finished after {waited:.0f}s", flush=True)
            return active
        if last is None or time.monotonic() - last >= every:
            last = time.monotonic()
            print(f"[{label}] waiting for {len(active)} other process(es) working on {root} "
                  f"({waited:.0f}s of at most {timeout:.0f}s; AELIB_SUMMARY_WAIT=0 does not wait): "
                  + "; ".join(a.describe() for a in active[:5]) + (" …" if len(active) > 5 else ""), flush=True)
        time.sleep(min(poll, max(0.05, timeout - waited)))
