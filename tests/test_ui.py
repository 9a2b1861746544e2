"""Real components: the Dagster webserver (`dg dev` on 127.0.0.1) serves the project, a run
launched through GraphQL materializes the ingest assets, and a real browser renders the UI."""

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


@pytest.fixture(scope="module")
def webserver(tmp_path_factory):
    home = tmp_path_factory.mktemp("dagster_home")
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    port = _free_port()
    env = {**os.environ, "DAGSTER_HOME": str(home), "KOL_WAREHOUSE": str(home / "w.duckdb")}
    # A new session with default signal handlers, so terminate() stops the server and its daemon.
    proc = subprocess.Popen(
        [str(DG), "dev", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=lambda: (signal.signal(signal.SIGINT, signal.SIG_DFL), signal.signal(signal.SIGTERM, signal.SIG_DFL)),
    )
    try:
        deadline = time.monotonic() + 120
        location = None
        while time.monotonic() < deadline:
            try:
                data = _graphql(port, "{ repositoriesOrError { ... on RepositoryConnection { nodes { name location { name } } } } }")
                nodes = data["repositoriesOrError"]["nodes"]
                if nodes:
                    location = nodes[0]["location"]["name"], nodes[0]["name"]
                    break
            except Exception:
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


def test_webserver_binds_loopback_and_lists_the_project_assets(webserver):
    port, (location, repo), _ = webserver
    data = _graphql(port, "{ assetNodes { assetKey { path } groupName description } }")
    keys = {"/".join(n["assetKey"]["path"]): n for n in data["assetNodes"]}
    assert {"creators", "notes", "comments", "follower_samples", "quarantine", "scorecard"} <= set(keys)
    assert all(n["description"] for n in keys.values()), "every asset is described for the marketer"
    # Not reachable on other interfaces: only 127.0.0.1 was bound.
    assert location == "kol_vetting"


def test_a_run_launched_through_graphql_loads_the_warehouse(webserver, small_world):
    port, (location, repo), home = webserver
    launch = """
    mutation($params: ExecutionParams!) { launchRun(executionParams: $params) {
      __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } ... on RunConfigValidationInvalid { errors { message } } } }"""
    params = {
        "selector": {
            "repositoryLocationName": location,
            "repositoryName": repo,
            "jobName": "__ASSET_JOB",
            "assetSelection": [{"path": [t]} for t in ("creators", "notes", "comments", "follower_history", "follower_samples", "partners", "quarantine")],
        },
        "runConfigData": {"ops": {"ingest_source": {"config": {"source_dir": str(small_world), "format": "canonical"}}}},
    }
    result = _graphql(port, launch, {"params": params})["launchRun"]
    assert result["__typename"] == "LaunchRunSuccess", result
    run_id = result["run"]["runId"]
    status = None
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        status = _graphql(port, "query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }", {"id": run_id})["runOrError"]["status"]
        if status in ("SUCCESS", "FAILURE", "CANCELED"):
            break
        time.sleep(1)
    assert status == "SUCCESS"
    import duckdb

    con = duckdb.connect(str(home / "w.duckdb"), read_only=True)
    try:
        assert con.sql("select count(*) from creators").fetchall()[0][0] == 120
    finally:
        con.close()


def test_a_real_browser_renders_the_asset_catalog(webserver, tmp_path):
    from playwright.sync_api import sync_playwright

    port, _, _ = webserver
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium,
            args=["--disable-background-networking", "--disable-component-update", "--no-first-run", "--disable-sync"],
        )
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(f"http://127.0.0.1:{port}/assets", wait_until="networkidle", timeout=60_000)
        page.get_by_text("follower_samples").first.wait_for(timeout=60_000)
        catalog = page.inner_text("body")
        page.screenshot(path=str(tmp_path / "assets.png"))
        # An asset's own page shows its description, written for a marketer.
        page.goto(f"http://127.0.0.1:{port}/assets/scorecard", wait_until="networkidle", timeout=60_000)
        page.get_by_text("The vetting scorecard of one brief").first.wait_for(timeout=60_000)
        page.screenshot(path=str(tmp_path / "scorecard.png"))
        browser.close()
    assert "creators" in catalog and "ingest" in catalog
    assert (tmp_path / "assets.png").stat().st_size > 10_000 and (tmp_path / "scorecard.png").stat().st_size > 10_000
