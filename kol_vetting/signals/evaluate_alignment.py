"""Evaluate the alignment signal against a demo world's ground truth.

:func:`evaluate_alignment` builds (or reuses) a demo world, runs
:func:`kol_vetting.signals.alignment.score_alignment` for every example brief in ``briefs/``
and measures:

* **competitor conflict** (the headline): creator-level precision / recall of
  ``competitor_conflict`` against the ``competitor_paid_work`` plants of that brief's brand
  (the plant's detail names the competitor and "competitor of <brand>"), per brief and pooled;
  plus note-level recall: the share of planted competitor notes listed in ``competitor_note_ids``
  (and in ``evidence_ids``);
* **advocacy**: recall of ``brand_advocacy_notes > 0`` on ``organic_praise_lookalike`` creators
  whose planted notes name the brief's brand, and how many other creators are credited;
* **audience response to ads** (brief-independent): precision / recall of ``ads_rejected`` on
  ``audience_rejects_ads`` plants, and how often the honest ``loved_ads_lookalike`` creators are
  flagged (should be never) or credited (``ads_welcomed``);
* **topic fit**: ROC AUC of ``topic_similarity`` for creators of the brief's category against
  the rest, and the median similarity of each group.

The weights were set by reasoning, not fitted; the topic n-grams and the comment bar were chosen
while looking at the default world (seed 1234, 400 creators), so run other seeds too (``seed=``)
for a view the choices never saw.
"""

from __future__ import annotations

import re
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from kol_vetting.brief import Brief, load_briefs
from kol_vetting.signals.alignment import AlignmentParams, score_alignment

TABLES = ("creators", "notes", "comments", "ground_truth")
ROOT = Path(__file__).resolve().parents[2]
_COMPETITOR_OF = re.compile(r"days: (?P<competitor>.+?) \(competitor of (?P<brand>.+)\)$")


def _prf(pred: set[str], truth: set[str]) -> dict[str, Any]:
    tp, fp, fn = len(pred & truth), len(pred - truth), len(truth - pred)
    p = tp / (tp + fp) if tp + fp else (1.0 if not truth else 0.0)
    r = tp / (tp + fn) if tp + fn else 1.0
    return {
        "precision": round(p, 4),
        "recall": round(r, 4),
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "positives": tp + fn,
    }


def _ensure_world(seed: int, n_creators: int, workdir: Path) -> Path:
    world = workdir / f"demo_world_seed{seed}_n{n_creators}"
    if not all((world / f"{t}.parquet").is_file() for t in TABLES):
        from kol_vetting.sources.demo import generate_world

        generate_world(n_creators, seed, world)
    return world


def competitor_truth(ground_truth: pl.DataFrame) -> pl.DataFrame:
    """Planted competitor paid work: creator_id, brand (whose competitor), competitor, note ids."""
    gt = ground_truth.filter(pl.col("kind") == "competitor_paid_work")
    rows = []
    for cid, detail, ids in gt.select("creator_id", "detail", "affected_ids").iter_rows():
        m = _COMPETITOR_OF.search(detail or "")
        if m:
            rows.append((cid, m["brand"], m["competitor"], list(ids or [])))
    return pl.DataFrame(
        rows,
        schema={
            "creator_id": pl.String,
            "brand": pl.String,
            "competitor": pl.String,
            "note_ids": pl.List(pl.String),
        },
        orient="row",
    )


def evaluate_alignment(
    seed: int = 1234,
    n_creators: int = 400,
    workdir: Path | str | None = None,
    *,
    briefs: dict[str, Brief] | None = None,
    params: AlignmentParams | None = None,
    with_disclosure_audit: bool = False,
) -> dict[str, Any]:
    """Score every brief on a demo world and compare with its ground truth.

    In: the world's seed and size, a work folder (temporary when None; a world already there for
    the same seed and size is reused), the briefs (default: ``briefs/*.yaml``) and parameters;
    ``with_disclosure_audit`` takes sponsorship from the disclosure signal's note audit
    (:func:`kol_vetting.signals.disclosure.audit_disclosure`) instead of the fallback.
    Out: a JSON-ready dict: ``competitor_conflict`` (``per_brief`` and ``pooled``
    precision/recall, note-level recall), ``advocacy``, ``ad_response``, ``topic`` and
    ``timing`` (seconds per brief).
    """
    from sklearn.metrics import roc_auc_score

    tmp = None
    if workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="kol_align_eval_")
        workdir = tmp.name
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    world = _ensure_world(seed, n_creators, workdir)
    t_gen = time.perf_counter() - t0
    T = {t: pl.read_parquet(world / f"{t}.parquet") for t in TABLES}
    as_of = T["creators"]["captured_at"].max() or datetime(2026, 11, 1)
    briefs = briefs if briefs is not None else load_briefs(ROOT / "briefs")
    truth = competitor_truth(T["ground_truth"])
    gt = T["ground_truth"]
    audit = None
    t_audit = 0.0
    if with_disclosure_audit:
        from kol_vetting.signals.disclosure import audit_disclosure

        t_a = time.perf_counter()
        audit = audit_disclosure(T["creators"], T["notes"], T["comments"], as_of=as_of)
        audit = audit["disclosure_audit"]
        t_audit = round(time.perf_counter() - t_a, 2)

    per_brief: dict[str, Any] = {}
    advocacy: dict[str, Any] = {}
    topic: dict[str, Any] = {}
    timing: dict[str, float] = {"generate_world": round(t_gen, 2)}
    if audit is not None:
        timing["disclosure_audit"] = t_audit
    tp = fp = fn = 0
    planted_notes = found_notes = found_in_evidence = 0
    ads_scores: pl.DataFrame | None = None
    for name, brief in briefs.items():
        t1 = time.perf_counter()
        out = score_alignment(
            brief,
            T["creators"],
            T["notes"],
            T["comments"],
            as_of=as_of,
            params=params,
            disclosure_audit=audit,
        )
        timing[name] = round(time.perf_counter() - t1, 2)
        s = out["alignment_scores"]
        ads_scores = s if ads_scores is None else ads_scores

        # --- competitor conflict
        t_b = truth.filter(pl.col("brand") == brief.brand)
        if t_b.height:
            res = _prf(
                set(s.filter(pl.col("competitor_conflict").fill_null(False))["creator_id"]),
                set(t_b["creator_id"]),
            )
            joined = t_b.join(
                s.select("creator_id", "competitor_note_ids", "evidence_ids"),
                on="creator_id",
                how="left",
            )
            n_pl = int(joined["note_ids"].list.len().sum())
            n_found = int(
                joined.select(
                    pl.col("note_ids").list.set_intersection("competitor_note_ids").list.len().sum()
                ).item()
            )
            n_ev = int(
                joined.select(
                    pl.col("note_ids").list.set_intersection("evidence_ids").list.len().sum()
                ).item()
            )
            res["planted_notes"] = n_pl
            res["note_recall"] = round(n_found / n_pl, 4) if n_pl else None
            res["note_recall_in_evidence"] = round(n_ev / n_pl, 4) if n_pl else None
            per_brief[name] = res
            tp, fp, fn = tp + res["tp"], fp + res["fp"], fn + res["fn"]
            planted_notes, found_notes, found_in_evidence = (
                planted_notes + n_pl,
                found_notes + n_found,
                found_in_evidence + n_ev,
            )

        # --- advocacy: organic praise plants whose notes name this brief's brand
        praise = gt.filter(pl.col("kind") == "organic_praise_lookalike").select(
            "creator_id", "affected_ids"
        )
        praise_notes = praise.explode("affected_ids").rename({"affected_ids": "note_id"})
        named = set(
            out["brand_associations"]
            .filter(pl.col("relation") == "own_brand")
            .explode("note_ids")
            .join(
                praise_notes, left_on=["creator_id", "note_ids"], right_on=["creator_id", "note_id"]
            )["creator_id"]
        )
        credited = set(s.filter(pl.col("brand_advocacy_notes").fill_null(0) > 0)["creator_id"])
        advocacy[name] = {
            "planted_creators_naming_brand": len(named),
            "recall": round(len(named & credited) / len(named), 4) if named else None,
            "credited_other_creators": len(credited - named),
        }

        # --- topic separation
        d = s.join(
            T["creators"].select("creator_id", "category"), on="creator_id", how="left", suffix="_c"
        )
        d = d.filter(pl.col("topic_similarity").is_not_null())
        y = (d["category_c"] == brief.category).fill_null(False).to_numpy()
        if 0 < y.sum() < len(y):
            topic[name] = {
                "auc_in_category": round(
                    float(roc_auc_score(y, d["topic_similarity"].to_numpy())), 4
                ),
                "median_in_category": round(float(d.filter(y)["topic_similarity"].median()), 4),
                "median_other": round(float(d.filter(~y)["topic_similarity"].median()), 4),
            }

    pooled: dict[str, Any] = {
        "precision": round(tp / (tp + fp), 4) if tp + fp else None,
        "recall": round(tp / (tp + fn), 4) if tp + fn else None,
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "positives": tp + fn,
    }
    pooled["note_recall"] = round(found_notes / planted_notes, 4) if planted_notes else None
    pooled["note_recall_in_evidence"] = (
        round(found_in_evidence / planted_notes, 4) if planted_notes else None
    )

    ad_response: dict[str, Any] = {}
    if ads_scores is not None:
        rejected = set(ads_scores.filter(pl.col("ads_rejected").fill_null(False))["creator_id"])
        welcomed = set(ads_scores.filter(pl.col("ads_welcomed").fill_null(False))["creator_id"])
        rej_truth = set(gt.filter(pl.col("kind") == "audience_rejects_ads")["creator_id"])
        loved = set(gt.filter(pl.col("kind") == "loved_ads_lookalike")["creator_id"])
        ad_response = {
            "ads_rejected_vs_audience_rejects_ads": _prf(rejected, rej_truth),
            "loved_ads_lookalikes": len(loved),
            "loved_ads_flagged_rejected": len(loved & rejected),
            "loved_ads_credited_welcomed": len(loved & welcomed),
            "flagged_share_all_creators": round(len(rejected) / max(ads_scores.height, 1), 4),
        }
    return {
        "world": {"seed": seed, "n_creators": n_creators, "as_of": str(as_of)},
        "competitor_conflict": {"per_brief": per_brief, "pooled": pooled},
        "advocacy": advocacy,
        "ad_response": ad_response,
        "topic": topic,
        "timing_seconds": timing,
        "notes": (
            (
                "Sponsorship from the disclosure signal's note audit. "
                if audit is not None
                else "Sponsorship from the fallback (platform label or explicit disclosure words). "
            )
            + "The demo plants disclosed competitor work only, and no "
            "other creator names a competitor, so precision here mostly tests that nothing else is "
            "mistaken for a competitor deal."
        ),
    }


if __name__ == "__main__":  # pragma: no cover
    import json
    import sys

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 400
    print(json.dumps(evaluate_alignment(n_creators=n), ensure_ascii=False, indent=2))
