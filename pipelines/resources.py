"""Resources injected into assets: the DuckDB warehouse and project settings."""


import contextlib
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import duckdb

from kol_vetting import warehouse
from kol_vetting.brief import Brief


class WarehouseResource(dg.ConfigurableResource):
    """The embedded DuckDB warehouse.

    ``path`` defaults to ``$KOL_WAREHOUSE`` or ``data/warehouse.duckdb``. Writers take a
    file lock, so two runs (a schedule tick and a marketer) serialize instead of colliding.
    ``shards_path``: where per-shard results are stored as Parquet (default: a folder next to
    the warehouse file, ``<warehouse>.shards/``).
    """

    path: str = ""
    shards_path: str = ""

    @property
    def resolved_path(self) -> str:
        return str(warehouse.warehouse_path(self.path or None))

    def shard_folder(self, signal: str, n: int, shard: int) -> Path:
        """The folder of one shard's stored result: ``<shards>/<signal>/n=<n>/shard=<shard>/``."""
        root = Path(self.shards_path) if self.shards_path else Path(self.resolved_path + ".shards")
        return root / signal / f"n={int(n)}" / f"shard={int(shard)}"

    @contextlib.contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        with warehouse.connect(self.path or None, read_only=read_only) as con:
            yield con


def default_resources() -> dict[str, object]:
    """Resources as the UI and the CLI use them by default."""
    return {"warehouse": WarehouseResource(), "briefs": BriefLibrary()}


class BriefLibrary(dg.ConfigurableResource):
    """The folder of brand briefs (``briefs/*.yaml``); a brief's ``name`` is its partition key."""

    path: str = "briefs"

    def all(self) -> dict[str, "Brief"]:
        from kol_vetting.brief import load_briefs

        return load_briefs(self.path)

    def load(self, name: str) -> "Brief":
        briefs = self.all()
        if name not in briefs:
            raise dg.Failure(description=f"No brief named {name!r} in {self.path}/ (have: {', '.join(briefs) or 'none'})")
        return briefs[name]
