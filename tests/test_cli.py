"""Command-line behaviour a script relies on: outputs, one-line errors, exit codes."""

import polars as pl

from pipelines.cli import main


def test_score_followers_keeps_every_row_in_order_and_neutralises_formulas(tmp_path, capsys):
    src = tmp_path / "followers.csv"
    src.write_text(
        "follower_id,username,follower_count,following_count,note_count,has_avatar\n"
        "f1,小红薯6A3F21,0,2300,0,false\n"
        "f2,=HYPERLINK(\"http://evil\"),120,300,15,true\n"
        "f3,bob,-5,10,1,true\n"
        "f4,star,250000,80,900,true\n",
        encoding="utf-8",
    )
    out = tmp_path / "scored.csv"
    assert main(["score-followers", str(src), str(out)]) == 0
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    df = pl.read_csv(out, encoding="utf8-lossy")
    df = df.rename({df.columns[0]: "follower_id"})
    assert df["follower_id"].to_list() == ["f1", "f2", "f3", "f4"]
    rows = {r["follower_id"]: r for r in df.iter_rows(named=True)}
    assert rows["f1"]["audience_type"] == "mass_follower" and rows["f1"]["fake_probability"] > 0.5
    assert rows["f4"]["audience_type"] == "influencer"
    assert rows["f3"]["fake_probability"] is None and "negative" in rows["f3"]["quarantine_reason"]
    assert rows["f2"]["username"].startswith("'=")
    assert "1 quarantined" in capsys.readouterr().err


def test_score_followers_parquet_with_only_the_required_columns(tmp_path):
    src = tmp_path / "f.parquet"
    pl.DataFrame({"follower_id": ["a", "b"], "follower_count": [1, 5000], "following_count": [3000, 100], "note_count": [0, 40]}).write_parquet(src)
    out = tmp_path / "o.parquet"
    assert main(["score-followers", str(src), str(out)]) == 0
    scored = pl.read_parquet(out)
    assert scored["fake_probability"].is_between(0, 1).all()
    assert scored["fake_probability"][0] > scored["fake_probability"][1]


def test_missing_required_column_is_one_clear_error(tmp_path, capsys):
    src = tmp_path / "f.csv"
    src.write_text("follower_id,follower_count\na,1\n", encoding="utf-8")
    assert main(["score-followers", str(src), str(tmp_path / "o.csv")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "following_count" in err[0]


def test_train_without_datasets_says_what_it_needs(tmp_path, capsys):
    assert main(["train", "--datasets", str(tmp_path / "absent"), "--out", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err
    assert "ig_fake_spammer" in err and "committed models" in err
    assert not (tmp_path / "m").exists()


def test_vet_with_an_invalid_brief_names_the_problem(tmp_path, capsys):
    db = tmp_path / "w.duckdb"
    db.write_bytes(b"")
    brief = tmp_path / "b.yaml"
    brief.write_text("name: ok\nbrand: X\ncategory: beauty\nbudget: -1\n", encoding="utf-8")
    assert main(["--warehouse", str(db), "vet", "--brief", str(brief)]) == 2
    assert "budget" in capsys.readouterr().err
