"""Crash safety: SIGKILL at random points of an ingest and of a scorecard write.

A writer process (``tests/reliability_child.py``) loads a second demo world over a warehouse
holding a first one, or replaces a brief's scorecard partition with scorecard-sized frames.
It is killed with SIGKILL after a seeded random delay: sometimes anywhere in its run, sometimes
inside the warehouse transaction (after it announces the write). After every kill:

* the warehouse opens (no stale writer lock: the kernel drops the ``flock`` of a dead process),
* every table is whole: exactly as before the write, or exactly as after a complete write,
  never a mix (and never a partial ingest log),
* a rerun completes and gives the same tables as an uninterrupted run.

The number of kills is printed (``[reliability] kills survived``) and quoted in docs/reliability.md.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import shutil
import signal
import sys
import time
from pathlib import Path

import pytest

from kol_vetting import warehouse as wh
from kol_vetting.ingest import ingest_directory
from kol_vetting.sources.demo import generate_world

sys.path.insert(0, str(Path(__file__).parent))
from reliability_child import scorecard_frames
from reliability_support import Zygote, ingest_log_whole, same, same_but_log, snapshot

NOW = dt.datetime(2026, 11, 1)
SEED = 20261101
INGEST_KILLS = 10
PARTITION_KILLS = 10
SCORECARD_ROWS = 6_000  # a large brief: 6k candidates, 24k evidence rows


def run_to_end(zygote: Zygote, mode: str, args: dict) -> dict[str, float]:
    """Let a writer work uninterrupted; return how long its work and its write took (seconds)."""
    _, t0, events = zygote.start(mode, args)
    assert zygote.wait_for("done", events), Path(zygote.err.name).read_text()
    assert zygote.reap(events) == 0
    return {"work": events["done"] - t0, "write": events["done"] - events["write"]}


def kill_at_random(zygote: Zygote, mode: str, args: dict, rng: random.Random, timing: dict[str, float]):
    """Fork a writer and SIGKILL it anywhere in its run, or inside its write transaction.
    Returns (killed, where, delay). When the writer finished first, ``timing`` is shortened to
    what that run took (the machine is shared: a run's length varies with the load)."""
    pid, t0, events = zygote.start(mode, args)
    if rng.random() < 0.5:
        where, delay = "anywhere", rng.uniform(0.0, timing["work"] * 1.05)
        time.sleep(max(0.0, t0 + delay - time.time()))
    else:
        where, delay = "in the write", rng.uniform(0.0, timing["write"] * 1.1)
        zygote.wait_for("write", events)
        time.sleep(delay)
    # The writer is alive or a zombie not yet reaped: this pid is still ours.
    os.kill(pid, signal.SIGKILL)
    code = zygote.reap(events)
    assert code in (0, -signal.SIGKILL), (code, Path(zygote.err.name).read_text())
    killed = code == -signal.SIGKILL
    if not killed and "done" in events and "write" in events:
        timing["work"] = min(timing["work"], events["done"] - t0)
        timing["write"] = min(timing["write"], events["done"] - events["write"])
    return killed, where, delay


@pytest.fixture(scope="module")
def worlds(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("crash_worlds")
    generate_world(20, 31, root / "a")
    generate_world(30, 32, root / "b")
    return root / "a", root / "b"


@pytest.fixture(scope="module")
def pristine(tmp_path_factory, worlds) -> Path:
    """The warehouse before every trial: world A loaded, scorecards of briefs alpha and beta."""
    db = tmp_path_factory.mktemp("crash_pristine") / "w.duckdb"
    with wh.connect(db) as con:
        ingest_directory(con, worlds[0], now=NOW)
        for brief, seed in (("alpha", 1), ("beta", 2)):
            wh.replace_partition(con, scorecard_frames(brief, seed, SCORECARD_ROWS), column="brief", value=brief)
    assert not Path(str(db) + ".wal").exists()  # checkpointed on close: one file to copy
    return db


def _fresh(pristine: Path, folder: Path) -> Path:
    for f in folder.glob("w.duckdb*"):
        f.unlink()
    db = folder / "w.duckdb"
    shutil.copyfile(pristine, db)
    return db


def _trials(kind: str, kills_wanted: int, pristine: Path, child_args, redo, tmp_path: Path, capsys) -> None:
    rng = random.Random(f"{SEED}-{kind}")
    before = snapshot(pristine)
    # The uninterrupted run, in-process: what every rerun must reproduce.
    expected_db = _fresh(pristine, tmp_path)
    redo(expected_db)
    expected = snapshot(expected_db)
    assert not same(before, expected)

    work = tmp_path / "work"
    work.mkdir()
    db = _fresh(pristine, work)
    zygote = Zygote(tmp_path)
    try:
        timing = run_to_end(zygote, kind, child_args(db))  # calibration: how long the work and its write take
        assert same_but_log(snapshot(db), expected)
        kills, outcomes, attempts = 0, {"old": 0, "new": 0}, 0
        while kills < kills_wanted:
            attempts += 1
            assert attempts <= kills_wanted * 4, "the writer finished before the kill too often"
            db = _fresh(pristine, work)
            killed, where, delay = kill_at_random(zygote, kind, child_args(db), rng, timing)
            kills += killed
            # The warehouse opens at once (the dead writer's flock is gone) and is whole.
            with wh.connect(db, lock_timeout_s=5):
                pass
            state = snapshot(db)
            if same(state, before):
                outcomes["old"] += 1
            else:
                # Committed just before the kill: then it is exactly the new state.
                assert same_but_log(state, expected), (kind, where, delay)
                outcomes["new"] += 1
            assert ingest_log_whole(db)
            # A rerun completes and gives what an uninterrupted run gives.
            redo(db)
            assert same_but_log(snapshot(db), expected), (kind, where, delay)
            assert ingest_log_whole(db)
    finally:
        zygote.close()
    assert outcomes["old"] >= 1  # at least some kills landed before the commit
    with capsys.disabled():
        print(f"\n[reliability] {kind}: {kills} kills survived in {attempts} attempts "
              f"(warehouse found as before: {outcomes['old']}, as after: {outcomes['new']}); "
              f"work {timing['work']:.2f}s, write {timing['write']:.2f}s")


def test_sigkill_during_ingest_leaves_the_warehouse_whole(tmp_path, pristine, worlds, capsys) -> None:
    src = worlds[1]

    def redo(db: Path) -> None:
        with wh.connect(db) as con:
            ingest_directory(con, src, now=NOW)

    _trials(
        "ingest", INGEST_KILLS, pristine,
        lambda db: {"db": str(db), "src": str(src), "now": NOW.isoformat()},
        redo, tmp_path, capsys,
    )


def test_sigkill_during_scorecard_write_leaves_the_warehouse_whole(tmp_path, pristine, capsys) -> None:
    frames = scorecard_frames("alpha", 3, SCORECARD_ROWS)

    def redo(db: Path) -> None:
        with wh.connect(db) as con:
            wh.replace_partition(con, frames, column="brief", value="alpha")

    _trials(
        "partition", PARTITION_KILLS, pristine,
        lambda db: {"db": str(db), "brief": "alpha", "seed": 3, "rows": SCORECARD_ROWS},
        redo, tmp_path, capsys,
    )
