"""The brand brief: what a brand wants from a campaign, loaded from YAML and validated.

A brief names the brand (with its Chinese and Latin aliases), its category, what it stands for
and must avoid, its competitors, the budget and its split across tiers, and the decision rules
(weights and thresholds) the scorecard applies. Defaults for the decision rules live in
``kol_vetting/config/scorecard.yaml``; a brief overrides any of them.

``load_brief(path)`` returns a :class:`Brief` or raises :class:`BriefError` with messages a
marketer understands ("budget: must be greater than 0"), never a stack trace.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

CONFIG_DIR = Path(__file__).parent / "config"
RegulatedCategory = Literal["cosmetics", "food", "health", "finance", "none"]
SIGNALS = ("authenticity", "controversy", "disclosure", "claims", "alignment")


class BriefError(ValueError):
    """A brief file that cannot be used; the message lists every problem in plain words."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Competitor(_Strict):
    """A competing brand and the names it appears under in notes."""

    name: str = Field(min_length=1)
    aliases: list[str] = Field(default_factory=list)

    @property
    def names(self) -> list[str]:
        """The brand name and every alias, without duplicates."""
        return list(dict.fromkeys([self.name, *self.aliases]))


class TierTarget(_Strict):
    """Share of the budget a tier should get (0-1), as a minimum and a maximum."""

    min_share: float = Field(0.0, ge=0, le=1)
    max_share: float = Field(1.0, ge=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> TierTarget:
        if self.min_share > self.max_share:
            raise ValueError("min_share is larger than max_share")
        return self


class Weights(_Strict):
    """How much each sub-score counts in the overall risk (normalised to sum to 1)."""

    authenticity: float = Field(ge=0)
    controversy: float = Field(ge=0)
    disclosure: float = Field(ge=0)
    claims: float = Field(ge=0)
    alignment: float = Field(ge=0)

    def normalised(self) -> dict[str, float]:
        """Weights by signal, summing to 1."""
        raw = self.model_dump()
        total = sum(raw.values())
        if total <= 0:
            raise BriefError("weights: at least one weight must be above 0")
        return {k: v / total for k, v in raw.items()}


class Thresholds(_Strict):
    """Decision rules on the overall risk (0-100) and on each sub-score."""

    approve_below: float = Field(ge=0, le=100, description="overall risk below this: approve")
    reject_at: float = Field(ge=0, le=100, description="overall risk at or above this: reject")
    reject_signal_at: float = Field(ge=0, le=100, description="any single sub-score at or above this: reject")
    min_confidence: float = Field(ge=0, le=1, description="less confidence than this: manual review")
    disagreement: float = Field(ge=0, le=100, description="sub-scores this far apart: manual review")
    condition_signal_at: float = Field(ge=0, le=100, description="a sub-score at or above this adds a condition")

    @model_validator(mode="after")
    def _ordered(self) -> Thresholds:
        if self.approve_below > self.reject_at:
            raise ValueError("approve_below is larger than reject_at")
        return self


class ScorecardConfig(_Strict):
    """Weights, thresholds, grade bands and look-back windows of the scorecard."""

    weights: Weights
    thresholds: Thresholds
    grade_bands: dict[str, float] = Field(description="grade -> highest overall risk for that grade")
    single_signal_reject: list[Literal["authenticity", "controversy", "disclosure", "claims", "alignment"]] = Field(
        description="signals whose sub-score alone (>= reject_signal_at) rejects a creator"
    )
    competitor_lookback_days: int = Field(ge=1)
    recent_notes_days: int = Field(ge=1)


class Brief(_Strict):
    """A brand brief. See ``briefs/*.yaml`` for examples."""

    name: str = Field(description="Short id of the brief, used in folder and partition names.")
    brand: str = Field(min_length=1)
    aliases: list[str] = Field(default_factory=list, description="Other names of the brand (Chinese and Latin).")
    category: str = Field(min_length=1, description="Content category the campaign targets (beauty, food, ...).")
    keywords: list[str] = Field(default_factory=list)
    values: list[str] = Field(default_factory=list)
    banned_topics: list[str] = Field(default_factory=list)
    competitors: list[Competitor] = Field(default_factory=list)
    budget: float = Field(gt=0)
    currency: str = Field("CNY", min_length=3, max_length=3)
    tier_targets: dict[Literal["nano", "micro", "mid", "macro", "mega"], TierTarget] = Field(default_factory=dict)
    max_share_per_creator: float = Field(0.25, gt=0, le=1)
    max_average_risk: float = Field(45.0, ge=0, le=100)
    max_creator_risk: float = Field(70.0, ge=0, le=100)
    regulated_category: RegulatedCategory = "none"
    candidate_categories: list[str] | None = Field(
        None, description="Only creators in these categories are vetted (default: all)."
    )
    min_followers: int = Field(0, ge=0)
    max_followers: int | None = Field(None, ge=1)
    scorecard: dict | None = Field(None, description="Overrides of kol_vetting/config/scorecard.yaml.")

    @field_validator("name")
    @classmethod
    def _slug(cls, v: str) -> str:
        # The name becomes a folder and a Dagster partition key: keep it a safe slug.
        if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,62}", v):
            raise ValueError("use lower-case letters, digits, '-' or '_' (it names folders), e.g. 'lanji-spring'")
        return v

    @property
    def brand_names(self) -> list[str]:
        """The brand and all its aliases."""
        return list(dict.fromkeys([self.brand, *self.aliases]))

    def scorecard_config(self) -> ScorecardConfig:
        """The defaults from config/scorecard.yaml with this brief's overrides applied."""
        base = yaml.safe_load((CONFIG_DIR / "scorecard.yaml").read_text(encoding="utf-8"))
        merged = _deep_merge(base, self.scorecard or {})
        try:
            return ScorecardConfig.model_validate(merged)
        except ValidationError as exc:
            raise BriefError(_explain(exc, prefix="scorecard.")) from None


def _deep_merge(base: dict, override: dict) -> dict:
    out = dict(base)
    for key, value in override.items():
        out[key] = _deep_merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _explain(exc: ValidationError, prefix: str = "") -> str:
    lines = []
    for err in exc.errors():
        where = prefix + ".".join(str(p) for p in err["loc"]) or "brief"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown field (check the spelling)"
        elif err["type"] == "missing":
            msg = "is required"
        lines.append(f"{where}: {msg}")
    return "; ".join(lines)


def parse_brief(data: object, source: str = "<brief>") -> Brief:
    """Validate a brief from already-parsed YAML/JSON data."""
    if not isinstance(data, dict):
        raise BriefError(f"{source}: a brief must be a YAML mapping of fields (brand:, budget:, ...)")
    try:
        brief = Brief.model_validate(data)
    except ValidationError as exc:
        raise BriefError(f"{source}: {_explain(exc)}") from None
    brief.scorecard_config()  # surface config errors at load time, not mid-run
    return brief


def load_brief(path: str | Path) -> Brief:
    """Load and validate a brief YAML file (safe loader: YAML tags cannot run code)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise BriefError(f"{p}: cannot read the brief ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise BriefError(f"{p}: the brief is not UTF-8 text") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise BriefError(f"{p}: not valid YAML ({exc})") from None
    return parse_brief(data, str(p))


def load_briefs(directory: str | Path) -> dict[str, Brief]:
    """Every ``*.yaml`` brief in a folder, by name (sorted); raises on the first invalid one."""
    briefs: dict[str, Brief] = {}
    for path in sorted(Path(directory).glob("*.yaml")):
        brief = load_brief(path)
        if brief.name in briefs:
            raise BriefError(f"{path}: another brief is already named {brief.name!r}")
        briefs[brief.name] = brief
    return briefs
