"""Helpers shared by the crash and concurrency tests (parent side; never collected).

``snapshot`` fingerprints every warehouse table; ``Zygote`` drives writer processes forked from
``tests/reliability_child.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

from kol_vetting import schema
from kol_vetting import warehouse as wh

CHILD = Path(__file__).parent / "reliability_child.py"


def snapshot(db: Path) -> dict[str, tuple[int, str, str]]:
    """Per table: row count, and order-independent fingerprints of its rows (a sum of DuckDB row
    hashes over all rows, and over distinct rows). Equal fingerprints = the same multiset of rows.
    The ingest id (a fresh uuid per ingest) is left out."""
    out = {}
    with wh.connect(db, read_only=True, lock_timeout_s=10) as con:
        for name in wh.table_counts(con):
            cols = "* EXCLUDE (ingest_id)" if name == "ingest_log" else "*"
            out[name] = con.execute(
                f'SELECT count(*), coalesce(sum(hash(x)), 0)::VARCHAR, '
                f'(SELECT coalesce(sum(hash(y)), 0)::VARCHAR FROM (SELECT DISTINCT {cols} FROM "{name}") y) '
                f'FROM (SELECT {cols} FROM "{name}") x'
            ).fetchall()[0]
    return out


def same(a: dict, b: dict) -> bool:
    return a == b


def ingest_log_whole(db: Path) -> bool:
    """Every ingest in the log has one row per contract table (no half-written ingest)."""
    with wh.connect(db, read_only=True) as con:
        log = wh.read_table(con, "ingest_log")
    return bool((log.group_by("ingest_id").len()["len"] == len(schema.TABLES)).all())


class Zygote:
    """A process that imported everything once and forks one writer per trial, so that a kill
    is timed against the work and Python's start-up is paid once, not once per kill."""

    def __init__(self, logs: Path) -> None:
        logs.mkdir(parents=True, exist_ok=True)
        self.err = open(logs / "zygote.err", "w")  # noqa: SIM115 (closed in close())
        self.proc = subprocess.Popen(
            [sys.executable, str(CHILD), "zygote"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.err, text=True, bufsize=1,
        )
        assert self._line().startswith("ready"), Path(self.err.name).read_text()

    def _line(self, timeout_s: float = 300.0) -> str:
        # A watchdog: a writer that hangs ends the test (its zygote is killed) instead of the run.
        watchdog = threading.Timer(timeout_s, self.proc.kill)
        watchdog.start()
        try:
            line = self.proc.stdout.readline()
        finally:
            watchdog.cancel()
        assert line, ("writer zygote died or hung", Path(self.err.name).read_text())
        return line

    def start(self, mode: str, args: dict) -> tuple[int, float, dict[str, float]]:
        """Fork a writer; returns its pid, the start time and the announcements seen so far."""
        t0 = time.time()
        self.proc.stdin.write(json.dumps({"mode": mode, "args": args}) + "\n")
        self.proc.stdin.flush()
        events: dict[str, float] = {}
        while True:
            word, value = self._line().split()
            if word == "pid":
                return int(value), t0, events
            events[word] = float(value)

    def wait_for(self, word: str, events: dict[str, float]) -> bool:
        """Read the writer's announcements until ``word``; False if it ended without it."""
        while word not in events:
            if "done" in events or "failed" in events:
                return False
            key, value = self._line().split()
            events[key] = float(value)
        return True

    def reap(self, events: dict[str, float]) -> int:
        """Let the zygote collect the writer; its exit code (-9 when killed). Announcements the
        writer made after we stopped reading are added to ``events``."""
        self.proc.stdin.write("reap\n")
        self.proc.stdin.flush()
        while True:
            key, value = self._line().split()
            if key == "exit":
                return int(value)
            events[key] = float(value)

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(30)
        self.err.close()


def same_but_log(state: dict, expected: dict) -> bool:
    """Equal tables; the ingest log may hold the same ingest more than once (a rerun after a commit)."""
    if state.keys() != expected.keys():
        return False
    return all(
        state[t][2] == expected[t][2] if t == "ingest_log" else state[t] == expected[t] for t in state
    )




# The library pipeline on one demo world, computed once per test session and shared by the
# determinism and security tests (it takes several seconds).
BRIEF = Path(__file__).resolve().parents[1] / "briefs" / "lanxi-spring.yaml"
_VETTED: dict[str, object] = {}


def demo_world_root(tmp_path_factory) -> Path:
    """A folder holding ``world/``: a 40-creator demo world (seed 51), written once per session."""
    if "root" not in _VETTED:
        from kol_vetting.sources.demo import generate_world

        root = tmp_path_factory.mktemp("vetted")
        generate_world(40, 51, root / "world")
        _VETTED["root"] = root
    return _VETTED["root"]


def vetted_world(tmp_path_factory) -> tuple[Path, dict]:
    """(root, result of ``reliability_child.vet_world``) for the session's demo world."""
    root = demo_world_root(tmp_path_factory)
    if "result" not in _VETTED:
        from reliability_child import vet_world

        _VETTED["result"] = vet_world(root / "world", root / "mine", BRIEF, exports=1)
    return root, _VETTED["result"]
