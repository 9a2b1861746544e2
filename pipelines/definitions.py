"""All Dagster definitions in one place: the defs/ folder (by domain) plus shared resources."""

from pathlib import Path

import dagster as dg

from pipelines.resources import default_resources


@dg.definitions
def defs() -> dg.Definitions:
    loaded = dg.load_from_defs_folder(path_within_project=Path(__file__).parent / "defs")
    return dg.Definitions.merge(loaded, dg.Definitions(resources=default_resources()))
