"""Real components: the Dagster webserver (`dg dev` on 127.0.0.1) serves the project, runs
launched through GraphQL materialize the ingest assets and vet a brief partition with a typed
vetting request, and a real browser renders the UI (screenshots for the README when
``KOL_SCREENSHOTS_DIR`` is set)."""

import datetime as dt
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

BRIEF = "lanxi-spring"
ROOT = Path(__file__).resolve().parents[1]
DG = Path(sys.executable).with_name("dg")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _graphql(port: int, query: str, variables: dict | None = None) -> dict:
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query, "variables": variables or {}}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        body = json.loads(resp.read())
    assert "errors" not in body, body
    return body["data"]


def _prepare_warehouse(world: Path, db: Path) -> None:
    """Ingest and brand-independent signals, in-process (the vet test needs them; the UI runs the rest).

    On an ephemeral instance: `make test` exports DAGSTER_HOME, and this runs before the autouse
    fixture that unsets it."""
    import dagster as dg

    from pipelines.definitions import defs as load_defs
    from pipelines.resources import WarehouseResource, default_resources

    defs = load_defs()
    resources = {**default_resources(), "warehouse": WarehouseResource(path=str(db))}
    ingest = {"ops": {"ingest_source": {"config": {"source_dir": str(world), "format": "canonical"}}}}
    with dg.DagsterInstance.ephemeral() as instance:
        for group, config in (("ingest", ingest), ("signals", None)):
            result = dg.materialize([*defs.assets, *defs.asset_checks], selection=dg.AssetSelection.groups(group),
                                    run_config=config, resources=resources, instance=instance)
            assert result.success, group


@pytest.fixture(scope="module")
def webserver(tmp_path_factory, small_world):
    home = tmp_path_factory.mktemp("dagster_home")
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    port = _free_port()
    # The sensors watch empty folders: runs in this module are the tests' own (the brief sensor
    # would otherwise vet every brief in briefs/ as soon as the daemon starts).
    (home / "no_briefs").mkdir()
    (home / "no_incoming").mkdir()
    env = {**os.environ, "DAGSTER_HOME": str(home), "KOL_WAREHOUSE": str(home / "w.duckdb"),
           "KOL_BRIEFS_DIR": str(home / "no_briefs"), "KOL_INCOMING_DIR": str(home / "no_incoming")}
    # A new session with default signal handlers, so terminate() stops the server and its daemon.
    proc = subprocess.Popen(
        [str(DG), "dev", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        # the server must die on SIGTERM even if pytest's handlers were inherited
        preexec_fn=lambda: (signal.signal(signal.SIGINT, signal.SIG_DFL), signal.signal(signal.SIGTERM, signal.SIG_DFL)),  # noqa: PLW1509
    )
    try:
        _prepare_warehouse(small_world, home / "w.duckdb")  # while the server starts
        deadline = time.monotonic() + 120
        location = None
        while time.monotonic() < deadline:
            try:
                data = _graphql(port, "{ repositoriesOrError { ... on RepositoryConnection { nodes { name location { name } } } } }")
                nodes = data["repositoriesOrError"]["nodes"]
                if nodes:
                    location = nodes[0]["location"]["name"], nodes[0]["name"]
                    break
            except (OSError, ValueError, KeyError, TypeError):  # not serving yet
                pass
            time.sleep(1)
        assert location, "dg dev did not serve the code location within 120 s"
        yield port, location, home
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


LAUNCH = """
mutation($params: ExecutionParams!) { launchRun(executionParams: $params) {
  __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message }
  ... on RunConfigValidationInvalid { errors { message } } } }"""


def _launch_and_wait(port: int, params: dict, timeout: float = 240) -> tuple[str, str]:
    result = _graphql(port, LAUNCH, {"params": params})["launchRun"]
    assert result["__typename"] == "LaunchRunSuccess", result
    run_id = result["run"]["runId"]
    status = None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = _graphql(port, "query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }", {"id": run_id})["runOrError"]["status"]
        if status in ("SUCCESS", "FAILURE", "CANCELED"):
            break
        time.sleep(1)
    return run_id, status


def test_webserver_binds_loopback_and_lists_the_project_assets(webserver):
    port, (location, _repo), _ = webserver
    data = _graphql(port, "{ assetNodes { assetKey { path } groupName description } }")
    keys = {"/".join(n["assetKey"]["path"]): n for n in data["assetNodes"]}
    assert {"creators", "notes", "comments", "follower_samples", "quarantine", "scorecard"} <= set(keys)
    assert all(n["description"] for n in keys.values()), "every asset is described for the marketer"
    # Not reachable on other interfaces: only 127.0.0.1 was bound.
    assert location == "kol_vetting"


def test_a_run_launched_through_graphql_loads_the_warehouse(webserver, small_world):
    port, (location, repo), home = webserver
    params = {
        "selector": {
            "repositoryLocationName": location,
            "repositoryName": repo,
            "jobName": "__ASSET_JOB",
            "assetSelection": [{"path": [t]} for t in ("creators", "notes", "comments", "follower_history", "follower_samples", "partners", "quarantine")],
        },
        "runConfigData": {
            "ops": {"ingest_source": {"config": {"source_dir": str(small_world), "format": "canonical"}}},
            "execution": {"config": {"in_process": {}}},  # one process for the run's two steps (test speed)
        },
    }
    _, status = _launch_and_wait(port, params, timeout=180)
    assert status == "SUCCESS"
    import duckdb

    con = duckdb.connect(str(home / "w.duckdb"), read_only=True)
    try:
        assert con.sql("select count(*) from creators").fetchall()[0][0] == 120
    finally:
        con.close()


def _shortlist(db: Path) -> list[str]:
    """Three candidates of the brief (the lowest ids), read from the prepared warehouse."""
    import duckdb

    from kol_vetting.brief import load_brief

    brief = load_brief(ROOT / "briefs" / f"{BRIEF}.yaml")
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.sql(
            "SELECT creator_id FROM creators WHERE category IN (SELECT unnest(?)) AND follower_count BETWEEN ? AND ? "
            "ORDER BY creator_id LIMIT 3",
            params=[brief.candidate_categories, brief.min_followers, brief.max_followers],
        ).fetchall()
    finally:
        con.close()
    return [r[0] for r in rows]


@pytest.fixture(scope="module")
def vetted(webserver):
    """The brief partition added and vet_candidates launched through GraphQL with a typed request."""
    port, (location, repo), home = webserver
    repository = {"repositoryLocationName": location, "repositoryName": repo}
    added = _graphql(
        port,
        """mutation($repo: RepositorySelector!, $key: String!) {
          addDynamicPartition(repositorySelector: $repo, partitionsDefName: "brief", partitionKey: $key) { __typename } }""",
        {"repo": repository, "key": BRIEF},
    )["addDynamicPartition"]["__typename"]
    assert added in ("AddDynamicPartitionSuccess", "DuplicateDynamicPartitionError")
    shortlist = _shortlist(home / "w.duckdb")
    assert len(shortlist) == 3
    exports = home / "exports"
    params = {
        "selector": {**repository, "jobName": "vet_candidates"},
        "executionMetadata": {"tags": [{"key": "dagster/partition", "value": BRIEF}]},
        "runConfigData": {
            "ops": {
                # The typed request a marketer fills in on the Launchpad.
                "vetting_request": {"config": {"brief": BRIEF, "creator_ids": shortlist, "as_of": "2026-11-01"}},
                "portfolio": {"config": {"out_dir": str(exports)}},
                "scorecard_exports": {"config": {"out_dir": str(exports)}},
            },
            # One process for the whole run: the steps share the warehouse pool anyway (test speed).
            "execution": {"config": {"in_process": {}}},
        },
    }
    run_id, status = _launch_and_wait(port, params)
    return run_id, status, shortlist, exports


def test_vet_candidates_launched_through_graphql_scores_exactly_the_requested_creators(webserver, vetted):
    port, _, home = webserver
    run_id, status, shortlist, exports = vetted
    assert status == "SUCCESS"
    events = _graphql(
        port,
        """query($id: ID!) { runOrError(runId: $id) { ... on Run { tags { key value }
          eventConnection(limit: 5000) { events { __typename
            ... on AssetCheckEvaluationEvent { evaluation { checkName success } } } } } } }""",
        {"id": run_id},
    )["runOrError"]
    assert {"key": "dagster/partition", "value": BRIEF} in events["tags"]
    checks = {e["evaluation"]["checkName"]: e["evaluation"] for e in events["eventConnection"]["events"]
              if e["__typename"] == "AssetCheckEvaluationEvent"}
    assert checks["every_candidate_scored"]["success"]
    assert checks["scores_in_range"]["success"]
    import duckdb

    con = duckdb.connect(str(home / "w.duckdb"), read_only=True)
    try:
        card = con.sql("SELECT brief, creator_id FROM scorecard ORDER BY creator_id").fetchall()
        request = con.sql("SELECT creator_ids, as_of, candidates FROM vetting_requests WHERE brief = ?", params=[BRIEF]).fetchall()
    finally:
        con.close()
    assert card == [(BRIEF, c) for c in sorted(shortlist)]
    assert request == [(shortlist, dt.date(2026, 11, 1), 3)]
    assert (exports / BRIEF / "scorecard.xlsx").exists() and (exports / BRIEF / "portfolio.json").exists()


def _save(page, tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path))
    assert path.stat().st_size > 10_000, f"{name}: an empty page?"
    if os.environ.get("KOL_SCREENSHOTS_DIR"):
        from PIL import Image  # via matplotlib

        out = Path(os.environ["KOL_SCREENSHOTS_DIR"])
        out.mkdir(parents=True, exist_ok=True)
        # 256 colours are plenty for a UI page and keep the README images small.
        Image.open(path).convert("RGB").quantize(colors=256).save(out / path.name, optimize=True)
    return path


def test_a_real_browser_renders_the_catalog_lineage_scorecard_and_launchpad(webserver, vetted, tmp_path):
    """The vetted partition is materialized, so the scorecard page shows its metadata."""
    import urllib.parse

    from playwright.sync_api import sync_playwright

    port, (location, repo), _ = webserver
    base = f"http://127.0.0.1:{port}"
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium,
            args=["--disable-background-networking", "--disable-component-update", "--no-first-run", "--disable-sync"],
        )
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(f"{base}/assets", wait_until="networkidle", timeout=60_000)
        page.get_by_text("follower_samples").first.wait_for(timeout=60_000)
        catalog = page.inner_text("body")
        _save(page, tmp_path, "ui-assets")
        assert "creators" in catalog and "ingest" in catalog
        # The lineage: groups read as the workflow, ingest -> signals -> brief_fit -> scorecard -> ...
        page.goto(f"{base}/asset-groups", wait_until="networkidle", timeout=60_000)
        for group in ("ingest", "signals", "brief_fit", "scorecard", "portfolio", "exports", "monitoring"):
            page.get_by_text(group, exact=True).first.wait_for(timeout=60_000)
        _save(page, tmp_path, "ui-lineage")
        # An asset's own page: its description, written for a marketer, and the vetted partition.
        page.goto(f"{base}/assets/scorecard?partition={BRIEF}", wait_until="networkidle", timeout=60_000)
        page.get_by_text("The vetting scorecard of one brief").first.wait_for(timeout=60_000)
        page.get_by_text(BRIEF).first.wait_for(timeout=60_000)
        _save(page, tmp_path, "ui-scorecard")
        # Its lineage: the request and the brief-fit signals upstream, portfolio and exports downstream.
        page.goto(f"{base}/assets/scorecard?view=lineage", wait_until="networkidle", timeout=60_000)
        for asset in ("vetting_request", "alignment_scores", "claims_scores", "portfolio", "scorecard_exports"):
            page.get_by_text(asset, exact=True).first.wait_for(timeout=60_000)
        page.wait_for_load_state("networkidle")
        _save(page, tmp_path, "ui-scorecard-lineage")
        # The Launchpad of vet_candidates with a typed request filled in.
        config = (
            "ops:\n  vetting_request:\n    config:\n      creator_ids: [c1, c2]\n      tiers: [micro, mid]\n"
            "      as_of: '2026-11-01'\n"
        )
        query = urllib.parse.urlencode({"config": config, "tags[0][key]": "dagster/partition", "tags[0][value]": BRIEF})
        page.goto(f"{base}/locations/{repo}@{location}/jobs/vet_candidates/playground/setup?{query}",
                  wait_until="networkidle", timeout=60_000)
        page.get_by_text("vetting_request").first.wait_for(timeout=60_000)
        # The cursor on a field shows its description (the typed config) in the help panel.
        page.get_by_text("creator_ids", exact=True).first.click()
        page.get_by_text("Vet exactly these creator ids").first.wait_for(timeout=30_000)
        launchpad = page.inner_text("body")
        _save(page, tmp_path, "ui-launchpad")
        browser.close()
    assert "creator_ids" in launchpad
