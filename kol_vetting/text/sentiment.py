"""Linear text classifiers: comment sentiment / complaint (P(negative or complaint)) and
offensive language (P(offensive), :func:`offensive_probability`), for each text in a column.

The model is a linear classifier over TF-IDF features of a *model view* of the text, stored as a
plain JSON artifact (``models/comment_sentiment.json``): vocabulary, idf, coefficients and
intercept. Loading it needs neither pickle nor the training data.

Model view (:func:`model_text_expr`), built from the normalised text
(:func:`kol_vetting.text.normalize.normalize_expr`):

* each XHS emoji token (``<emo_赞>``) and each listed pictograph (``👍``) is replaced by one
  private-use symbol per polarity (positive / negative / neutral; ``lexicons/emoji_codes.yaml``),
  so an emoji's polarity is one feature whatever its name; unlisted emoji tokens become the
  neutral symbol;
* one *cue marker* symbol is appended per complaint cue found (controversy vocabulary and
  complaint slang) and one per praise cue (``lexicons/sentiment_cues.yaml``). Product reviews
  rarely contain XHS slang (避雷, 塌房, 绝绝子), but they do contain cues of the same groups
  (失望, 退款, 推荐), so the marker's weight learnt on reviews carries over to the slang.

Features are character n-grams (or jieba words) of that view; see ``models/comment_sentiment.md``
for the measured comparison and metrics.
"""

from __future__ import annotations

import functools
import json
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import scipy.sparse as sp

from kol_vetting.text.lexicons import load_lexicon, match_terms
from kol_vetting.text.normalize import EMOJI_TOKEN, emoji_polarity, normalize_expr

ARTIFACT_FORMAT = "kol-vetting/linear-text-classifier"
ARTIFACT_FORMAT_VERSION = 1
MODELS_DIR = Path(__file__).resolve().parents[2] / "models"
DEFAULT_MODEL_PATH = MODELS_DIR / "comment_sentiment.json"
DEFAULT_OFFENSIVE_PATH = MODELS_DIR / "offensive.json"

# One private-use character per emoji polarity and per cue kind: single characters, so that
# character n-grams see each as one unit, and they never occur in real text.
EMOJI_SYMBOLS: dict[str, str] = {"positive": "\ue001", "negative": "\ue002", "neutral": "\ue003"}
CUE_SYMBOLS: dict[str, str] = {"negative": "\ue010", "positive": "\ue011"}

# Which lexicon groups feed which cue marker. value_conflict is left out: it is about topics
# (歧视, 价值观) that are often discussed neutrally, not the commenter's own sentiment.
CUE_GROUPS: dict[str, dict[str, list[str]]] = {
    "negative": {
        "controversy": ["product_harm", "false_claims", "scandal", "plagiarism", "backlash"],
        "sentiment_cues": ["negative"],
    },
    "positive": {"sentiment_cues": ["positive"]},
}


def cue_lexicon_versions(text_view: str = "sentiment") -> dict[str, str]:
    """Versions of the lexicons a text view depends on (stored in the artifact)."""
    names = {"emoji_codes", "t2s"}
    if text_view == "sentiment":
        names |= {n for spec in CUE_GROUPS.values() for n in spec}
    return {n: load_lexicon(n).version for n in sorted(names)}


@functools.lru_cache(maxsize=1)
def _emoji_replacements() -> tuple[list[str], list[str]]:
    pol = emoji_polarity()
    return list(pol), [EMOJI_SYMBOLS[p] for p in pol.values()]


def model_text_expr(expr: pl.Expr | str, *, normalized: bool = False) -> pl.Expr:
    """The text the classifier sees: normalised text, emoji as polarity symbols, cue markers
    appended. ``expr`` is raw text (or normalised when ``normalized=True``); nulls become ""."""
    col = pl.col(expr) if isinstance(expr, str) else expr
    norm = (col if normalized else normalize_expr(col)).fill_null("")
    src, dst = _emoji_replacements()
    view = norm.str.replace_many(src, dst).str.replace_all(EMOJI_TOKEN, EMOJI_SYMBOLS["neutral"])
    for kind, spec in CUE_GROUPS.items():
        hits = pl.concat_list(
            [
                match_terms(norm, lex, groups, normalized=True, unique=False)
                for lex, groups in spec.items()
            ]
        ).list.len()
        # " X X" for two hits: separated so each counts as its own unigram.
        view = view + pl.lit(" " + CUE_SYMBOLS[kind]).repeat_by(hits).list.join("")
    return view


def jieba_tokens(text: str) -> list[str]:
    """jieba word tokens of one model-view string (whitespace dropped)."""
    import jieba

    jieba.setLogLevel(60)  # silence the "Building prefix dict" chatter
    return [w for w in jieba.lcut(text) if w.strip()]


def make_analyzer(analyzer: str, ngram_range: tuple[int, int]) -> Callable[[str], list[str]]:
    """Token function for ``"char"`` (character n-grams) or ``"jieba"`` (word n-grams).

    Both give the same tokens at training and at inference, as they are defined here only.
    """
    lo, hi = ngram_range
    if analyzer == "char":

        def char_ngrams(text: str) -> list[str]:
            n = len(text)
            return [text[i : i + k] for k in range(lo, hi + 1) for i in range(n - k + 1)]

        return char_ngrams
    if analyzer == "jieba":

        def word_ngrams(text: str) -> list[str]:
            words = jieba_tokens(text)
            return [
                " ".join(words[i : i + k])
                for k in range(lo, hi + 1)
                for i in range(len(words) - k + 1)
            ]

        return word_ngrams
    raise ValueError(f"unknown analyzer {analyzer!r}: use 'char' or 'jieba'")


def tfidf_matrix(
    texts: Iterable[str],
    vocabulary: dict[str, int],
    idf: np.ndarray,
    analyzer: Callable[[str], list[str]],
    *,
    sublinear_tf: bool = True,
) -> sp.csr_matrix:
    """L2-normalised TF-IDF rows of ``texts`` over a fixed vocabulary (unknown tokens ignored)."""
    indptr, indices, data = [0], [], []
    for text in texts:
        counts: dict[int, int] = {}
        for tok in analyzer(text):
            j = vocabulary.get(tok)
            if j is not None:
                counts[j] = counts.get(j, 0) + 1
        indices.extend(counts)
        data.extend(counts.values())
        indptr.append(len(indices))
    x = sp.csr_matrix(
        (
            np.asarray(data, dtype=np.float64),
            np.asarray(indices, dtype=np.int64),
            np.asarray(indptr),
        ),
        shape=(len(indptr) - 1, len(vocabulary)),
    )
    if sublinear_tf:
        np.log(x.data, out=x.data)
        x.data += 1.0
    x = x @ sp.diags(idf)
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return sp.csr_matrix(sp.diags(1.0 / norms) @ x)


@dataclass(frozen=True)
class SentimentModel:
    """A loaded linear text classifier. ``predict_proba`` gives P(negative or complaint)."""

    vocabulary: dict[str, int]
    idf: np.ndarray
    coef: np.ndarray
    intercept: float
    analyzer_name: str
    ngram_range: tuple[int, int]
    sublinear_tf: bool
    meta: dict[str, Any]
    # Which text view the features are computed on: "sentiment" (model_text_expr: emoji
    # polarity symbols and cue markers) or "normalized" (normalize_expr only).
    text_view: str = "sentiment"

    @property
    def analyzer(self) -> Callable[[str], list[str]]:
        return make_analyzer(self.analyzer_name, self.ngram_range)

    def decision_function(self, model_texts: Iterable[str]) -> np.ndarray:
        """Raw margin for model-view strings (see :func:`model_text_expr`)."""
        x = tfidf_matrix(
            model_texts, self.vocabulary, self.idf, self.analyzer, sublinear_tf=self.sublinear_tf
        )
        return x @ self.coef + self.intercept

    def predict_proba_model_texts(self, model_texts: Iterable[str]) -> np.ndarray:
        """P(negative) for model-view strings."""
        z = self.decision_function(model_texts)
        return 1.0 / (1.0 + np.exp(-z))

    def view_expr(self, expr: pl.Expr) -> pl.Expr:
        """The model's text view of a raw text column."""
        if self.text_view == "sentiment":
            return model_text_expr(expr)
        if self.text_view == "normalized":
            return normalize_expr(expr).fill_null("")
        raise ValueError(f"unknown text view {self.text_view!r}")

    def negative_probability(self, texts: pl.Series) -> pl.Series:
        """P(positive class) per raw text (for this model: negative or complaint); null or
        empty text gives null."""
        frame = pl.DataFrame({"t": texts.cast(pl.String)}).with_columns(
            view=self.view_expr(pl.col("t")),
            empty=pl.col("t").is_null() | (pl.col("t").str.strip_chars() == ""),
        )
        proba = self.predict_proba_model_texts(frame["view"].to_list())
        out = pl.Series(texts.name or "negative_probability", proba, dtype=pl.Float64)
        return (
            frame.select(pl.when(pl.col("empty")).then(None).otherwise(out))
            .to_series()
            .alias(out.name)
        )

    def to_json_dict(self) -> dict[str, Any]:
        """The artifact as plain JSON-able data (vocabulary in index order)."""
        terms = [""] * len(self.vocabulary)
        for term, j in self.vocabulary.items():
            terms[j] = term
        return {
            "format": ARTIFACT_FORMAT,
            "format_version": ARTIFACT_FORMAT_VERSION,
            **self.meta,
            "features": {
                "analyzer": self.analyzer_name,
                "ngram_range": list(self.ngram_range),
                "sublinear_tf": self.sublinear_tf,
                "norm": "l2",
                "text_view": self.text_view,
            },
            "vocabulary": terms,
            "idf": [float(f"{v:.6g}") for v in self.idf],
            "coef": [float(f"{v:.6g}") for v in self.coef],
            "intercept": float(self.intercept),
        }

    def save(self, path: Path) -> Path:
        """Write the JSON artifact (UTF-8, compact)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            json.dumps(self.to_json_dict(), ensure_ascii=False, separators=(",", ":")),
            encoding="utf-8",
        )
        return path


def model_from_json_dict(d: dict[str, Any]) -> SentimentModel:
    """Rebuild a :class:`SentimentModel` from :meth:`SentimentModel.to_json_dict` output."""
    if d.get("format") != ARTIFACT_FORMAT or d.get("format_version") != ARTIFACT_FORMAT_VERSION:
        raise ValueError(f"not a {ARTIFACT_FORMAT} v{ARTIFACT_FORMAT_VERSION} artifact")
    feats = d["features"]
    vocab = {t: i for i, t in enumerate(d["vocabulary"])}
    idf, coef = np.asarray(d["idf"], dtype=np.float64), np.asarray(d["coef"], dtype=np.float64)
    if not (len(vocab) == len(idf) == len(coef)):
        raise ValueError("artifact vocabulary, idf and coef lengths differ")
    meta = {
        k: v
        for k, v in d.items()
        if k
        not in {"format", "format_version", "features", "vocabulary", "idf", "coef", "intercept"}
    }
    return SentimentModel(
        vocabulary=vocab,
        idf=idf,
        coef=coef,
        intercept=float(d["intercept"]),
        analyzer_name=str(feats["analyzer"]),
        ngram_range=(int(feats["ngram_range"][0]), int(feats["ngram_range"][1])),
        sublinear_tf=bool(feats["sublinear_tf"]),
        meta=meta,
        text_view=str(feats.get("text_view", "sentiment")),
    )


@functools.lru_cache(maxsize=4)
def _load_cached(path: str, mtime: float) -> SentimentModel:
    d = json.loads(Path(path).read_text(encoding="utf-8"))
    model = model_from_json_dict(d)
    trained = d.get("lexicon_versions") or {}
    current = cue_lexicon_versions(model.text_view)
    changed = {k: (v, current.get(k)) for k, v in trained.items() if current.get(k) != v}
    if changed:
        # Cue markers depend on the lexicons: a changed lexicon shifts the inputs a little.
        warnings.warn(
            f"sentiment model trained with other lexicon versions {changed}; retrain", stacklevel=3
        )
    return model


def load_sentiment_model(path: Path | str | None = None) -> SentimentModel:
    """Load the JSON artifact (default: the committed ``models/comment_sentiment.json``).

    Plain JSON parsing only: no pickle, no code execution. Raises FileNotFoundError with the
    retraining command when the file is missing.
    """
    return _load_artifact(Path(path) if path is not None else DEFAULT_MODEL_PATH)


def load_offensive_model(path: Path | str | None = None) -> SentimentModel:
    """Load the offensive-language model (default: the committed ``models/offensive.json``)."""
    return _load_artifact(Path(path) if path is not None else DEFAULT_OFFENSIVE_PATH)


def _load_artifact(p: Path) -> SentimentModel:
    if not p.is_file():
        raise FileNotFoundError(
            f"no model artifact at {p}; train with "
            "`python -m kol_vetting.text.train_text --out models` (needs the shared datasets folder)"
        )
    return _load_cached(str(p.resolve()), p.stat().st_mtime)


def negative_probability(texts: pl.Series, model: SentimentModel | None = None) -> pl.Series:
    """P(negative or complaint) for each text of a String Series (null/empty text -> null).

    Uses the committed model unless ``model`` is given. Vectorized: normalisation and lexicon
    cues run as Polars expressions, scoring as one sparse matrix product.
    """
    return (model or load_sentiment_model()).negative_probability(texts)


def offensive_probability(texts: pl.Series, model: SentimentModel | None = None) -> pl.Series:
    """P(offensive) for each text (COLD-trained model; attacks on a region, gender or race).

    Null/empty text gives null. Uses the committed ``models/offensive.json`` unless ``model``.
    """
    return (model or load_offensive_model()).negative_probability(texts)
