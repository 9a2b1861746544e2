"""Evaluate the authenticity signal on a demo world it was not tuned on.

:func:`evaluate_authenticity` builds a demo world (default seed 1234; the thresholds were tuned
on seeds 7 and 11), runs :func:`kol_vetting.signals.authenticity.score_authenticity` and
measures it against the world's ``ground_truth``:

* per planted kind, creator-level precision / recall / F1 of the flag meant to catch it:
  bought followers (step, drip, any; and the follower sample on its own), bought likes,
  engagement pods, bot comments; plus note-level scores for like bursts and bot bursts;
* the fake-share error (mean absolute error, in percentage points) against the true share of
  farm accounts in each creator's sample, for the thresholded share (used) and the mean
  probability (for comparison), and how often the Wilson interval covers the truth;
* pod recovery: adjusted Rand index of the found pods against the planted ones;
* false positives on the honest look-alikes (viral jump, isolated harsh comment, loved
  disclosed ads) and on creators with no plant at all;
* the follower classifier's held-out metrics from ``models/follower_classifier.metrics.json``
  and its follower-level precision / recall on this world.

The true farm accounts of each sample come from the ground truth (``baseline_fake_followers``
lists the ordinary farm accounts of every audience, the bought-followers rows the bought ones);
without baseline rows the MAE falls back to the creators with a bought-followers plant.
"""

from __future__ import annotations

import json
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from kol_vetting.signals.authenticity import AuthenticityParams, score_authenticity

TABLES = ("creators", "follower_samples", "notes", "comments", "follower_history", "ground_truth")
LOOKALIKES = ("viral_lookalike", "harsh_negative_lookalike", "loved_ads_lookalike")
#: Ground-truth rows that are labels rather than plants: a creator with only these is "clean".
LABEL_ONLY_KINDS = ("baseline_fake_followers",)
AUTHENTICITY_KINDS = ("bought_followers_step", "bought_followers_drip", "bought_likes", "engagement_pod", "bot_comments")


def _prf(pred: set[str], truth: set[str]) -> dict[str, Any]:
    """Precision, recall, F1 and counts of a predicted set against a true set."""
    return _prf_counts(len(pred & truth), len(pred - truth), len(truth - pred))


def _prf_counts(tp: int, fp: int, fn: int) -> dict[str, Any]:
    p = tp / (tp + fp) if tp + fp else (1.0 if not tp + fn else 0.0)
    r = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(f1, 4), "tp": tp, "fp": fp, "fn": fn,
            "positives": tp + fn}


def _load_world(world: Path) -> dict[str, pl.DataFrame]:
    return {t: pl.read_parquet(world / f"{t}.parquet") for t in TABLES}


def _ensure_world(seed: int, n_creators: int, workdir: Path) -> Path:
    world = workdir / f"demo_world_seed{seed}_n{n_creators}"
    if not all((world / f"{t}.parquet").is_file() for t in TABLES):
        from kol_vetting.sources.demo import generate_world

        generate_world(n_creators, seed, world)
    return world


def classifier_metrics(path: Path | None = None) -> dict[str, Any] | None:
    """Held-out metrics of the follower classifier from its metrics file (a compact subset)."""
    if path is None:
        from kol_vetting.signals.followers import default_model_path

        path = default_model_path().with_name("follower_classifier.metrics.json")
    if not Path(path).is_file():
        return None
    m = json.loads(Path(path).read_text(encoding="utf-8"))
    keep = {k: m[k] for k in ("model", "trained_at", "threshold", "threshold_rule", "ig_test", "cross_collection") if k in m}
    keep["source"] = str(path)
    return keep


def evaluate_authenticity(
    seed: int = 1234,
    n_creators: int = 400,
    workdir: Path | str | None = None,
    *,
    params: AuthenticityParams | None = None,
    model: object | None = None,
    verbose: bool = True,
) -> dict[str, Any]:
    """Build (or reuse) a demo world in ``workdir``, run the signal and score it.

    In: the world's seed (use one the thresholds were not tuned on), its size, a work folder
    (a temporary one when None; a world already there for the same seed and size is reused),
    the signal's parameters and follower model. Out: a JSON-ready dict (also printed when
    ``verbose``) with ``per_kind`` precision/recall/F1, ``fake_share`` errors, ``pods`` ARI,
    ``lookalikes`` false-positive rates, ``clean`` false-positive rate, ``note_level`` scores,
    ``follower_classifier`` metrics and ``timing``.
    """
    from sklearn.metrics import adjusted_rand_score

    tmp = None
    if workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="kol_auth_eval_")
        workdir = Path(tmp.name)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    world = _ensure_world(seed, n_creators, workdir)
    t_gen = time.perf_counter() - t0
    T = _load_world(world)
    as_of = T["creators"]["captured_at"].max() or datetime(2026, 11, 1)

    t1 = time.perf_counter()
    out = score_authenticity(T["creators"], T["follower_samples"], T["notes"], T["comments"], T["follower_history"],
                             as_of=as_of, model=model, params=params or AuthenticityParams())
    t_sig = time.perf_counter() - t1
    s = out["authenticity_scores"]
    gt = T["ground_truth"]

    def truth(*kinds: str) -> set[str]:
        return set(gt.filter(pl.col("kind").is_in(list(kinds)))["creator_id"].to_list())

    def pred(expr: pl.Expr) -> set[str]:
        return set(s.filter(expr)["creator_id"].to_list())

    gflags = pl.col("growth_flags")
    per_kind = {
        "bought_followers (step or drip; any evidence)": _prf(pred(pl.col("bought_followers")),
                                                              truth("bought_followers_step", "bought_followers_drip")),
        "bought_followers_step (growth jump / round step)": _prf(
            pred(gflags.list.contains("jump") | gflags.list.contains("round_step")), truth("bought_followers_step")),
        "bought_followers_drip (growth drip)": _prf(pred(gflags.list.contains("drip")), truth("bought_followers_drip")),
        "bought_followers_in_sample (follower sample alone)": _prf(
            pred(pl.col("flags").list.contains("fake_share_high")), truth("bought_followers_step", "bought_followers_drip")),
        "bought_likes (like burst)": _prf(pred(pl.col("like_burst_notes") > 0), truth("bought_likes")),
        "engagement_pod (pod member)": _prf(pred(pl.col("pod_id").is_not_null()), truth("engagement_pod")),
        "bot_comments (bot burst)": _prf(pred(pl.col("bot_burst_notes") > 0), truth("bot_comments")),
        "any authenticity plant (risk >= flag)": _prf(pred(pl.col("flagged")), truth(*AUTHENTICITY_KINDS)),
    }

    # note-level: like bursts and bot bursts against the planted notes
    gt_ids = gt.explode("affected_ids")
    bl_true = set(gt_ids.filter(pl.col("kind") == "bought_likes")["affected_ids"].to_list())
    bl_pred = set(out["engagement_anomalies"].filter(pl.col("kind") == "like_burst")["note_id"].to_list())
    note_ids = set(T["notes"]["note_id"].to_list())
    bot_true = set(gt_ids.filter(pl.col("kind") == "bot_comments")["affected_ids"].to_list()) & note_ids
    bot_pred = set(out["comment_anomalies"].filter(pl.col("kind") == "bot_burst")["note_id"].to_list())
    note_level = {"bought_likes notes": _prf(bl_pred, bl_true), "bot_comments notes": _prf(bot_pred, bot_true)}

    # pods: ARI over the union of true and found members, outsiders as singletons
    tp = gt.filter(pl.col("kind") == "engagement_pod").select(
        "creator_id", pl.col("detail").str.extract(r"engagement pod (\d+)").alias("true_pod"))
    fp_ = out["pods"].select("creator_id", pl.col("pod_id").alias("found_pod"))
    u = tp.join(fp_, on="creator_id", how="full", coalesce=True).with_columns(
        pl.coalesce("true_pod", pl.concat_str(pl.lit("none-"), pl.col("creator_id"))).alias("t"),
        pl.coalesce("found_pod", pl.concat_str(pl.lit("none-"), pl.col("creator_id"))).alias("f"),
    )
    ari = float(adjusted_rand_score(u["t"].to_list(), u["f"].to_list())) if u.height else None
    pods = {"adjusted_rand_index": None if ari is None else round(ari, 4),
            "true_pods": int(tp["true_pod"].n_unique()), "found_pods": int(fp_["found_pod"].n_unique()),
            "true_members": tp.height, "found_members": fp_.height}

    # fake share: MAE against the true farm share of each sample
    fs = out["follower_scores"]
    farm_kinds = ("baseline_fake_followers", "bought_followers_step", "bought_followers_drip")
    if gt.filter(pl.col("kind") == "baseline_fake_followers").height:
        farm: pl.Series | None = gt.filter(pl.col("kind").is_in(farm_kinds)).explode("affected_ids")["affected_ids"]
        farm_source = "ground truth: farm accounts of every sample (baseline + bought)"
    else:
        farm, farm_source = None, ""
    fake_share: dict[str, Any] = {}
    if farm is not None and fs.height:
        lab = fs.with_columns(pl.col("follower_id").is_in(farm.implode()).alias("truth"))
        per = lab.group_by("creator_id").agg(
            pl.col("truth").mean().alias("true_share"), pl.col("is_fake").mean().alias("thr"),
            pl.col("fake_probability").mean().alias("mp"), pl.len().alias("n"))
        per = per.join(s.select("creator_id", "fake_share_low", "fake_share_high"), on="creator_id")
        tp_ = lab.filter(pl.col("is_fake") & pl.col("truth")).height
        fp2 = lab.filter(pl.col("is_fake") & ~pl.col("truth")).height
        fn2 = lab.filter(~pl.col("is_fake") & pl.col("truth")).height
        fake_share = {
            "truth": farm_source,
            "creators": per.height,
            "mae_points_thresholded_share (used)": round(float((per["thr"] - per["true_share"]).abs().mean()) * 100, 3),
            "mae_points_mean_probability": round(float((per["mp"] - per["true_share"]).abs().mean()) * 100, 3),
            "bias_points_thresholded_share": round(float((per["thr"] - per["true_share"]).mean()) * 100, 3),
            "wilson_95_coverage": round(float(((per["true_share"] >= per["fake_share_low"] - 1e-12)
                                               & (per["true_share"] <= per["fake_share_high"] + 1e-12)).mean()), 4),
            "follower_level": _prf_counts(tp_, fp2, fn2),
        }
    elif fs.height:  # fallback: bought creators, true share from the ground truth's farm ids
        bf = gt.filter(pl.col("kind").str.starts_with("bought_followers")).select(
            "creator_id", pl.col("affected_ids").list.len().alias("k"))
        per = bf.join(s.select("creator_id", "fake_share", "sample_size"), on="creator_id")
        fake_share = {"truth": "bought-followers creators only (ground truth farm ids)", "creators": per.height,
                      "mae_points_thresholded_share (used)": round(float(
                          (per["fake_share"] - per["k"] / per["sample_size"]).abs().mean()) * 100, 3)}

    # look-alikes and clean creators
    look: dict[str, Any] = {}
    lk_all: set[str] = set()
    for k in LOOKALIKES:
        ids = truth(k)
        lk_all |= ids
        specific = {"viral_lookalike": gflags.list.len() > 0,
                    "harsh_negative_lookalike": pl.col("comment_flags").list.len() > 0,
                    "loved_ads_lookalike": pl.col("flags").list.len() > 0}[k]
        flagged = pred(pl.col("flagged")) & ids
        look[k] = {"creators": len(ids), "flagged": len(flagged),
                   "flagged_rate": round(len(flagged) / len(ids), 4) if ids else None,
                   "kind_specific_flag_rate": round(len(pred(specific) & ids) / len(ids), 4) if ids else None}
    anomalous = truth(*AUTHENTICITY_KINDS)
    lk_all -= anomalous
    lk_flag = pred(pl.col("flagged")) & lk_all
    look["all_lookalikes"] = {"creators": len(lk_all), "flagged": len(lk_flag),
                              "flagged_rate": round(len(lk_flag) / len(lk_all), 4) if lk_all else None}
    # the ordinary farm accounts every audience has: must not read as *bought* followers
    base = truth("baseline_fake_followers") - anomalous
    if base:
        bf = pred(pl.col("bought_followers")) & base
        fl = pred(pl.col("flagged")) & base
        look["baseline_fake_followers"] = {
            "creators": len(base), "flagged": len(fl), "flagged_rate": round(len(fl) / len(base), 4),
            "kind_specific_flag_rate": round(len(bf) / len(base), 4),
            "note": "kind-specific = called 'bought followers'; flagged = risk >= flag (a large natural fake share alone can do that)",
        }
    planted_any = set(gt.filter(~pl.col("kind").is_in(list(LABEL_ONLY_KINDS)))["creator_id"].to_list())
    clean = set(s["creator_id"].to_list()) - planted_any
    clean_flag = pred(pl.col("flagged")) & clean
    result: dict[str, Any] = {
        "seed": seed,
        "n_creators": n_creators,
        "world": str(world),
        "per_kind": per_kind,
        "note_level": note_level,
        "fake_share": fake_share,
        "pods": pods,
        "lookalikes": look,
        "clean": {"creators": len(clean), "flagged": len(clean_flag),
                  "flagged_rate": round(len(clean_flag) / len(clean), 4) if clean else None,
                  "flagged_ids": sorted(clean_flag)},
        "assessed_share": round(float(s["assessed"].mean()), 4) if s.height else None,
        "follower_classifier": classifier_metrics(),
        "timing_seconds": {"generate_world": round(t_gen, 2), "signal": round(t_sig, 2)},
    }
    if verbose:
        print(format_report(result))
    if tmp is not None:
        tmp.cleanup()
    return result


def format_report(r: dict[str, Any]) -> str:
    """A plain-text summary of :func:`evaluate_authenticity`'s result."""
    lines = [f"Authenticity signal on demo world seed {r['seed']}, {r['n_creators']} creators", "",
             f"{'kind':58s} {'P':>6s} {'R':>6s} {'F1':>6s}  tp/fp/fn"]
    for name, m in {**r["per_kind"], **r["note_level"]}.items():
        lines.append(f"{name:58s} {m['precision']:6.3f} {m['recall']:6.3f} {m['f1']:6.3f}  {m['tp']}/{m['fp']}/{m['fn']}")
    fs = r["fake_share"]
    if fs:
        lines += ["", f"fake share MAE (points): {fs.get('mae_points_thresholded_share (used)')} thresholded"
                  + (f", {fs['mae_points_mean_probability']} mean probability; Wilson coverage {fs['wilson_95_coverage']}"
                     if "mae_points_mean_probability" in fs else "") + f"  [{fs['truth']}]"]
    lines.append(f"pods ARI: {r['pods']['adjusted_rand_index']} ({r['pods']['found_pods']} found / {r['pods']['true_pods']} planted)")
    for k, v in r["lookalikes"].items():
        spec = f", kind-specific flag {v['kind_specific_flag_rate']}" if "kind_specific_flag_rate" in v else ""
        lines.append(f"look-alike {k}: flagged {v['flagged']}/{v['creators']} ({v['flagged_rate']}{spec})")
    c = r["clean"]
    lines.append(f"creators with no plant flagged: {c['flagged']}/{c['creators']} ({c['flagged_rate']})")
    lines.append(f"timing: {r['timing_seconds']}")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    import sys

    args = sys.argv[1:]
    evaluate_authenticity(int(args[0]) if args else 1234, int(args[1]) if len(args) > 1 else 400,
                          Path(args[2]) if len(args) > 2 else None)
