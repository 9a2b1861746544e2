"""What every reader returns: raw contract-named frames, reader-level quarantine, row counts.

A reader maps an outside format onto contract column names but does not validate types:
values may still be strings. :func:`kol_vetting.validate.validate_source` then casts, checks
and splits every row into accepted or quarantined, so that per table
``rows_read == accepted + quarantined`` always holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

# Columns every reader adds to each frame so a rejected row can be traced to its file and line.
SOURCE_FILE = "_source_file"
SOURCE_ROW = "_source_row"

QUARANTINE_SCHEMA = pl.Schema(
    {
        "source_file": pl.String(),
        "table": pl.String(),
        "source_row": pl.Int64(),
        "row": pl.String(),  # the row's content as read (JSON object or raw line)
        "reason": pl.String(),  # a reason a person understands
    }
)


class SourceError(Exception):
    """A file cannot be read at all (missing, unreadable, undecodable, JSON array cut short).

    The ingest stops, names the file, and leaves the warehouse as it was.
    """

    def __init__(self, path: str | Path, message: str) -> None:
        self.path = str(path)
        self.message = message
        super().__init__(f"{path}: {message}")


@dataclass
class RawSource:
    """Frames read from one source directory.

    ``frames[table]`` has contract column names (any subset; dtypes may be raw strings) plus
    ``_source_file`` and ``_source_row``. ``quarantine`` holds rows the reader could not even
    parse (e.g. a truncated last line), in :data:`QUARANTINE_SCHEMA`. ``rows_read[table]``
    counts every row seen in the files of that table, parsed or not.
    """

    frames: dict[str, pl.DataFrame] = field(default_factory=dict)
    quarantine: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=QUARANTINE_SCHEMA))
    rows_read: dict[str, int] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what the source could not provide, for the report
