"""Group ``signal_shards``: the map step of sharded authenticity, one static partition per creator shard.

Creators are split into ``N`` shards by a stable hash of ``creator_id``
(:func:`kol_vetting.shards.shard_number`); ``N`` comes from ``$KOL_CREATOR_SHARDS`` (default 1),
read when the definitions load. Partition ``k`` of ``authenticity_shard`` reads only shard
``k``'s rows from the warehouse (filtered in SQL, read-only connection, the shard number as a
parameter), runs ``authenticity_parts`` and stores the result as Parquet files in its own folder
next to the warehouse (``<warehouse>.shards/authenticity/n=<N>/shard=<k>/``, a new version
folder then an atomic pointer swap). It never writes the DuckDB file, so the partitions run in
parallel: one run per partition (a backfill of all partitions, or the ``authenticity_shards``
job per partition), as many at once as the run queue allows.

The reduce is the ``authenticity`` multi-asset (``pipelines/defs/signals.py``): it depends on
every partition, reads the shard folders, runs ``combine_authenticity`` and replaces the
authenticity tables in one transaction. A shard whose stored result is missing or was computed
from older inputs (another ingest, other row counts, another data-as-of time) is computed again
inside the reduce, so the jobs that refresh group ``signals`` alone (``ingest_and_revet``,
``revet_partners``, the CLI's ``vet``) stay correct without this group.

``python -m pipelines.defs.shards`` runs the whole sharded path from a shell: every partition
through Dagster's multiprocess executor (parallel runs), then the reduce.
"""

import argparse
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path

import dagster as dg

from pipelines.io import data_as_of
from pipelines.resources import WarehouseResource

SHARDS_ENV = "KOL_CREATOR_SHARDS"
MAX_SHARDS = 1024
AUTH_INPUTS = ["creators", "follower_samples", "notes", "comments", "follower_history"]
SHARD_JOB = "authenticity_shards"


def creator_shard_count() -> int:
    """N, the number of creator shards: ``$KOL_CREATOR_SHARDS`` (default 1)."""
    raw = os.environ.get(SHARDS_ENV, "").strip() or "1"
    try:
        n = int(raw)
    except ValueError:
        raise ValueError(f"{SHARDS_ENV} must be a whole number of shards (1..{MAX_SHARDS}), got {raw!r}") from None
    if not 1 <= n <= MAX_SHARDS:
        raise ValueError(f"{SHARDS_ENV} must be between 1 and {MAX_SHARDS}, got {n}")
    return n


def creator_shards(n: int | None = None) -> dg.StaticPartitionsDefinition:
    """The static partitions ``"0"`` .. ``"N-1"`` (N from the environment when not given)."""
    n = creator_shard_count() if n is None else n
    return dg.StaticPartitionsDefinition([str(k) for k in range(n)])


def _jsonable(value: object) -> object:
    return json.loads(json.dumps(value, sort_keys=True, default=str))


def _manifest(fingerprint: dict, as_of: dt.datetime, shard: int, n: int) -> dict:
    return {"signal": "authenticity", "shard": shard, "shards": n, "as_of": as_of.isoformat(),
            "inputs": _jsonable(fingerprint)}


def _map_shard(warehouse: WarehouseResource, shard: int, n: int, *, fingerprint=None, as_of=None) -> dict[str, object]:
    """Read shard ``shard`` of ``n`` from the warehouse and run the per-creator half of authenticity."""
    from kol_vetting.shards import compact_part, inputs_fingerprint, read_warehouse_shard
    from kol_vetting.signals.authenticity import authenticity_parts

    with warehouse.connect(read_only=True) as con:
        # the data-as-of time is the whole warehouse's (every shard scores at the same time)
        fp = inputs_fingerprint(con) if fingerprint is None else fingerprint
        at = data_as_of(con) if as_of is None else as_of
        t = read_warehouse_shard(con, shard, n)
    part = authenticity_parts(t["creators"], t["follower_samples"], t["notes"], t["comments"], t["follower_history"], as_of=at)
    del t
    return {"part": compact_part(part), "manifest": _manifest(fp, at, shard, n)}


def map_authenticity_shard(warehouse: WarehouseResource, shard: int, n: int) -> dict[str, object]:
    """The map step: score shard ``shard`` of ``n`` and store it in its folder. Returns its manifest."""
    from kol_vetting.shards import write_part

    got = _map_shard(warehouse, shard, n)
    part, manifest = got["part"], got["manifest"]
    manifest = {**manifest, "creators": part["creators"].height,  # type: ignore[union-attr]
                "follower_rows": part["follower_scores"].height}  # type: ignore[union-attr]
    write_part(part, warehouse.shard_folder("authenticity", n, shard), manifest)
    return manifest


def gather_authenticity_parts(warehouse: WarehouseResource, n: int, log=None):
    """The reduce's inputs: every shard's stored map result when it is current, else computed here.

    Returns ``(parts, as_of, stored, computed)``: the parts in shard order, the data-as-of time,
    and the shard numbers read from their folders and computed in this step.
    """
    from kol_vetting.shards import inputs_fingerprint, read_part

    with warehouse.connect(read_only=True) as con:
        fingerprint = inputs_fingerprint(con)
        as_of = data_as_of(con)
    parts, stored, computed = [], [], []
    for k in range(n):
        expected = _manifest(fingerprint, as_of, k, n)
        got = read_part(warehouse.shard_folder("authenticity", n, k))
        if got is not None and all(got[1].get(key) == value for key, value in expected.items()):
            parts.append(got[0])
            stored.append(k)
            continue
        if log is not None:
            why = "no stored result" if got is None else "stored result is from older inputs"
            log.info(f"creator shard {k} of {n}: {why}; computing it in this step")
        parts.append(_map_shard(warehouse, k, n, fingerprint=fingerprint, as_of=as_of)["part"])
        computed.append(k)
    return parts, as_of, stored, computed


def build_authenticity_shard(n: int) -> dg.AssetsDefinition:
    """The shard-partitioned map asset for ``n`` shards."""

    @dg.asset(
        name="authenticity_shard",
        group_name="signal_shards",
        partitions_def=creator_shards(n),
        deps=AUTH_INPUTS,
        kinds={"duckdb", "polars", "parquet"},
        owners=["team:brand-safety"],
        description=(
            f"Per-creator half of the authenticity signal for one creator shard (of {n}, set by "
            f"${SHARDS_ENV}): follower scores, fake share, engagement and comment features, like bursts, "
            "growth episodes and the early comments pods need, as Parquet next to the warehouse. "
            "Reads only its shard's rows; never writes the warehouse, so shards run in parallel."
        ),
    )
    def authenticity_shard(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        if context.has_partition_key or context.has_partition_key_range:
            keys = list(context.partition_keys)
        else:  # an unpartitioned run (e.g. materialize() without a partition): every shard, one after another
            keys = [str(k) for k in range(n)]
        t0 = time.perf_counter()
        done = [map_authenticity_shard(warehouse, int(k), n) for k in keys]
        return dg.MaterializeResult(
            metadata={
                "shards": dg.MetadataValue.text(", ".join(keys)),
                "of": n,
                "creators": sum(int(m["creators"]) for m in done),
                "follower rows": sum(int(m["follower_rows"]) for m in done),
                "seconds": round(time.perf_counter() - t0, 2),
                "folder": dg.MetadataValue.path(str(warehouse.shard_folder("authenticity", n, int(keys[0])).parent)),
            }
        )

    return authenticity_shard


def shards_job_def(n: int):
    return dg.define_asset_job(
        SHARD_JOB,
        selection=dg.AssetSelection.assets("authenticity_shard"),
        partitions_def=creator_shards(n),
        description=(
            "The map step of sharded authenticity: one run per creator shard (launch a backfill of all "
            "partitions to run them in parallel), then materialize `authenticity` to combine them."
        ),
    )


@dg.definitions
def defs() -> dg.Definitions:
    n = creator_shard_count()
    return dg.Definitions(assets=[build_authenticity_shard(n)], jobs=[shards_job_def(n)])


# --- running every shard from Python or a shell ---------------------------------------------


def authenticity_shards_job() -> dg.JobDefinition:
    """The ``authenticity_shards`` job with the project's resources (target of ``dg.reconstructable``)."""
    from pipelines.definitions import defs as load_defs

    return load_defs().resolve_job_def(SHARD_JOB)


def _run_shard_process(ref, shard: int, batch: str) -> None:
    """One shard's run, in a process of its own (target of ``multiprocessing``)."""
    instance = dg.DagsterInstance.from_ref(ref)
    with dg.execute_job(dg.reconstructable(authenticity_shards_job), instance=instance,
                        tags={"dagster/partition": str(shard), "kol/shard_batch": batch}) as result:
        sys.exit(0 if result.success else 1)


def run_authenticity_sharded(instance: dg.DagsterInstance, *, parallel: int | None = None, reduce: bool = True) -> dict:
    """Materialize every partition of ``authenticity_shard`` (one run each, executed by Dagster's
    multiprocess executor, up to ``parallel`` runs at once), then, when all succeeded and
    ``reduce`` is true, the ``authenticity`` reduce (in process, with its check).

    ``instance`` must be persistent (runs are started from separate processes, as the run
    queue would). The warehouse is ``$KOL_WAREHOUSE`` (or the default); ``$KOL_CREATOR_SHARDS``
    sets N; the run processes inherit both. Returns the run ids, per-shard results and
    timings; raises ``dg.Failure`` when a shard fails (the reduce is then not run and the
    authenticity tables keep their previous contents).
    """
    import multiprocessing
    import uuid

    from pipelines.defs.signals import authenticity, authenticity_rows_complete
    from pipelines.resources import default_resources

    n = creator_shard_count()
    ref = instance.get_ref()
    batch = uuid.uuid4().hex
    # Dagster runs (their logging, their storage connections) are not thread-safe within one
    # process: each shard's run gets a process of its own, like runs launched from the queue.
    ctx = multiprocessing.get_context("spawn")
    pending, running, codes, started = list(range(n)), {}, {}, {}
    t0 = time.perf_counter()
    limit = max(1, min(parallel or n, n))
    while pending or running:
        while pending and len(running) < limit:
            k = pending.pop(0)
            proc = ctx.Process(target=_run_shard_process, args=(ref, k, batch), name=f"authenticity_shard[{k}]")
            proc.start()
            running[k], started[k] = proc, time.perf_counter()
        for k, proc in list(running.items()):
            if not proc.is_alive():
                proc.join()
                codes[k] = (proc.exitcode, round(time.perf_counter() - started[k], 2))
                del running[k]
        time.sleep(0.05)
    map_s = time.perf_counter() - t0
    runs = {int(r.tags["dagster/partition"]): r for r in instance.get_runs(filters=dg.RunsFilter(tags={"kol/shard_batch": batch}))}
    report: dict = {
        "shards": n,
        "runs": [{"shard": k, "run_id": runs[k].run_id if k in runs else None,
                  "success": k in runs and runs[k].is_success and codes[k][0] == 0, "seconds": codes[k][1]}
                 for k in range(n)],
        "map_s": round(map_s, 2),
    }
    failed = [r["shard"] for r in report["runs"] if not r["success"]]
    if failed:
        raise dg.Failure(description=f"creator shard(s) {failed} failed; the authenticity tables were not changed",
                         metadata={"runs": dg.MetadataValue.json(report)})
    if reduce:
        t1 = time.perf_counter()
        result = dg.materialize([authenticity, authenticity_rows_complete], instance=instance,
                                resources=default_resources(), raise_on_error=True)
        report["reduce_run_id"] = result.run_id
        report["reduce_s"] = round(time.perf_counter() - t1, 2)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pipelines.defs.shards",
        description="Sharded authenticity: every creator shard as its own Dagster run (multiprocess executor), then the reduce.",
    )
    parser.add_argument("--warehouse", default=None, help="DuckDB warehouse (default $KOL_WAREHOUSE or data/warehouse.duckdb)")
    parser.add_argument("--shards", type=int, default=None, help=f"N (default ${SHARDS_ENV} or 1)")
    parser.add_argument("--parallel", type=int, default=None, help="runs at once (default N)")
    parser.add_argument("--no-reduce", action="store_true", help="only the shards")
    args = parser.parse_args(argv)
    if args.warehouse:
        os.environ["KOL_WAREHOUSE"] = str(Path(args.warehouse).resolve())
    if args.shards is not None:
        os.environ[SHARDS_ENV] = str(args.shards)
    home = os.environ.get("DAGSTER_HOME")
    if home:
        Path(home).mkdir(parents=True, exist_ok=True)
        instance = dg.DagsterInstance.get()
    else:  # execute_job needs a persistent instance: a temporary one
        import tempfile

        instance = dg.DagsterInstance.local_temp(tempfile.mkdtemp(prefix="kol-shards-"))
    report = run_authenticity_sharded(instance, parallel=args.parallel, reduce=not args.no_reduce)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
