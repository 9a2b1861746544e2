"""The analysis notebooks run top to bottom against a small vetted demo warehouse."""

from pathlib import Path

import nbformat
from nbclient import NotebookClient

from pipelines.cli import main

ROOT = Path(__file__).resolve().parents[1]


def test_scorecard_walkthrough_notebook_executes(tmp_path, small_world, monkeypatch):
    db = tmp_path / "w.duckdb"
    assert main(["--warehouse", str(db), "ingest", str(small_world)]) == 0
    assert main(["--warehouse", str(db), "vet", "--brief", str(ROOT / "briefs" / "lanxi-spring.yaml"),
                 "--out", str(tmp_path / "exports")]) == 0
    monkeypatch.setenv("KOL_WAREHOUSE", str(db))
    monkeypatch.setenv("KOL_BRIEF", "lanxi-spring")
    nb = nbformat.read(ROOT / "notebooks" / "01_scorecard_walkthrough.ipynb", as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(ROOT / "notebooks")}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any(o.output_type == "display_data" and "image/png" in o.get("data", {}) for o in outputs), "the plot rendered"
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "briefs in the warehouse" in text
