"""The README stays true to the code: its contract section is the schema's own rendering."""

from pathlib import Path

from kol_vetting.schema import contract_markdown

ROOT = Path(__file__).resolve().parents[1]


def test_readme_contract_section_matches_schema():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("<!-- contract:start -->\n", 1)[1].split("<!-- contract:end -->", 1)[0]
    assert section == contract_markdown(), "regenerate the README contract section from kol_vetting.schema"


def test_readme_shows_the_two_commands_and_ci_runs_the_test_one():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "make demo" in text and "make test" in text
    assert "make test" in (ROOT / ".ci" / "run").read_text()
