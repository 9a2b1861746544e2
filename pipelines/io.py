"""Reading asset inputs from, and writing outputs to, the warehouse (shared by all asset groups)."""

import datetime as dt

import polars as pl

from kol_vetting import warehouse as wh
from pipelines.resources import WarehouseResource


def data_as_of(con) -> dt.datetime:
    """The vetting date: the latest profile capture, else the latest note, else now (UTC)."""
    for sql in ("SELECT max(captured_at) FROM creators", "SELECT max(published_at) FROM notes"):
        if wh.table_exists(con, sql.split()[-1]):
            value = wh.scalar(con, sql)
            if value is not None:
                return value
    return wh.utc_now()


def read_inputs(warehouse: WarehouseResource, tables: list[str]) -> tuple[dict[str, pl.DataFrame], dt.datetime]:
    """The named warehouse tables (an absent table is an empty frame) and the data-as-of time."""
    from kol_vetting.schema import TABLES, empty_frame

    out = {}
    with warehouse.connect(read_only=True) as con:
        for t in tables:
            if wh.table_exists(con, t):
                out[t] = wh.read_table(con, t)
            elif t in TABLES:
                out[t] = empty_frame(t)
            else:
                out[t] = None
        as_of = data_as_of(con)
    return out, as_of


def write_outputs(warehouse: WarehouseResource, tables: dict[str, pl.DataFrame]) -> None:
    """Replace every output table in one transaction."""
    with warehouse.connect() as con:
        wh.replace_tables(con, tables)
