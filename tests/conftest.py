"""Shared fixtures: one small demo world per test session (deterministic, a few seconds)."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"


@pytest.fixture(scope="session")
def small_world(tmp_path_factory) -> Path:
    """A 120-creator demo world (seed 11) written once per session."""
    from kol_vetting.sources.demo import generate_world

    out = tmp_path_factory.mktemp("world")
    generate_world(120, 11, out)
    return out


@pytest.fixture(autouse=True)
def _no_dagster_home(monkeypatch):
    # The Makefile exports DAGSTER_HOME for the UI; tests must not write run history there.
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.delenv("KOL_WAREHOUSE", raising=False)
