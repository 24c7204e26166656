"""Model artifacts, evaluation metrics and the model card (JSON + Markdown).

Artifacts of one trained model live under `<home>/models/risk/<version>/`:

- `model.txt`        the LightGBM booster (text format)
- `calibrator.json`  the probability calibrator (Platt or isotonic) fitted on out-of-fold margins
- `card.json`        the model card: windows, features, held-out metrics for the model, rules alone and a constant
- `card.md`          the same card for people
- `manifest.json`    version, parameters, feature list, grade thresholds, data fingerprint, library versions

`<home>/models/risk/CURRENT` holds the version that `gglake score` uses; it is written last, so a
training run that dies half-way leaves the previous model current.

Files go through `pyarrow.fs`: local homes are tested; an object-store home (s3://) would use
pyarrow's own S3 client and credentials from the environment and is untested (out of scope).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pyarrow import fs as pafs

from gglake.settings import Settings

ECE_BINS = 10
ARTIFACTS = ("model.txt", "calibrator.json", "card.json", "card.md", "manifest.json")
NO_MODEL = "no trained model: run `gglake train` first"


# --- file access --------------------------------------------------------------------------------------------
def _store(settings: Settings) -> tuple[pafs.FileSystem, str]:
    root = settings.path("models", "risk")
    if "://" in root:
        filesystem, path = pafs.FileSystem.from_uri(root)
        return filesystem, path
    return pafs.LocalFileSystem(), str(Path(root).resolve())


def write_text(settings: Settings, relative: str, text: str) -> None:
    """Write a file under models/risk/ atomically (temporary name, then rename)."""
    filesystem, root = _store(settings)
    path = f"{root}/{relative}"
    filesystem.create_dir(path.rsplit("/", 1)[0], recursive=True)
    tmp = f"{path}.tmp"
    with filesystem.open_output_stream(tmp) as out:
        out.write(text.encode("utf-8"))
    filesystem.move(tmp, path)


def read_text(settings: Settings, relative: str) -> str | None:
    filesystem, root = _store(settings)
    path = f"{root}/{relative}"
    if filesystem.get_file_info(path).type == pafs.FileType.NotFound:
        return None
    with filesystem.open_input_stream(path) as src:
        return src.read().decode("utf-8")


def current_version(settings: Settings) -> str | None:
    text = read_text(settings, "CURRENT")
    return (text.strip() or None) if text is not None else None


def model_exists(settings: Settings) -> bool:
    """Whether a current model with all its artifacts is in place."""
    version = current_version(settings)
    if version is None:
        return False
    filesystem, root = _store(settings)
    infos = filesystem.get_file_info([f"{root}/{version}/{name}" for name in ARTIFACTS])
    return all(info.type == pafs.FileType.File for info in infos)


def current_card(settings: Settings) -> dict | None:
    """The current model's card (what `gglake model-card --json` prints), or None if no model is trained."""
    version = current_version(settings)
    if version is None:
        return None
    text = read_text(settings, f"{version}/card.json")
    return json.loads(text) if text is not None else None


@dataclass(frozen=True)
class Calibrator:
    """Maps LightGBM's raw margin (log-odds) to a calibrated probability."""

    method: str  # "platt" or "isotonic"
    a: float = 1.0  # platt: p = 1 / (1 + exp(-(a * margin + b)))
    b: float = 0.0
    x: tuple[float, ...] = ()  # isotonic: piecewise-linear through (x, y), clipped at the ends
    y: tuple[float, ...] = ()

    def predict(self, margin: np.ndarray) -> np.ndarray:
        margin = np.asarray(margin, dtype=np.float64)
        if self.method == "platt":
            return 1.0 / (1.0 + np.exp(-(self.a * margin + self.b)))
        if self.method == "isotonic":
            return np.interp(margin, np.asarray(self.x), np.asarray(self.y))
        raise ValueError(f"unknown calibration method {self.method!r}")

    def to_json(self) -> dict:
        if self.method == "platt":
            return {"method": "platt", "a": self.a, "b": self.b}
        return {"method": "isotonic", "x": list(self.x), "y": list(self.y)}

    @classmethod
    def from_json(cls, data: dict) -> Calibrator:
        if data["method"] == "platt":
            return cls("platt", a=float(data["a"]), b=float(data["b"]))
        return cls("isotonic", x=tuple(data["x"]), y=tuple(data["y"]))


@dataclass(frozen=True)
class LoadedModel:
    version: str
    booster: Any  # lightgbm.Booster
    calibrator: Calibrator
    manifest: dict

    @property
    def features(self) -> list[str]:
        return list(self.manifest["features"])

    @property
    def thresholds(self) -> tuple[float, float, float, float]:
        return tuple(self.manifest["grade_thresholds"])  # type: ignore[return-value]


def load_current(settings: Settings) -> LoadedModel:
    """The current model, ready to score; RuntimeError when none has been trained."""
    import lightgbm as lgb

    if not model_exists(settings):
        raise RuntimeError(NO_MODEL)
    version = current_version(settings)
    texts = {name: read_text(settings, f"{version}/{name}") for name in ("model.txt", "calibrator.json", "manifest.json")}
    if any(text is None for text in texts.values()):
        raise RuntimeError(NO_MODEL)
    return LoadedModel(
        version=str(version),
        booster=lgb.Booster(model_str=texts["model.txt"]),
        calibrator=Calibrator.from_json(json.loads(texts["calibrator.json"])),
        manifest=json.loads(texts["manifest.json"]),
    )


# --- metrics ------------------------------------------------------------------------------------------------
def finite(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), 6)


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = ECE_BINS) -> float:
    """Weighted mean |mean(p) - mean(y)| over equal-width probability bins."""
    y, p = np.asarray(y, dtype=np.float64), np.asarray(p, dtype=np.float64)
    if len(y) == 0:
        return math.nan
    idx = np.minimum((p * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        mask = idx == b
        if mask.any():
            total += mask.sum() * abs(p[mask].mean() - y[mask].mean())
    return total / len(y)


def precision_at_capacity(y: np.ndarray, score: np.ndarray, day: np.ndarray, key: np.ndarray, share: float) -> tuple[float, int]:
    """Pooled precision of the top K rows by score each day, K = ceil(share x rows that day).

    Ties are broken by resident key (deterministic, arbitrary). Returns (precision, alerts).
    """
    order = np.lexsort((key, -np.asarray(score, dtype=np.float64), day))  # by day, score desc, key
    hits = alerts = 0
    days, starts, counts = np.unique(day[order], return_index=True, return_counts=True)
    for start, n in zip(starts, counts):
        k = math.ceil(share * n)
        hits += int(np.asarray(y)[order[start : start + k]].sum())
        alerts += k
    return (hits / alerts if alerts else math.nan), alerts


def evaluate(
    y: np.ndarray,
    prob: np.ndarray,
    rank_score: np.ndarray,
    day: np.ndarray,
    key: np.ndarray,
    share: float,
    *,
    constant: bool = False,
) -> dict:
    """Held-out metrics of one scorer: ranking by `rank_score`, calibration of `prob`."""
    from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

    y = np.asarray(y, dtype=np.int64)
    both = 0 < y.sum() < len(y)
    precision, alerts = precision_at_capacity(y, rank_score, day, key, share)
    if constant:  # a constant score orders nobody: its expected precision is the prevalence
        precision = float(y.mean()) if len(y) else math.nan
    return {
        "roc_auc": finite(roc_auc_score(y, rank_score)) if both else None,
        "pr_auc": finite(average_precision_score(y, rank_score)) if y.sum() else None,
        "precision_at_capacity": finite(precision),
        "alerts_at_capacity": alerts,
        "ece": finite(expected_calibration_error(y, prob)),
        "brier": finite(brier_score_loss(y, prob)) if len(y) else None,
    }


# --- Markdown -----------------------------------------------------------------------------------------------
def _fmt(x: Any) -> str:
    if x is None:
        return "n/a"
    if isinstance(x, float):
        return f"{x:.4f}"
    return str(x)


def _metrics_table(metrics: dict) -> list[str]:
    names = [
        ("roc_auc", "ROC-AUC"),
        ("pr_auc", "PR-AUC (average precision)"),
        ("precision_at_capacity", "Precision at daily alert capacity"),
        ("alerts_at_capacity", "Alerts at capacity (rows)"),
        ("ece", "Expected calibration error (10 bins)"),
        ("brier", "Brier score"),
    ]
    lines = ["| Metric | Model | Rules alone | Constant |", "|---|---:|---:|---:|"]
    for key, label in names:
        lines.append(f"| {label} | " + " | ".join(_fmt(metrics[s][key]) for s in ("model", "rules", "constant")) + " |")
    return lines


def render_markdown(card: dict) -> str:
    s = card["splits"]
    tw, vw = card["training_window"], card["validation_window"]
    lines = [
        f"# Care-risk model `{card['model_version']}`",
        "",
        f"Predicts **{card['target']}**.",
        "",
        f"Created {card['created_at']} · LightGBM {card['libraries']['lightgbm']} · "
        f"calibration: {card['calibration']['method']} · horizon {card['horizon_days']} days · "
        f"alert capacity {card['capacity_share']:.1%} of residents a day",
        "",
        *([f"> **Warning**: {card['calibration']['warning']}", ""] if card["calibration"].get("warning") else []),
        "## Data and windows",
        "",
        "| Split | Dates | Rows | Positives | Prevalence | Residents |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for name in ("train", "validation", "validation_unseen_residents"):
        part = s[name]
        lines.append(
            f"| {name} | {part['start']} … {part['end']} | {part['rows']} | {part['positives']} | "
            f"{_fmt(part['prevalence'])} | {part['residents']} |"
        )
    lines += [
        "",
        f"Training window {tw['start']} … {tw['end']}; validation window {vw['start']} … {vw['end']}, after an "
        f"embargo of {card['embargo_days']} days (no training row's label window reaches into validation). "
        f"{card['holdout']['description']}",
        "",
        "## Held-out performance (validation period, all residents)",
        "",
        *_metrics_table(card["metrics"]["validation"]),
        "",
        "## Held-out performance (validation period, residents never seen in training or calibration)",
        "",
        *_metrics_table(card["metrics"]["validation_unseen_residents"]),
        "",
        "## Scorers",
        "",
        f"- **Model**: {card['model']['description']}",
        f"- **Rules alone**: {card['rules_baseline']['formula']}",
        f"- **Constant**: {card['constant_baseline']}",
        f"- **Calibration**: {card['calibration']['description']}",
        "",
        "## Grades",
        "",
        card["grade_thresholds"]["description"],
        "",
        "| Grade | Calibrated probability from |",
        "|---|---:|",
    ]
    cuts = card["grade_thresholds"]["cuts"]
    grades = card["grade_thresholds"]["grades"]
    lines.append(f"| {grades[0]} | 0 |")
    lines += [f"| {g} | {c:.4f} |" for g, c in zip(grades[1:], cuts)]
    lines += [
        "",
        f"## Features ({len(card['features'])})",
        "",
        ", ".join(f"`{f}`" for f in card["features"]),
        "",
        card["feature_notes"],
        "",
        "## Limitations",
        "",
        *(f"- {item}" for item in card["limitations"]),
        "",
    ]
    return "\n".join(lines)
