"""Procurement exports: workbook content, formula and HTML injection, pseudonyms, safe paths, atomicity."""

from __future__ import annotations

import datetime as dt
import hashlib

import openpyxl
import polars as pl
import pytest

from kol_vetting import export as ex
from kol_vetting.brief import SIGNALS, Brief
from kol_vetting.scorecard import SCORECARD_SCHEMA

AS_OF = dt.datetime(2024, 6, 1, 8, 0)
HOSTILE = ['=HYPERLINK("http://evil")', "+1", "-2+3", "@SUM(A1)", "\t=1"]


def _brief() -> Brief:
    return Brief(
        name="lanji-spring",
        brand="兰迹",
        aliases=["Lanji"],
        category="beauty",
        budget=200_000,
        competitors=[{"name": "竞品A", "aliases": ["RivalA"]}],
        banned_topics=["医美"],
        regulated_category="cosmetics",
    )


def _row(cid: str, decision: str, risk: float | None, **kw) -> dict:
    grade = {"approve": "A", "approve_with_conditions": "C", "manual_review": "?", "reject": "F"}[
        decision
    ]
    row = {
        "brief": "lanji-spring",
        "creator_id": cid,
        "handle": f"h_{cid}",
        "display_name": f"创作者{cid}",
        "platform": "xiaohongshu",
        "category": "beauty",
        "tier": "micro",
        "follower_count": 52_000,
        "quoted_price": 8_000.0,
        "currency": "CNY",
        "expected_engagement": 1_600.0,
        "cpe": 5.0,
        "engagement_rate": 0.0307,
        "overall_risk": risk,
        "confidence": 0.8,
        "grade": grade,
        "decision": decision,
        "conditions": [],
        "reasons": [f"reason of {cid}"],
        "strengths": [],
        "evidence_ids": [f"n_{cid}"],
        "not_assessed": [],
        "data_as_of": AS_OF,
    }
    for s in SIGNALS:
        row |= {f"{s}_risk": risk, f"{s}_percentile": 50.0, f"{s}_confidence": 0.8}
    return row | kw


def _scorecard(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=SCORECARD_SCHEMA)


def _evidence(rows: list[dict]) -> pl.DataFrame:
    base = {
        "brief": "lanji-spring",
        "signal": "controversy",
        "reason": "r",
        "kind": "note",
        "url": None,
        "date": AS_OF,
    }
    return pl.DataFrame([base | r for r in rows], schema=ex.EVIDENCE_SCHEMA)


@pytest.fixture
def small():
    """Four creators in shuffled order, one per decision, with evidence of every kind."""
    sc = _scorecard(
        [
            _row("c_ok", "approve", 10.0, strengths=["Audience looks genuine"], reasons=[]),
            _row(
                "c_bad",
                "reject",
                75.0,
                reasons=["Apologised for a fake-review scandal (翻车) in March 2024", "second"],
                evidence_ids=["n_bad1", "f_999", "cm_42"],
            ),
            _row("c_cond", "approve_with_conditions", 35.0, conditions=["Must use #广告"]),
            _row(
                "c_rev",
                "manual_review",
                None,
                reasons=["Not assessed: authenticity"],
                not_assessed=["authenticity"],
            ),
        ]
    )
    ev = _evidence(
        [
            {
                "creator_id": "c_bad",
                "evidence_id": "n_bad1",
                "url": "https://www.xiaohongshu.com/explore/n_bad1",
                "reason": "Apologised for a fake-review scandal (翻车) in March 2024",
            },
            {
                "creator_id": "c_bad",
                "evidence_id": "f_999",
                "kind": "follower",
                "signal": "authenticity",
                "url": "https://www.xiaohongshu.com/user/profile/f_999",
                "reason": "follower f_999 follows 3000 accounts",
            },
            {
                "creator_id": "c_bad",
                "evidence_id": "cm_42",
                "kind": "comment",
                "url": "https://www.xiaohongshu.com/explore/n_bad1?comment=cm_42",
                "reason": "hostile comment cm_42",
            },
            {"creator_id": "c_cond", "evidence_id": "n_js", "url": "javascript:alert(1)"},
            {"creator_id": "c_cond", "evidence_id": "n_js2", "url": "JaVa\tScript:alert(1)"},
        ]
    )
    history = pl.DataFrame(
        {
            "creator_id": ["c_bad"] * 30,
            "date": [dt.date(2024, 4, 1) + dt.timedelta(days=i) for i in range(30)],
            "follower_count": [50_000 + 100 * i + (8_000 if i > 20 else 0) for i in range(30)],
        }
    )
    notes = pl.DataFrame(
        {
            "creator_id": ["c_bad"] * 6,
            "published_at": [AS_OF - dt.timedelta(days=7 * i) for i in range(6)],
            "likes": [900, 1200, 300, 800, 1500, 700],
            "collects": [100, 200, None, 50, 300, 90],
            "comments": [30, 40, 5, 20, 60, 15],
            "platform_sponsor_label": [False, True, False, None, False, True],
        }
    )
    return sc, ev, history, notes


def test_workbook_sheets_order_reasons_and_links(tmp_path, small):
    sc, ev, history, notes = small
    paths = ex.export_scorecard(
        sc, ev, _brief(), tmp_path / "out", follower_history=history, notes=notes
    )
    assert set(paths) == {"xlsx", "csv", "parquet", "dossiers", "index"} and all(
        p.exists() for p in paths.values()
    )
    wb = openpyxl.load_workbook(paths["xlsx"])
    assert wb.sheetnames == ["Scorecard", "Evidence", "Brief & method"]
    ws = wb["Scorecard"]
    assert ws.freeze_panes == "B2" and ws.auto_filter.ref.startswith("A1:")
    headers = [c.value for c in ws[1]]
    for h in (
        "Decision",
        "Why",
        "Grade",
        "Overall risk (0–100)",
        "Price (CNY)",
        "Cost per engagement",
    ):
        assert h in headers
    assert headers.index("Why") == headers.index("Decision") + 1
    rows = [dict(zip(headers, [c.value for c in r])) for r in ws.iter_rows(min_row=2)]
    assert [r["Decision"] for r in rows] == [
        "Reject",
        "Manual review",
        "Approve with conditions",
        "Approve",
    ]
    assert (
        rows[0]["Why"].startswith("Apologised for a fake-review scandal")
        and rows[0]["Grade"] == "F"
    )
    assert rows[0]["Creator"] == "创作者c_bad" and rows[0]["Price (CNY)"] == 8000
    assert (
        rows[3]["Why"] == "Audience looks genuine"
    )  # an approve row explains itself by its strength
    assert len(ws.conditional_formatting) >= 2  # grade and decision colouring

    evs = wb["Evidence"]
    eh = [c.value for c in evs[1]]
    link = eh.index("Link") + 1
    by_id = {r[eh.index("Evidence id")].value: r for r in evs.iter_rows(min_row=2)}
    note_cell = by_id["n_bad1"][link - 1]
    assert (
        note_cell.hyperlink is not None
        and note_cell.hyperlink.target == "https://www.xiaohongshu.com/explore/n_bad1"
    )
    assert by_id["n_bad1"][eh.index("Supports reason")].value.startswith("Apologised")
    for bad in ("n_js", "n_js2"):  # javascript: urls stay inert text
        assert by_id[bad][link - 1].hyperlink is None
    method = "\n".join(
        str(c.value) for row in wb["Brief & method"].iter_rows() for c in row if c.value
    )
    for needle in (
        "兰迹",
        "Lanji",
        "竞品A",
        "医美",
        "cosmetics",
        "200,000.00 CNY",
        "Not assessed",
        "Grade A",
        "reject at",
    ):
        assert needle in method


def test_personal_ids_are_pseudonymised_everywhere(tmp_path, small):
    sc, ev, _, _ = small
    paths = ex.export_scorecard(sc, ev, _brief(), tmp_path / "out")
    anon_f, anon_c = ex.pseudonym("f_999", "lanji-spring"), ex.pseudonym("cm_42", "lanji-spring")
    pq = pl.read_parquet(paths["parquet"]).filter(pl.col("creator_id") == "c_bad")
    assert pq["evidence_ids"].to_list()[0] == [
        "n_bad1",
        anon_f,
        anon_c,
    ]  # note ids kept as they are
    texts = (
        paths["csv"].read_text(encoding="utf-8-sig")
        + (paths["dossiers"] / "c_bad.html").read_text()
    )
    wb = openpyxl.load_workbook(paths["xlsx"])
    texts += "\n".join(str(c.value) for row in wb["Evidence"].iter_rows() for c in row if c.value)
    assert "f_999" not in texts and "cm_42" not in texts and anon_f in texts and anon_c in texts
    assert "user/profile" not in texts  # a follower's profile link is personal: dropped
    assert ex.pseudonym("f_999", "other-brief") != anon_f  # salted per brief
    raw = ex.export_scorecard(sc, ev, _brief(), tmp_path / "raw", pseudonymise=False)
    assert "f_999" in raw["csv"].read_text(encoding="utf-8-sig")


def test_formula_injection_is_neutralised_in_xlsx_and_csv(tmp_path):
    rows = [
        _row(
            f"c{i}",
            "reject",
            90.0 - i,
            display_name=h,
            handle=h,
            reasons=[h, "x"],
            evidence_ids=[f"n{i}"],
        )
        for i, h in enumerate(HOSTILE)
    ]
    ev = _evidence(
        [
            {"creator_id": f"c{i}", "evidence_id": f"n{i}", "reason": h, "url": h}
            for i, h in enumerate(HOSTILE)
        ]
    )
    paths = ex.export_scorecard(_scorecard(rows), ev, _brief(), tmp_path / "out")
    wb = openpyxl.load_workbook(paths["xlsx"])
    ws = wb["Scorecard"]
    headers = [c.value for c in ws[1]]
    got = [
        (r[headers.index("Creator")], r[headers.index("Handle")], r[headers.index("Why")])
        for r in ws.iter_rows(min_row=2)
    ]
    for cells, h in zip(got, HOSTILE):
        for c in cells:
            assert c.data_type == "s" and c.value == "'" + h
    for sheet in wb.worksheets:
        for row in sheet.iter_rows():
            for c in row:
                assert c.data_type != "f", (sheet.title, c.coordinate, c.value)
                if isinstance(c.value, str):
                    assert not c.value.startswith(tuple(ex._FORMULA_START))
    csv = pl.read_csv(paths["csv"], encoding="utf8-lossy", infer_schema=False)
    for col in ("Creator", "Handle", "Why"):
        assert csv[col].to_list() == ["'" + h for h in HOSTILE]
    assert all(v.startswith("'") for v in csv["Reasons"].to_list())
    assert ex.neutralise_cell("\r=1") == "'\r=1" and ex.neutralise_cell("ok -1") == "ok -1"


def test_csv_has_bom_and_round_trips_chinese_and_parquet_equals_rows(tmp_path, small):
    sc, ev, _, _ = small
    paths = ex.export_scorecard(sc, ev, _brief(), tmp_path / "out", pseudonymise=False)
    raw = paths["csv"].read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    csv = pl.read_csv(raw[3:], infer_schema=False)
    assert csv["Creator"].to_list() == ["创作者c_bad", "创作者c_rev", "创作者c_cond", "创作者c_ok"]
    assert "翻车" in csv["Why"][0] and csv["Reasons"][0].endswith("; second")
    wb = openpyxl.load_workbook(paths["xlsx"])
    assert [c.value for c in wb["Scorecard"][1]] == csv.columns  # same columns as the Excel summary
    assert wb["Scorecard"].max_row - 1 == csv.height
    pq = pl.read_parquet(paths["parquet"])
    assert pq.schema == SCORECARD_SCHEMA
    expected = sc.sort("creator_id")
    assert pq.sort("creator_id").equals(expected)
    assert pq["creator_id"].to_list() == ["c_bad", "c_rev", "c_cond", "c_ok"]


def test_html_is_escaped_and_links_are_safe(tmp_path, small):
    sc, ev, history, notes = small
    evil = "<script>alert(1)</script>"
    sc = sc.with_columns(
        pl.when(pl.col("creator_id") == "c_cond")
        .then(pl.lit(evil))
        .otherwise("display_name")
        .alias("display_name"),
        pl.when(pl.col("creator_id") == "c_cond")
        .then(pl.lit([evil, "ok"]))
        .otherwise("reasons")
        .alias("reasons"),
    )
    paths = ex.export_scorecard(
        sc, ev, _brief(), tmp_path / "out", follower_history=history, notes=notes
    )
    pages = {p.name: p.read_text(encoding="utf-8") for p in paths["dossiers"].iterdir()}
    assert set(pages) == {"index.html", "c_bad.html", "c_rev.html", "c_cond.html", "c_ok.html"}
    for text in pages.values():
        assert "<script" not in text.lower() and "javascript:" not in text.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in pages["c_cond.html"]
    assert "&lt;script&gt;" in pages["index.html"]
    bad = pages["c_bad.html"]
    assert 'href="https://www.xiaohongshu.com/explore/n_bad1"' in bad
    assert bad.count("data:image/svg+xml;base64,") == 2  # follower growth and engagement plots
    assert (
        pages["c_ok.html"].count("data:image/svg+xml;base64,") == 0 and "no data" in pages["c_ok.html"]
    )
    assert 'href="c_bad.html"' in pages["index.html"]


def test_creator_id_cannot_escape_the_dossiers_folder(tmp_path):
    ids = ["../../etc/passwd", "..", "a/b", "index", "C:\\x", "ok_id-1"]
    rows = [_row(cid, "reject", 80.0 - i) for i, cid in enumerate(ids)]
    out = tmp_path / "deep" / "out"
    paths = ex.export_scorecard(_scorecard(rows), _evidence([]), _brief(), out)
    written = sorted(p.name for p in tmp_path.rglob("*") if p.is_file())
    assert all(p.parent == paths["dossiers"] for p in paths["dossiers"].rglob("*.html"))
    assert len(list(paths["dossiers"].glob("*.html"))) == len(ids) + 1
    assert "passwd" not in written and not (tmp_path / "etc").exists()
    assert ex.dossier_filename("ok_id-1") == "ok_id-1.html"
    assert ex.dossier_filename("index") != "index.html"
    assert len({ex.dossier_filename(i) for i in ids}) == len(ids)
    h = hashlib.sha256(b"../../etc/passwd").hexdigest()[:12]
    assert ex.dossier_filename("../../etc/passwd") == f"etcpasswd-{h}.html"


def test_failed_export_leaves_previous_files_whole(tmp_path, small, monkeypatch):
    sc, ev, _, _ = small
    out = tmp_path / "out"
    paths = ex.export_scorecard(sc, ev, _brief(), out)
    (out / "portfolio.xlsx").write_text("someone else's file")
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}

    def boom(*a, **k):
        raise RuntimeError("disk on fire")

    # The workbook is the last file built: everything else of the new export already exists.
    monkeypatch.setattr(ex, "_write_evidence_sheet", boom)
    changed = sc.with_columns(pl.lit("Changed").alias("display_name")).head(2)
    with pytest.raises(RuntimeError, match="disk on fire"):
        ex.export_scorecard(changed, ev, _brief(), out)
    after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no staging folder left behind
    monkeypatch.undo()
    ex.export_scorecard(changed, ev, _brief(), out)  # a later export replaces ours, keeps others'
    assert (out / "portfolio.xlsx").read_text() == "someone else's file"
    assert len(list(paths["dossiers"].glob("*.html"))) == 3
    assert pl.read_parquet(paths["parquet"]).height == 2


def test_max_dossiers_and_empty_scorecard(tmp_path, small):
    sc, ev, _, _ = small
    paths = ex.export_scorecard(sc, ev, _brief(), tmp_path / "a", max_dossiers=1)
    assert sorted(p.name for p in paths["dossiers"].iterdir()) == ["c_bad.html", "index.html"]
    csv = pl.read_csv(paths["csv"], infer_schema=False)
    assert csv["Dossier"].fill_null("").to_list() == ["dossiers/c_bad.html", "", "", ""]
    empty = ex.export_scorecard(sc.clear(), ev.clear(), _brief(), tmp_path / "b")
    wb = openpyxl.load_workbook(empty["xlsx"])
    assert wb["Scorecard"].max_row == 1 and pl.read_parquet(empty["parquet"]).height == 0


def test_inputs_of_another_brief_or_duplicated_are_refused(tmp_path, small):
    sc, ev, _, _ = small
    with pytest.raises(ValueError, match="belong to brief"):
        ex.export_scorecard(
            sc.with_columns(pl.lit("other").alias("brief")), ev, _brief(), tmp_path / "x"
        )
    with pytest.raises(ValueError, match="several rows"):
        ex.export_scorecard(pl.concat([sc, sc.head(1)]), ev, _brief(), tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_dossier_plots_drawn_for_all_creators_at_once_equal_per_creator_plots(tmp_path):
    # write_dossiers builds every creator's plot arrays in one pass; each dossier must carry
    # exactly the plot the per-creator methods draw from that creator's rows (shuffled rows,
    # nulls, a notes table without some columns, a creator without data).
    rows = [_row(c, "approve", 10.0) for c in ("a", "b", "c")]
    sc = _scorecard(rows)
    days = [dt.date(2024, 4, 1) + dt.timedelta(days=i) for i in range(12)]
    history = pl.DataFrame({
        "creator_id": ["a"] * 12 + ["b"] * 12,
        "date": days[::-1] + days,
        "follower_count": [1000 + 37 * i for i in range(12)] + [None, *[5000 - 11 * i for i in range(11)]],
    }).sample(fraction=1.0, shuffle=True, seed=1)
    notes = pl.DataFrame({
        "creator_id": ["b", "a", "b", "a", "a", "b"],
        "published_at": [AS_OF - dt.timedelta(days=d) for d in (3, 9, 1, 4, 30, 2)],
        "likes": [10, 900, None, 40, 7, 300],
        "platform_sponsor_label": [True, None, False, True, False, False],
    }).with_columns(pl.when(pl.col("likes") == 7).then(None).otherwise(pl.col("published_at")).alias("published_at"))
    ex.write_dossiers(tmp_path, sc, _evidence([]), _brief(), follower_history=history, notes=notes)
    plotter = ex._Plotter()
    for cid in ("a", "b", "c"):
        page = (tmp_path / ex.dossier_filename(cid)).read_text(encoding="utf-8")
        want = [
            plotter.followers(history.filter(pl.col("creator_id") == cid)),
            # a missing count column counts as 0 (as null counts do)
            plotter.engagement(notes.filter(pl.col("creator_id") == cid).with_columns(
                pl.lit(None).alias("collects"), pl.lit(None).alias("comments"))),
        ]
        got = [b64 for b64 in want if b64 is not None and f"base64,{b64}" in page]
        assert got == [b64 for b64 in want if b64 is not None]
        assert page.count("data:image/svg+xml;base64,") == len(got)
    assert (tmp_path / ex.dossier_filename("c")).read_text(encoding="utf-8").count("base64,") == 0
