"""End-to-end pipeline benchmark: every stage on demo worlds of given sizes, against a floor.

:func:`run_benchmark` generates (or reuses) a demo world per size, then runs the whole pipeline
through the library functions in a **fresh subprocess per size** (so the peak resident memory
reported is that size's own), stage by stage:

* ``ingest``: read the Parquet files (``read_source``), validate every row
  (``validate_source``) and load all tables into a DuckDB file in ``workdir``;
* ``authenticity``, ``controversy``, ``disclosure``: the brand-independent signals, each reading
  its inputs from the warehouse and writing its tables back, like the Dagster assets do;
* ``alignment`` and ``claims``: the brief-dependent signals for one brief;
* ``scorecard``: :func:`build_scorecard` and :func:`evidence_table`;
* ``portfolio``: :func:`audience_overlap` and :func:`recommend_portfolio` (MILP), JSON + plot;
* ``exports``: :func:`export_scorecard`: Excel, CSV, Parquet and an HTML dossier (two inline SVG
  plots) for every candidate, as the Dagster ``exports`` asset writes them (``max_dossiers`` caps
  the dossiers, default: all).

For each stage: wall seconds, CPU seconds (all threads of the process, ``time.process_time``),
input rows and rows per second. In the same child, before the pipeline, the **floor**: one
DuckDB query over the Parquet files that reads every input column once and aggregates per
creator (numbers summed and maxed, text measured by length, comments rolled up per note then
joined to their note's creator). ``ratio`` = pipeline seconds / floor seconds.

``scaling_exponent`` is the least-squares slope of log(pipeline seconds) against log(creators)
(1.0 = linear); null with a single size.

Usage: ``run_benchmark([1000, 10000], workdir=Path("bench_cache/pipeline"), json_out=...)``; the
CLI wires it as ``kol-vetting bench``. ``python -m kol_vetting.bench 1000,10000`` works too.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

#: Contract tables the demo world writes (inputs of the pipeline and of the floor).
INPUT_TABLES = ("creators", "follower_history", "notes", "comments", "follower_samples", "partners")
#: Dossiers written by the exports stage (the rest of the exports hold every creator).
DEFAULT_MAX_DOSSIERS: int | None = None  # None: a dossier for every candidate, as the product
#: Stage order in the table and the JSON.
STAGES = (
    "ingest",
    "authenticity",
    "controversy",
    "disclosure",
    "alignment",
    "claims",
    "scorecard",
    "portfolio",
    "exports",
)


# --------------------------------------------------------------------------------------------
# Machine description
# --------------------------------------------------------------------------------------------


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB: ``VmHWM`` (reset at exec, so it is this
    program's own), else ``ru_maxrss`` (on Linux a child's ru_maxrss also counts the parent's
    memory at fork time, which the parent being small keeps negligible)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def machine_info() -> dict[str, Any]:
    """CPU model, cores, RAM, OS and the versions that matter for speed."""
    import duckdb
    import polars as pl

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram_gb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
                break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        usable = os.cpu_count()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "ram_gb": ram_gb,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "polars": pl.__version__,
        "duckdb": duckdb.__version__,
        "polars_threads": pl.thread_pool_size(),
    }


# --------------------------------------------------------------------------------------------
# Worlds (cached) and the floor query
# --------------------------------------------------------------------------------------------


def world_dir(workdir: Path, n: int, seed: int) -> Path:
    """Where the demo world of ``n`` creators and ``seed`` is cached."""
    return Path(workdir) / f"world_{n}_s{seed}"


def _world_complete(path: Path) -> bool:
    # generate_world publishes every file at the end (renames), so all present = complete.
    return all((path / f"{t}.parquet").is_file() for t in (*INPUT_TABLES, "ground_truth"))


def ensure_world(workdir: Path, n: int, seed: int) -> tuple[Path, float | None]:
    """The cached world's folder, generating it (in a subprocess) when missing.

    Returns the folder and the generation seconds (None when it was reused).
    """
    path = world_dir(workdir, n, seed)
    if _world_complete(path):
        return path, None
    t0 = time.perf_counter()
    code = (
        "import sys; from kol_vetting.sources.demo import generate_world; "
        "generate_world(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3])"
    )
    subprocess.run([sys.executable, "-c", code, str(n), str(seed), str(path)], check=True, env=_child_env())
    return path, time.perf_counter() - t0


def _sql_str(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _column_aggs(table: str, alias: str) -> list[str]:
    """SQL aggregates touching every column of ``table`` once (text by length)."""
    import polars as pl

    from kol_vetting.schema import polars_schema

    out = [f"count(*) AS {alias}_rows"]
    for col, dtype in polars_schema(table).items():
        c = f'"{col}"'
        if dtype == pl.String:
            out.append(f"sum(length({c})) AS {alias}_{col}_len")
        elif isinstance(dtype, pl.List):
            out.append(f"sum(len({c})) AS {alias}_{col}_len")
        elif dtype == pl.Boolean:
            out.append(f"count_if({c}) AS {alias}_{col}_true")
        elif dtype.is_numeric():
            out.append(f"sum({c}) AS {alias}_{col}_sum")
            out.append(f"max({c}) AS {alias}_{col}_max")
        else:  # dates and timestamps
            out.append(f"max({c}) AS {alias}_{col}_max")
    return out


def floor_sql(world: Path) -> str:
    """One query reading every input column once, aggregated per creator.

    Comments carry no creator id: they are rolled up per note first, then joined to the note's
    creator (the least work that attributes them to a creator).
    """

    def src(t: str) -> str:
        return f"read_parquet({_sql_str(str(Path(world) / f'{t}.parquet'))})"

    per_creator = {t: a for t, a in (("creators", "cr"), ("follower_history", "fh"), ("follower_samples", "fs"), ("partners", "pa"))}
    ctes = []
    for t, a in per_creator.items():
        ctes.append(f"{a} AS (SELECT creator_id, {', '.join(_column_aggs(t, a))} FROM {src(t)} GROUP BY creator_id)")
    cm_aggs = [x for x in _column_aggs("comments", "cm") if '"note_id"' not in x]
    ctes.append(f"cm AS (SELECT note_id, {', '.join(cm_aggs)} FROM {src('comments')} GROUP BY note_id)")
    nt_aggs = _column_aggs("notes", "nt")
    cm_names = [x.rsplit(" AS ", 1)[1] for x in cm_aggs]
    cm_roll = [f"{'max' if n.endswith('_max') else 'sum'}(cm.{n}) AS {n}" for n in cm_names]
    ctes.append(
        "nt AS (SELECT n.creator_id, "
        + ", ".join(x.replace('"', 'n."', 1) if '"' in x else x for x in nt_aggs)
        + ", "
        + ", ".join(cm_roll)
        + f" FROM {src('notes')} n LEFT JOIN cm ON cm.note_id = n.note_id GROUP BY n.creator_id)"
    )
    joins = " ".join(f"LEFT JOIN {a} USING (creator_id)" for a in ("fh", "fs", "pa", "nt"))
    return "WITH " + ",\n".join(ctes) + f"\nSELECT * FROM cr {joins}"


def run_floor(world: Path) -> tuple[float, int]:
    """Seconds of the floor query (result materialised in memory) and its row count."""
    import duckdb

    con = duckdb.connect()
    try:
        con.execute("SET enable_progress_bar = false")
        sql = floor_sql(world)
        # The whole result is fetched (a count(*) around it would let DuckDB skip columns).
        t0 = time.perf_counter()
        res = con.sql(sql).to_arrow_table()
        return time.perf_counter() - t0, res.num_rows
    finally:
        con.close()


# --------------------------------------------------------------------------------------------
# The child: one size, every stage
# --------------------------------------------------------------------------------------------


class _Timer:
    def __init__(self) -> None:
        self.stages: dict[str, dict[str, Any]] = {}

    @contextmanager
    def stage(self, name: str, rows: int | Callable[[], int] = 0) -> Iterator[dict[str, Any]]:
        info: dict[str, Any] = {}
        c0, t0 = time.process_time(), time.perf_counter()
        yield info
        seconds = time.perf_counter() - t0
        cpu = time.process_time() - c0
        n = rows() if callable(rows) else rows
        n = info.pop("rows", n)
        # ru_maxrss only grows: a stage that raises it is the one that set the peak so far
        info["peak_rss_mb_so_far"] = peak_rss_mb()
        self.stages[name] = {
            "seconds": round(seconds, 3),
            "cpu_s": round(cpu, 3),
            "rows": int(n),
            "rows_per_s": round(n / seconds) if seconds > 0 else None,
            **info,
        }


def _data_as_of(con: Any) -> dt.datetime:
    from kol_vetting import warehouse as wh

    value = wh.scalar(con, "SELECT max(captured_at) FROM creators")
    return value if value is not None else wh.utc_now()


def run_pipeline(
    world: Path,
    workdir: Path,
    *,
    brief_path: Path,
    max_dossiers: int | None = DEFAULT_MAX_DOSSIERS,
    stages: tuple[str, ...] = STAGES,
) -> dict[str, Any]:
    """Run every stage once on ``world`` in this process; returns per-stage timings and counts.

    The warehouse is a fresh DuckDB file ``workdir/warehouse.duckdb``; exports go to
    ``workdir/exports/<brief>/``. Content-risk signals that are not importable are reported
    as ``"not present"`` and skipped (the scorecard then treats them as not assessed).
    """
    import polars as pl

    from kol_vetting import warehouse as wh
    from kol_vetting.brief import SIGNALS, load_brief
    from kol_vetting.ingest import load_validated, read_ground_truth, read_source
    from kol_vetting.validate import validate_source

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    db = workdir / "warehouse.duckdb"
    for p in (db, Path(str(db) + ".wal")):
        p.unlink(missing_ok=True)
    brief = load_brief(brief_path)
    T = _Timer()
    counts: dict[str, int] = {}
    missing: dict[str, str] = {}

    def read(con: Any, *tables: str) -> list[pl.DataFrame]:
        return [wh.read_table(con, t) for t in tables]

    # ---- ingest
    with T.stage("ingest") as info:
        t0 = time.perf_counter()
        raw = read_source(world, "canonical")
        t1 = time.perf_counter()
        validated = validate_source(raw)
        t2 = time.perf_counter()
        with wh.connect(db) as con:
            load_validated(con, validated, source=str(world), fmt="canonical", ground_truth=read_ground_truth(world))
        t3 = time.perf_counter()
        counts = {t: validated.tables[t].height for t in INPUT_TABLES if t in validated.tables}
        info["rows"] = sum(r.rows_read for r in validated.reports.values())
        info["parts_s"] = {"read": round(t1 - t0, 3), "validate": round(t2 - t1, 3), "load": round(t3 - t2, 3)}
        info["quarantined"] = int(validated.quarantine.height)
    del raw, validated

    with wh.connect(db, read_only=True) as con:
        as_of = _data_as_of(con)

    # ---- brand-independent signals
    if "authenticity" in stages:
        from kol_vetting.signals.authenticity import score_authenticity

        with T.stage("authenticity") as info:
            with wh.connect(db, read_only=True) as con:
                cr, fs, nt, cm, fh = read(con, "creators", "follower_samples", "notes", "comments", "follower_history")
            info["rows"] = cr.height + fs.height + nt.height + cm.height + fh.height
            t0 = time.perf_counter()
            out = score_authenticity(cr, fs, nt, cm, fh, as_of=as_of)
            info["compute_s"] = round(time.perf_counter() - t0, 3)
            with wh.connect(db) as con:
                wh.replace_tables(con, out)
            del cr, fs, nt, cm, fh, out

    content: dict[str, Any] = {}
    for name, module, func in (
        ("controversy", "kol_vetting.signals.controversy", "detect_controversy"),
        ("disclosure", "kol_vetting.signals.disclosure", "audit_disclosure"),
        ("claims", "kol_vetting.signals.claims", "score_claims"),
    ):
        try:
            mod = __import__(module, fromlist=[func])
            content[name] = getattr(mod, func)
        except (ImportError, AttributeError) as exc:
            missing[name] = f"not present ({type(exc).__name__}: {exc})"

    # The notes' text views are computed once, by the first content stage that runs (and timed
    # there, as ``views_s``), and passed to the others (``note_text_views``; Dagster: one asset).
    shared: dict[str, Any] = {}

    def note_views(nt: pl.DataFrame, info: dict[str, Any]) -> pl.DataFrame | None:
        if "views" not in shared:
            try:
                from kol_vetting.signals.content_text import note_text_views
            except ImportError:
                shared["views"] = None
                return None
            t0 = time.perf_counter()
            shared["views"] = note_text_views(nt)
            info["views_s"] = round(time.perf_counter() - t0, 3)
        return shared["views"]

    for name in ("controversy", "disclosure"):
        if name not in stages or name not in content:
            continue
        with T.stage(name) as info:
            with wh.connect(db, read_only=True) as con:
                # the disclosure audit does not read comments (its signature keeps them for later)
                cr, nt = read(con, "creators", "notes")
                cm = read(con, "comments")[0] if name != "disclosure" else None
            info["rows"] = cr.height + nt.height + (cm.height if cm is not None else 0)
            t0 = time.perf_counter()
            views = note_views(nt, info)
            out = content[name](cr, nt, cm, as_of=as_of, **({"views": views} if views is not None else {}))
            info["compute_s"] = round(time.perf_counter() - t0, 3)
            with wh.connect(db) as con:
                wh.replace_tables(con, out)
            del cr, nt, cm, out

    # ---- brief-dependent signals
    if "alignment" in stages:
        from kol_vetting.signals.alignment import score_alignment

        with T.stage("alignment") as info:
            with wh.connect(db, read_only=True) as con:
                cr, nt, cm = read(con, "creators", "notes", "comments")
                audit = wh.read_table(con, "disclosure_audit") if wh.table_exists(con, "disclosure_audit") else None
            info["rows"] = cr.height + nt.height + cm.height
            t0 = time.perf_counter()
            views = note_views(nt, info)
            out = score_alignment(
                brief, cr, nt, cm, as_of=as_of, disclosure_audit=audit,
                **({"views": views} if views is not None else {}),
            )
            info["compute_s"] = round(time.perf_counter() - t0, 3)
            with wh.connect(db) as con:
                wh.replace_partition(con, out, column="brief", value=brief.name)
            del cr, nt, cm, audit, out
    views = None
    shared.clear()  # the views are not needed after the text signals

    if "claims" in stages and "claims" in content:
        with T.stage("claims") as info:
            with wh.connect(db, read_only=True) as con:
                if not wh.table_exists(con, "disclosure_audit"):
                    audit = None
                else:
                    (audit,) = read(con, "disclosure_audit")
                (cr,) = read(con, "creators")
            if audit is not None:
                info["rows"] = audit.height + cr.height
                t0 = time.perf_counter()
                claims = content["claims"](
                    audit, cr, regulated_category=brief.regulated_category, as_of=as_of, brief_name=brief.name
                )
                info["compute_s"] = round(time.perf_counter() - t0, 3)
                with wh.connect(db) as con:
                    wh.replace_partition(con, {"claims_scores": claims}, column="brief", value=brief.name)
            else:
                info["skipped"] = "no disclosure_audit"

    # ---- scorecard
    if "scorecard" in stages:
        from kol_vetting.scorecard import build_scorecard, evidence_ids, evidence_table

        with T.stage("scorecard") as info:
            with wh.connect(db) as con:
                cr, nt = read(con, "creators", "notes")
                signals: dict[str, pl.DataFrame | None] = {}
                for s in SIGNALS:
                    table = f"{s}_scores"
                    if not wh.table_exists(con, table):
                        signals[s] = None
                    elif s in ("alignment", "claims"):  # brief-scoped tables: this brief's rows
                        signals[s] = wh.read_partition(con, table, column="brief", value=brief.name)
                    else:
                        signals[s] = wh.read_table(con, table)
                t0 = time.perf_counter()
                card = build_scorecard(brief, cr, nt, signals, as_of=as_of)
                t1 = time.perf_counter()
                # as the asset: only the comments and followers the evidence names are read
                wanted = evidence_ids(card, signals)
                cm = wh.read_rows(con, "comments", column="comment_id", values=wanted)
                fs = wh.read_rows(con, "follower_samples", column="follower_id", values=wanted)
                info["rows"] = cr.height + nt.height + cm.height + fs.height
                evidence = evidence_table(card, signals, nt, cm, fs)
                t2 = time.perf_counter()
                info["parts_s"] = {"build_scorecard": round(t1 - t0, 3), "evidence_table": round(t2 - t1, 3)}
                info["candidates"] = card.height
                info["evidence_rows"] = evidence.height
                wh.replace_partition(con, {"scorecard": card, "scorecard_evidence": evidence}, column="brief", value=brief.name)
            del cr, nt, cm, fs, signals, card, evidence

    out_dir = workdir / "exports" / brief.name
    portfolio_doc = None
    if "portfolio" in stages:
        from kol_vetting.portfolio import audience_overlap, portfolio_plot, recommend_portfolio

        with T.stage("portfolio") as info:
            with wh.connect(db, read_only=True) as con:
                card = wh.read_partition(con, "scorecard", column="brief", value=brief.name)
                ids = card["creator_id"]
                nt = wh.read_creator_rows(con, "notes", ids)
                cm = wh.read_rows(con, "comments", column="note_id", values=nt["note_id"])
                fs = wh.read_creator_rows(con, "follower_samples", ids)
            info["rows"] = card.height + nt.height + cm.height + fs.height
            t0 = time.perf_counter()
            pairs, _ = audience_overlap(cm, nt, fs, with_graph=False)
            t1 = time.perf_counter()
            result = recommend_portfolio(card, brief, overlap_pairs=pairs)
            t2 = time.perf_counter()
            out_dir.mkdir(parents=True, exist_ok=True)
            portfolio_doc = result.to_json()
            (out_dir / "portfolio.json").write_text(json.dumps(portfolio_doc, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
            portfolio_plot(result, None, out_dir / "portfolio.png")
            info["parts_s"] = {
                "audience_overlap": round(t1 - t0, 3),
                "recommend_portfolio": round(t2 - t1, 3),
                "write": round(time.perf_counter() - t2, 3),
            }
            info["status"] = result.status
            info["overlap_pairs"] = pairs.height
            info["selected"] = result.selected.height
            del card, nt, cm, fs, pairs, result

    if "exports" in stages:
        from kol_vetting.export import export_scorecard

        with T.stage("exports") as info:
            with wh.connect(db, read_only=True) as con:
                card = wh.read_partition(con, "scorecard", column="brief", value=brief.name)
                evidence = wh.read_partition(con, "scorecard_evidence", column="brief", value=brief.name)
                ids = card["creator_id"]
                fh = wh.read_creator_rows(con, "follower_history", ids)
                nt = wh.read_creator_rows(con, "notes", ids)
            info["rows"] = card.height + evidence.height + fh.height + nt.height
            export_scorecard(
                card, evidence, brief, out_dir, follower_history=fh, notes=nt,
                max_dossiers=max_dossiers, portfolio=portfolio_doc,
            )
            info["max_dossiers"] = max_dossiers
            del card, evidence, fh, nt

    return {"counts": counts, "as_of": as_of.isoformat(), "stages": T.stages, "missing": missing}


def time_follower_scoring(world: Path, as_of: str, rows: int = 1_000_000) -> dict[str, Any]:
    """Seconds to score ``rows`` follower rows with the classifier (features + trees, every row
    scored, no de-duplication): the world's follower samples, tiled up to ``rows``."""
    import polars as pl

    from kol_vetting.signals.followers import _default_model, score_followers

    fs = pl.read_parquet(Path(world) / "follower_samples.parquet")
    if fs.height == 0:
        return {"rows": 0, "seconds": None}
    reps = -(-rows // fs.height)
    frame = pl.concat([fs] * reps).head(rows) if reps > 1 else fs.head(rows)
    model = _default_model()
    c0, t0 = time.process_time(), time.perf_counter()
    out = score_followers(frame, model, dt.datetime.fromisoformat(as_of))
    seconds = time.perf_counter() - t0
    return {
        "rows": out.height,
        "seconds": round(seconds, 2),
        "cpu_s": round(time.process_time() - c0, 2),
        "rows_per_s": round(out.height / seconds) if seconds > 0 else None,
    }


def _import_all() -> None:
    """Import every module the stages use (and the models they load lazily)."""
    import importlib

    for m in (
        "kol_vetting.ingest", "kol_vetting.validate", "kol_vetting.sources.files",
        "kol_vetting.signals.authenticity", "kol_vetting.signals.followers",
        "kol_vetting.signals.alignment", "kol_vetting.scorecard", "kol_vetting.portfolio",
        "kol_vetting.export", "kol_vetting.signals.controversy", "kol_vetting.signals.disclosure",
        "kol_vetting.signals.claims", "matplotlib.figure", "matplotlib.backends.backend_agg",
        "sklearn.feature_extraction.text", "networkx",
    ):
        try:
            importlib.import_module(m)
        except ImportError:
            pass
    # the n-gram scorer's compiled kernel: loaded once per process (from numba's on-disk cache)
    try:
        from kol_vetting.signals.content_text import _jit_kernel

        _jit_kernel()
    except ImportError:
        pass


def _child(args_json: str) -> None:
    """Benchmark subprocess: floor then pipeline on one world; prints one JSON line."""
    a = json.loads(args_json)
    world, workdir = Path(a["world"]), Path(a["workdir"])
    # Imports are a constant start-up cost, not work that grows with the data: keep them out.
    t_imp = time.perf_counter()
    _import_all()
    import_s = time.perf_counter() - t_imp
    floor_s, floor_rows = run_floor(world)
    profile = a.get("profile")
    if profile:
        from pyinstrument import Profiler

        prof = Profiler(interval=0.005)
        prof.start()
    t0 = time.perf_counter()
    c0 = time.process_time()
    res = run_pipeline(world, workdir, brief_path=Path(a["brief"]), max_dossiers=a["max_dossiers"])
    res["pipeline_s"] = round(time.perf_counter() - t0, 3)
    res["pipeline_cpu_s"] = round(time.process_time() - c0, 3)
    if profile:
        prof.stop()
        Path(profile).parent.mkdir(parents=True, exist_ok=True)
        Path(profile).write_text(prof.output_text(unicode=True, color=False, show_all=False))
        Path(profile).with_suffix(".html").write_text(prof.output_html())
    res["follower_scoring"] = time_follower_scoring(world, res["as_of"], rows=int(a.get("follower_rows", 1_000_000)))
    res["import_s"] = round(import_s, 3)
    res["floor_s"] = round(floor_s, 3)
    res["floor_rows"] = floor_rows
    res["self_peak_rss_mb"] = peak_rss_mb()
    print("BENCH_RESULT " + json.dumps(res, default=str), flush=True)


def _sharded_child(args_json: str) -> None:
    """Benchmark subprocess for sharded authenticity: phase ``split`` (DuckDB writes the shard
    folders) or phase ``score`` (map over the shards, then reduce). One phase per process, so
    each phase's peak memory is its own."""
    a = json.loads(args_json)
    world, out, n = Path(a["world"]), Path(a["out"]), int(a["shards"])
    res: dict[str, Any] = {"shards": n, "phase": a["phase"]}
    if a["phase"] == "split":
        import shutil

        from kol_vetting.shards import write_shards

        shutil.rmtree(out, ignore_errors=True)
        c0, t0 = time.process_time(), time.perf_counter()
        write_shards(world, out, n, memory_limit=a.get("memory_limit"))
        res["split_s"] = round(time.perf_counter() - t0, 2)
        res["split_cpu_s"] = round(time.process_time() - c0, 2)
        res["split_peak_rss_mb"] = peak_rss_mb()
        print("BENCH_RESULT " + json.dumps(res, default=str), flush=True)
        return
    _import_all()
    import polars as pl

    from kol_vetting.shards import compact_part, read_shard
    from kol_vetting.signals.authenticity import (
        AuthenticityParams,
        authenticity_parts,
        combine_authenticity,
    )

    as_of = pl.read_parquet(world / "creators.parquet", columns=["captured_at"])["captured_at"].max()
    P = AuthenticityParams()
    spill = out / "_follower_scores"
    spill.mkdir(exist_ok=True)
    parts, per_shard = [], []
    for k in range(n):
        c1, t1 = time.process_time(), time.perf_counter()
        t = read_shard(out / f"_shard={k}")
        rows = sum(df.height for df in t.values())
        part = authenticity_parts(
            t["creators"], t["follower_samples"], t["notes"], t["comments"], t["follower_history"], as_of=as_of, params=P
        )
        del t
        # the per-follower scores (one row per sampled follower) go to disk, as in
        # kol_vetting.shards.score_authenticity_sharded(spill_dir=...)
        part["follower_scores"].write_parquet(spill / f"follower_scores_{k}.parquet")
        part["follower_scores"] = part["follower_scores"].clear()
        parts.append(compact_part(part))
        per_shard.append({"seconds": round(time.perf_counter() - t1, 2), "cpu_s": round(time.process_time() - c1, 2), "rows": rows})
    res["map_s"] = round(sum(x["seconds"] for x in per_shard), 2)
    res["map_cpu_s"] = round(sum(x["cpu_s"] for x in per_shard), 2)
    res["map_max_shard_s"] = max(x["seconds"] for x in per_shard)
    res["per_shard"] = per_shard
    res["map_peak_rss_mb"] = peak_rss_mb()
    c2, t2 = time.process_time(), time.perf_counter()
    result = combine_authenticity(parts, as_of=as_of, params=P)
    res["reduce_s"] = round(time.perf_counter() - t2, 2)
    res["reduce_cpu_s"] = round(time.process_time() - c2, 2)
    res["score_peak_rss_mb"] = peak_rss_mb()
    res["creators_scored"] = result["authenticity_scores"].height
    res["rows"] = {k: v.height for k, v in result.items()}
    res["rows"]["follower_scores"] = pl.scan_parquet(sorted(spill.glob("*.parquet"))).select(pl.len()).collect().item()
    print("BENCH_RESULT " + json.dumps(res, default=str), flush=True)


def run_sharded_authenticity(
    n_creators: int,
    n_shards: int,
    *,
    workdir: Path,
    seed: int = 7,
    memory_limit: str | None = "4GB",
    keep_shards: bool = False,
    echo: Callable[[str], None] | None = print,
) -> dict[str, Any]:
    """Authenticity on a world split into ``n_shards`` by creator (the file-per-shard path).

    Two fresh subprocesses: the split (DuckDB writes ``_shard=<k>/`` folders; its memory capped
    at ``memory_limit``) and the scoring (map over the shards one after another, then the
    reduce). Reports seconds and CPU per phase, the slowest shard (the map's wall time with
    one worker per shard) and each phase's peak RSS.
    """
    import shutil

    workdir = Path(workdir)
    world, gen_s = ensure_world(workdir, n_creators, seed)
    out = (workdir / f"shards_{n_creators}_{n_shards}").resolve()
    base = {"world": str(world.resolve()), "out": str(out), "shards": n_shards, "memory_limit": memory_limit}
    code = "import sys; from kol_vetting.bench import _sharded_child; _sharded_child(sys.argv[1])"
    split, _ = _run_child({**base, "phase": "split"}, code)
    score, _ = _run_child({**base, "phase": "score"}, code)
    if not keep_shards:
        shutil.rmtree(out, ignore_errors=True)
    res = {**split, **score, "phase": None, "creators": n_creators, "world_generated_s": gen_s}
    res["total_s"] = round(res["split_s"] + res["map_s"] + res["reduce_s"], 2)
    res["peak_rss_mb"] = max(res["split_peak_rss_mb"], res["score_peak_rss_mb"])
    if echo:
        echo(
            f"sharded authenticity, {n_creators:,} creators in {n_shards} shards: split {res['split_s']:.1f} s "
            f"(peak {res['split_peak_rss_mb']:,.0f} MB), map {res['map_s']:.1f} s (slowest shard "
            f"{res['map_max_shard_s']:.1f} s), reduce {res['reduce_s']:.1f} s (peak {res['score_peak_rss_mb']:,.0f} MB)"
        )
    return res


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def _run_child(args: dict[str, Any], code: str | None = None) -> tuple[dict[str, Any], float]:
    """Run :func:`_child` in a fresh interpreter; returns its result and its own peak RSS (MB)."""
    code = code or "import sys; from kol_vetting.bench import _child; _child(sys.argv[1])"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, json.dumps(args)], stdout=subprocess.PIPE, text=True, env=_child_env()
    )
    assert proc.stdout is not None
    text = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage (ru_maxrss in KiB)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark child failed (exit {proc.returncode}) on {args['world']}")
    line = next(ln for ln in reversed(text.splitlines()) if ln.startswith("BENCH_RESULT "))
    return json.loads(line.removeprefix("BENCH_RESULT ")), usage.ru_maxrss / 1024


def scaling_exponent(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of log(seconds) on log(creators); None with fewer than two sizes."""
    pts = [(math.log(n), math.log(s)) for n, s in points if n > 0 and s > 0]
    if len({x for x, _ in pts}) < 2:
        return None
    mx = sum(x for x, _ in pts) / len(pts)
    my = sum(y for _, y in pts) / len(pts)
    sxx = sum((x - mx) ** 2 for x, _ in pts)
    sxy = sum((x - mx) * (y - my) for x, y in pts)
    return round(sxy / sxx, 3)


def format_table(result: dict[str, Any]) -> str:
    """The printed report: one block per size (stage, seconds, cpu, rows/s), then the summary."""
    lines = []
    for run in result["runs"]:
        lines.append(
            f"\n{run['creators']:,} creators  ({run['notes']:,} notes, {run['comments']:,} comments, "
            f"{run['follower_samples']:,} follower samples)"
        )
        lines.append(f"{'stage':<14}{'seconds':>10}{'cpu s':>10}{'rows/s':>14}")
        for name, st in run["stage_detail"].items():
            rps = f"{st['rows_per_s']:,}" if st.get("rows_per_s") else "-"
            lines.append(f"{name:<14}{st['seconds']:>10.2f}{st['cpu_s']:>10.2f}{rps:>14}")
        total_rows = sum(run["rows"].values())
        lines.append(
            f"{'pipeline':<14}{run['pipeline_s']:>10.2f}{run['pipeline_cpu_s']:>10.2f}"
            f"{round(total_rows / run['pipeline_s']):>14,}"
        )
        lines.append(
            f"floor {run['floor_s']:.2f} s   ratio {run['ratio']:.0f}x   peak RSS {run['peak_rss_mb']:,.0f} MB"
            + (f"   not run: {', '.join(run['missing'])}" if run["missing"] else "")
        )
        fsc = run.get("follower_scoring_1m") or {}
        if fsc.get("seconds") is not None:
            lines.append(f"scoring {fsc['rows']:,} follower rows: {fsc['seconds']:.1f} s ({fsc['rows_per_s']:,} rows/s)")
    exp = result["scaling_exponent"]
    lines.append(f"\nscaling exponent (log time vs log creators): {exp if exp is not None else 'n/a (one size)'}")
    return "\n".join(lines)


def run_benchmark(
    sizes: list[int],
    *,
    workdir: Path,
    json_out: Path | None,
    seed: int = 7,
    brief_path: Path = Path("briefs/lanxi-spring.yaml"),
    max_dossiers: int | None = DEFAULT_MAX_DOSSIERS,
    profile_dir: Path | None = None,
    repeat: int = 1,
    follower_rows: int = 1_000_000,
    echo: Callable[[str], None] | None = print,
) -> dict[str, Any]:
    """Benchmark the whole pipeline at each size; print a table, return (and write) the JSON.

    In: creator counts, a work folder (demo worlds are cached there as ``world_<n>_s<seed>``
    and reused; each size's warehouse and exports go to ``run_<n>/``), an optional JSON path,
    the seed, the brief, the number of dossiers, an optional folder for pyinstrument profiles
    (``profile_<n>.txt`` / ``.html``; profiling slows the run), ``repeat`` (runs per size, each
    in a fresh process; the fastest is reported, all pipeline times are kept in
    ``pipeline_s_all``: on a shared machine the fastest run is the least disturbed one), the
    follower rows scored for the classifier target (``follower_scoring_1m``), and where to
    print (None: quiet).

    Out: ``{"machine", "runs", "scaling_exponent", ...}``; each run has ``creators``, ``notes``,
    ``comments``, ``follower_samples``, ``stages`` (seconds per stage), ``stage_detail`` (cpu,
    rows, rows/s, sub-steps), ``pipeline_s``, ``floor_s``, ``ratio``, ``peak_rss_mb``.
    """
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    brief_path = Path(brief_path)
    if not brief_path.exists() and not brief_path.is_absolute():
        brief_path = Path(__file__).resolve().parents[1] / brief_path  # relative to the repo
    brief_path = brief_path.resolve()
    runs = []
    for n in sizes:
        if n < 1:
            raise ValueError("sizes must be positive creator counts")
        world, gen_s = ensure_world(workdir, n, seed)
        if echo:
            how = f"generated in {gen_s:.1f} s" if gen_s is not None else "reused"
            echo(f"{n:,} creators: world {how} ({world})")
        args = {
            "world": str(world.resolve()),
            "workdir": str((workdir / f"run_{n}").resolve()),
            "brief": str(brief_path),
            "max_dossiers": max_dossiers,
            "profile": str((Path(profile_dir) / f"profile_{n}.txt").resolve()) if profile_dir else None,
            "follower_rows": follower_rows,
        }
        tries = []
        for _ in range(max(1, repeat)):
            tries.append(_run_child(args))
        res, peak = min(tries, key=lambda rp: rp[0]["pipeline_s"])
        c = res["counts"]
        runs.append(
            {
                "creators": c.get("creators", n),
                "notes": c.get("notes", 0),
                "comments": c.get("comments", 0),
                "follower_samples": c.get("follower_samples", 0),
                "follower_history": c.get("follower_history", 0),
                "rows": c,
                "stages": {k: v["seconds"] for k, v in res["stages"].items()},
                "stage_detail": res["stages"],
                "pipeline_s": res["pipeline_s"],
                "pipeline_cpu_s": res["pipeline_cpu_s"],
                "floor_s": res["floor_s"],
                "ratio": round(res["pipeline_s"] / res["floor_s"], 1) if res["floor_s"] > 0 else None,
                # the child's own high-water mark (VmHWM); wait4's ru_maxrss as a cross-check
                "peak_rss_mb": res.get("self_peak_rss_mb") or round(peak, 1),
                "peak_rss_mb_wait4": round(peak, 1),
                "max_dossiers": max_dossiers,
                "missing": res["missing"],
                "world_generated_s": round(gen_s, 2) if gen_s is not None else None,
                "profiled": bool(profile_dir),
                "pipeline_s_all": [r["pipeline_s"] for r, _ in tries],
                "follower_scoring_1m": res.get("follower_scoring"),
                "import_s": res.get("import_s"),
            }
        )
    result = {
        "machine": machine_info(),
        "seed": seed,
        "brief": str(brief_path.name),
        "max_dossiers": max_dossiers,
        "runs": runs,
        "scaling_exponent": scaling_exponent([(r["creators"], r["pipeline_s"]) for r in runs]),
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    if echo:
        echo(format_table(result))
    if json_out is not None:
        Path(json_out).parent.mkdir(parents=True, exist_ok=True)
        Path(json_out).write_text(json.dumps(result, indent=2, default=str), encoding="utf-8")
    return result


def _main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m kol_vetting.bench", description=__doc__.splitlines()[0])
    p.add_argument("sizes", nargs="?", default="1000,10000")
    p.add_argument("--workdir", default="bench_cache/pipeline")
    p.add_argument("--json", default=None)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--brief", default="briefs/lanxi-spring.yaml")
    p.add_argument("--max-dossiers", type=int, default=DEFAULT_MAX_DOSSIERS, help="dossiers to write (default: all)")
    p.add_argument("--profile-dir", default=None)
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--sharded", default=None, help="also time sharded authenticity: CREATORS:SHARDS, e.g. 100000:16")
    a = p.parse_args(argv)
    run_benchmark(
        [int(s) for s in a.sizes.split(",") if s.strip()],
        workdir=Path(a.workdir),
        json_out=Path(a.json) if a.json else None,
        seed=a.seed,
        brief_path=Path(a.brief),
        max_dossiers=a.max_dossiers,
        profile_dir=Path(a.profile_dir) if a.profile_dir else None,
        repeat=a.repeat,
    )
    if a.sharded:
        n, k = (int(x) for x in a.sharded.split(":"))
        res = run_sharded_authenticity(n, k, workdir=Path(a.workdir), seed=a.seed)
        if a.json:
            doc = json.loads(Path(a.json).read_text())
            doc["sharded_authenticity"] = res
            Path(a.json).write_text(json.dumps(doc, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(_main())
