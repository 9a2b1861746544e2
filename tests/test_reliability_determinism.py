"""Determinism: the same inputs and brief give byte-identical scorecards and exports.

The whole library pipeline (ingest, the five signals, scorecard, evidence, exports) runs on a
demo world twice: in this process, and in a separate process with another string-hash seed
(``PYTHONHASHSEED=0``, where this process uses a random one), so that no set or dict order can
leak into an output. Within a run the scorecard and the evidence are built twice from the same
inputs and must be equal (see ``reliability_child.vet_world``); across runs the scorecard's
Parquet bytes and every exported file (xlsx, csv, parquet, each dossier) must be identical,
and so must two exports of the same scorecard within this process.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl

from kol_vetting.brief import load_brief
from kol_vetting.export import export_scorecard, write_parquet

sys.path.insert(0, str(Path(__file__).parent))
from reliability_support import BRIEF, demo_world_root, vetted_world


def test_same_inputs_give_byte_identical_scorecards_and_exports(tmp_path, tmp_path_factory) -> None:
    world = demo_world_root(tmp_path_factory) / "world"
    # The other run starts first and works while this one does.
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    other = subprocess.Popen(
        [sys.executable, str(Path(__file__).parent / "reliability_child.py"), "pipeline",
         json.dumps({"world": str(world), "workdir": str(tmp_path / "other"), "brief": str(BRIEF)})],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
    )
    _, mine = vetted_world(tmp_path_factory)
    out, err = other.communicate(timeout=600)
    assert other.returncode == 0, err[-3000:]
    theirs = json.loads(out.strip().splitlines()[-1])

    card = mine["scorecard"]
    assert card.height >= 5 and card["decision"].n_unique() >= 2  # a real scorecard, not an empty one
    assert mine["evidence"].height > 0
    path = tmp_path / "scorecard.parquet"
    write_parquet(path, card)
    assert path.read_bytes().hex() == theirs["scorecard_parquet"]
    assert mine["hashes"] == theirs["hashes"]
    assert {"scorecard.xlsx", "scorecard.csv", "scorecard.parquet", "dossiers/index.html"} <= set(mine["hashes"])
    # The same rows in the same order, value for value (what the Parquet bytes already imply).
    assert card.equals(pl.read_parquet(tmp_path / "other" / "scorecard.parquet"))
    # Exporting the same scorecard again gives the same bytes.
    again = export_scorecard(card, mine["evidence"], load_brief(BRIEF), tmp_path / "again" / "lanxi-spring")
    for key in ("xlsx", "csv", "parquet", "index"):
        rel = str(again[key].relative_to(tmp_path / "again" / "lanxi-spring"))
        assert hashlib.sha256(again[key].read_bytes()).hexdigest() == mine["hashes"][rel], rel
