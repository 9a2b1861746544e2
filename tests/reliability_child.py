"""A writer process for the crash and concurrency tests (run as a script, never collected).

``python tests/reliability_child.py MODE JSON_ARGS`` imports everything, prints ``ready``, then
waits for a line on stdin before working, so that the parent can start it early and time a
SIGKILL against the work itself rather than against Python's start-up.
``python tests/reliability_child.py zygote`` imports once and forks one writer per request line
(see :func:`zygote`). While working, a writer prints

* ``locked <time>`` once it holds the warehouse writer lock,
* ``write <time>`` just before the warehouse transaction starts,
* ``unlocking <time>`` when its work is committed, before it lets go of the lock (so
  ``locked``..``unlocking`` lies inside the time it really held the lock),
* ``released <time>`` after the connection is closed (lock released),
* ``done <time>`` at the end.

Modes:

* ``ingest``: ``kol_vetting.ingest.ingest_directory`` of ``src`` into ``db`` (args: db, src, now);
* ``partition``: ``kol_vetting.warehouse.replace_partition`` of scorecard-sized frames for brief
  ``brief`` (args: db, brief, seed, rows), as the scorecard asset writes them.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

from kol_vetting import ingest as ingest_mod
from kol_vetting import warehouse as wh
from kol_vetting.scorecard import SCORECARD_SCHEMA


def say(word: str) -> None:
    print(f"{word} {time.time():.6f}", flush=True)


def scorecard_frames(brief: str, seed: int, rows: int) -> dict[str, pl.DataFrame]:
    """A deterministic scorecard of ``rows`` creators and its evidence (4 items per creator)."""
    rng = np.random.default_rng(seed)
    i = pl.col("i")
    exprs: list[pl.Expr] = []
    for name, dtype in SCORECARD_SCHEMA.items():
        if name == "brief":
            exprs.append(pl.lit(brief).alias(name))
        elif name == "creator_id":
            exprs.append(pl.format("c{}", i.cast(pl.String).str.zfill(6)).alias(name))
        elif dtype == pl.Float64:
            exprs.append(pl.lit(pl.Series(np.round(rng.random(rows) * 100, 3))).alias(name))
        elif dtype == pl.Int64:
            exprs.append(pl.lit(pl.Series(rng.integers(0, 10**6, rows))).alias(name))
        elif dtype == pl.String:
            exprs.append(pl.format(f"{name}-{{}}", pl.lit(pl.Series(rng.integers(0, 50, rows)))).alias(name))
        elif isinstance(dtype, pl.List):
            items = pl.int_ranges(i * 4, i * 4 + i % 4).list.eval(pl.format(f"{name}-{seed}-{{}}", pl.element()))
            exprs.append(items.alias(name))
        elif isinstance(dtype, pl.Datetime):
            minutes = pl.lit(pl.Series(rng.integers(0, 10**5, rows)))
            exprs.append((pl.lit(dt.datetime(2026, 10, 1)) + pl.duration(minutes=minutes)).alias(name))
    card = pl.DataFrame({"i": np.arange(rows)}).select(exprs).cast(dict(SCORECARD_SCHEMA))
    evidence = pl.DataFrame({"k": np.arange(4 * rows)}).select(
        pl.lit(brief).alias("brief"),
        pl.format("c{}", (pl.col("k") // 4).cast(pl.String).str.zfill(6)).alias("creator_id"),
        pl.col("k").mod(4).replace_strict({0: "authenticity", 1: "controversy", 2: "disclosure", 3: "claims"}).alias("signal"),
        pl.format(f"e{seed}-{{}}", pl.col("k")).alias("evidence_id"),
        pl.lit(pl.Series(np.round(rng.random(4 * rows), 4))).alias("risk"),
    )
    return {"scorecard": card, "scorecard_evidence": evidence}


def vet_world(world: str | Path, workdir: str | Path, brief_file: str | Path, *, exports: int = 2) -> dict[str, object]:
    """The whole library pipeline on a demo world, as the assets run it, without Dagster.

    Ingest into ``workdir/w.duckdb``, the five signals, the scorecard and its evidence (built
    twice from the same inputs, which must agree), and the exports of the brief into
    ``workdir/exports`` (``exports`` times, which must give the same bytes). Returns the scorecard, the evidence and the exported files' SHA-256.
    """
    import hashlib

    from kol_vetting.brief import SIGNALS, load_brief
    from kol_vetting.export import export_scorecard
    from kol_vetting.scorecard import build_scorecard, evidence_table
    from kol_vetting.signals.alignment import score_alignment
    from kol_vetting.signals.authenticity import score_authenticity
    from kol_vetting.signals.claims import score_claims
    from kol_vetting.signals.controversy import detect_controversy
    from kol_vetting.signals.disclosure import audit_disclosure, known_brands_from

    workdir = Path(workdir)
    brief = load_brief(brief_file)
    db = workdir / "w.duckdb"
    with wh.connect(db) as con:
        ingest_mod.ingest_directory(con, world, now=dt.datetime(2026, 11, 1))
        t = {n: wh.read_table(con, n) for n in schema_tables()}
    as_of = t["creators"]["captured_at"].max()
    auth = score_authenticity(t["creators"], t["follower_samples"], t["notes"], t["comments"], t["follower_history"], as_of=as_of)
    contro = detect_controversy(t["creators"], t["notes"], t["comments"], as_of=as_of)
    disclo = audit_disclosure(t["creators"], t["notes"], t["comments"], as_of=as_of,
                              known_brands=known_brands_from([brief], t["partners"]))
    claims = score_claims(disclo["disclosure_audit"], t["creators"], regulated_category=brief.regulated_category,
                          as_of=as_of, brief_name=brief.name)
    align = score_alignment(brief, t["creators"], t["notes"], t["comments"], as_of=as_of,
                            disclosure_audit=disclo["disclosure_audit"])
    signals = {
        "authenticity": auth["authenticity_scores"], "controversy": contro["controversy_scores"],
        "disclosure": disclo["disclosure_scores"], "claims": claims, "alignment": align["alignment_scores"],
    }
    assert set(signals) == set(SIGNALS)
    cards = [build_scorecard(brief, t["creators"], t["notes"], signals, as_of=as_of) for _ in range(2)]
    assert cards[0].equals(cards[1]), "build_scorecard differs between two calls on the same inputs"
    evidence = [evidence_table(cards[0], signals, t["notes"], t["comments"], t["follower_samples"]) for _ in range(2)]
    assert evidence[0].equals(evidence[1]), "evidence_table differs between two calls"
    hashes: dict[str, str] = {}
    for run in ("first", "second")[:exports]:
        out = workdir / "exports" / run / brief.name
        paths = export_scorecard(cards[0], evidence[0], brief, out, follower_history=t["follower_history"], notes=t["notes"])
        files = [paths["xlsx"], paths["csv"], paths["parquet"], *sorted(paths["dossiers"].glob("*.html"))]
        digest = {str(f.relative_to(out)): hashlib.sha256(f.read_bytes()).hexdigest() for f in files}
        if run == "second":
            assert digest == hashes, "two exports of the same scorecard differ"
        hashes = digest
    return {"scorecard": cards[0], "evidence": evidence[0], "hashes": hashes, "signals": signals}


def schema_tables() -> list[str]:
    from kol_vetting import schema

    return list(schema.TABLES)


def work(mode: str, args: dict) -> None:
    """One write to the warehouse, announcing its steps on stdout."""
    if mode == "ingest":
        original = ingest_mod.replace_tables

        def announced(con, tables):
            say("write")
            original(con, tables)

        ingest_mod.replace_tables = announced
        now = dt.datetime.fromisoformat(args["now"])
        with wh.connect(args["db"]) as con:
            say("locked")
            if args.get("hold_s"):
                time.sleep(args["hold_s"])
            ingest_mod.ingest_directory(con, args["src"], args.get("format", "canonical"), now=now)
            say("unlocking")
        say("released")
    elif mode == "partition":
        frames = scorecard_frames(args["brief"], args["seed"], args["rows"])
        with wh.connect(args["db"]) as con:
            say("locked")
            if args.get("hold_s"):
                time.sleep(args["hold_s"])
            say("write")
            wh.replace_partition(con, frames, column="brief", value=args["brief"])
            say("unlocking")
        say("released")
    else:
        raise SystemExit(f"unknown mode {mode}")
    say("done")


def zygote() -> None:
    """Import once, then fork one writer per request line (``{"mode": ..., "args": ...}``).

    Prints ``pid N`` for each writer; the writer prints ``done`` or ``failed`` when it ends.
    The writer is reaped only when the parent sends ``reap`` (then ``exit CODE`` is printed,
    ``-9`` when killed): until then its pid cannot be reused, so a SIGKILL sent by the parent
    can only ever reach this writer. The parent times kills against the work without paying
    Python's start-up every time. Nothing here has run Polars or DuckDB before the fork: the
    writer starts their thread pools itself.
    """
    say("ready")
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                work(request["mode"], request["args"])
            except BaseException:  # noqa: BLE001 (report anything, then leave without the zygote's cleanup)
                import traceback

                traceback.print_exc()
                say("failed")
                code = 1
            finally:
                sys.stdout.flush()
                os._exit(code)
        print(f"pid {pid}", flush=True)
        sys.stdin.readline()  # "reap": the parent is done with this pid
        _, status = os.waitpid(pid, 0)
        code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        print(f"exit {code}", flush=True)


def main() -> None:
    mode = sys.argv[1]
    if mode == "zygote":
        zygote()
        return
    args = json.loads(sys.argv[2])
    if mode == "pipeline":  # one uninterrupted run; prints the export hashes as JSON
        result = vet_world(args["world"], args["workdir"], args["brief"], exports=1)
        from kol_vetting.export import write_parquet

        card = Path(args["workdir"]) / "scorecard.parquet"
        write_parquet(card, result["scorecard"])
        print(json.dumps({"hashes": result["hashes"], "scorecard_parquet": card.read_bytes().hex()}))
        return
    say("ready")
    if not sys.stdin.readline():
        return  # the parent went away without starting us
    work(mode, args)


if __name__ == "__main__":
    main()
