"""Reading train.jsonl / eval.jsonl and applying the per-language weights.

Each line is one JSON object with at least `input`, `target`, `language` (`rust`, `elixir`, or a pair such as
`rust->elixir`), `task`, `quality_score` and `source_id`; extra keys are kept in `Example.extra`. An optional numeric
`weight` key multiplies the example's language weight.

Weights are applied by deterministic, seeded resampling: an example whose expected copies are w gets floor(w) copies plus
one more with probability frac(w). Weight 1 keeps every example exactly once; 0 drops them; 2.5 gives two or three.
"""

from __future__ import annotations

import dataclasses
import json
import math
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from rxt5_assets.errors import UserFacingError

REQUIRED_KEYS: tuple[str, ...] = ("input", "target", "language", "task", "quality_score", "source_id")


class TrainingDataError(UserFacingError, ValueError):
    """The training/eval data is unusable; the message names the file and line where possible."""


@dataclass(frozen=True, slots=True)
class Example:
    input: str
    target: str
    language: str
    task: str
    quality_score: float
    source_id: str
    weight: float = 1.0
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def is_cross_language(self) -> bool:
        return is_cross_language(self.language)


def is_cross_language(language: str) -> bool:
    return "->" in language


def _fail(path: Path, lineno: int, message: str) -> TrainingDataError:
    return TrainingDataError(f"{path}:{lineno}: {message}")


def _parse_line(path: Path, lineno: int, line: str) -> Example:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise _fail(path, lineno, f"malformed JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(obj, dict):
        raise _fail(path, lineno, f"expected a JSON object, got {type(obj).__name__}")
    missing = [k for k in REQUIRED_KEYS if k not in obj]
    if missing:
        raise _fail(path, lineno, f"missing required key(s) {', '.join(missing)} "
                                  f"(every line needs {', '.join(REQUIRED_KEYS)})")
    for key in ("input", "target", "language", "task"):
        if not isinstance(obj[key], str):
            raise _fail(path, lineno, f"{key!r} must be a string, got {type(obj[key]).__name__}")
    language = obj["language"].strip()
    if not language or any(not part.strip() for part in language.split("->")):
        raise _fail(path, lineno, f"invalid language {obj['language']!r} (use e.g. 'rust', 'elixir', 'rust->elixir')")
    if not obj["target"].strip():
        raise _fail(path, lineno, "'target' is empty")
    score = obj["quality_score"]
    if isinstance(score, bool) or not isinstance(score, (int, float)) or not math.isfinite(score):
        raise _fail(path, lineno, f"'quality_score' must be a finite number, got {score!r}")
    weight = obj.get("weight", 1.0)
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight) or weight < 0:
        raise _fail(path, lineno, f"'weight' must be a non-negative number, got {weight!r}")
    extra = {k: v for k, v in obj.items() if k not in REQUIRED_KEYS and k != "weight"}
    return Example(input=obj["input"], target=obj["target"], language=language, task=obj["task"],
                   quality_score=float(score), source_id=str(obj["source_id"]), weight=float(weight), extra=extra)


def read_jsonl(path: Path | str, *, required: bool = True) -> list[Example]:
    """All examples in `path`; blank lines are skipped. Raises TrainingDataError naming `path:line` on a bad line,
    and when the file holds no examples at all while `required`."""
    import gzip

    path = Path(path)
    if not path.is_file():
        raise TrainingDataError(f"{path}: no such file")
    examples: list[Example] = []
    with (gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb")) as fh:
        for lineno, raw_bytes in enumerate(fh, start=1):
            try:
                raw = raw_bytes.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise _fail(path, lineno, f"not UTF-8 (byte 0x{raw_bytes[exc.start]:02x} at column {exc.start + 1}); "
                                          "write the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)") from None
            line = raw.strip()
            if not line:
                continue
            examples.append(_parse_line(path, lineno, line))
    if required and not examples:
        raise TrainingDataError(f"{path}: no examples (the file is empty or holds only blank lines); "
                                "build the training dataset first")
    return examples


@dataclass(frozen=True)
class LanguageMix:
    """What a weighted training set holds: rows read, rows after weighting, per language and per task."""

    read_per_language: dict[str, int]
    per_language: dict[str, int]
    per_task: dict[str, int]
    dropped_cross_language: int
    replay_per_language: dict[str, int] = field(default_factory=dict)  # the base's own public rows mixed in

    @property
    def total(self) -> int:
        return sum(self.per_language.values())

    def as_dict(self) -> dict[str, Any]:
        return {"read_per_language": dict(self.read_per_language), "per_language": dict(self.per_language),
                "per_task": dict(self.per_task), "dropped_cross_language": self.dropped_cross_language,
                "total": self.total, "replay_per_language": dict(self.replay_per_language),
                "replay_total": sum(self.replay_per_language.values())}


def expected_copies(example: Example, language_weight: float) -> float:
    return language_weight * example.weight


def apply_weights(examples: Iterable[Example], *, weight_of, seed: int,
                  cross_language_learning: bool = True) -> tuple[list[Example], LanguageMix]:
    """Resample `examples` so that each appears `weight_of(language) * example.weight` times in expectation.

    Deterministic for a seed and an input order; the output keeps the input order (copies adjacent), the trainer
    shuffles. Cross-language rows are dropped when `cross_language_learning` is False.
    """
    rng = random.Random(seed)
    read = Counter()
    out: list[Example] = []
    dropped_cross = 0
    for ex in examples:
        read[ex.language] += 1
        if ex.is_cross_language and not cross_language_learning:
            dropped_cross += 1
            continue
        w = expected_copies(ex, float(weight_of(ex.language)))
        whole = math.floor(w)
        copies = whole + (1 if rng.random() < (w - whole) else 0)
        out.extend([ex] * copies)
    mix = LanguageMix(read_per_language=dict(sorted(read.items())),
                      per_language=dict(sorted(Counter(e.language for e in out).items())),
                      per_task=dict(sorted(Counter(e.task for e in out).items())),
                      dropped_cross_language=dropped_cross)
    return out, mix


def load_training_examples(config) -> tuple[list[Example], LanguageMix]:
    """Read `config.train_file`, apply the config's language weights, then mix in the replay rows
    (`replay_examples`). Raises TrainingDataError when nothing of the org's is left."""
    raw = read_jsonl(config.train_file)
    weighted, mix = apply_weights(raw, weight_of=config.language_weight, seed=config.seed,
                                  cross_language_learning=config.cross_language_learning)
    if not weighted:
        raise TrainingDataError(
            f"{config.train_file}: no training examples left after weighting (read {mix.read_per_language}; "
            f"rust_weight={config.rust_weight}, elixir_weight={config.elixir_weight}, "
            f"cross_language_weight={config.cross_language_weight}, "
            f"cross_language_learning={config.cross_language_learning})")
    replay = replay_examples(config, len(weighted))
    if replay:
        mix = dataclasses.replace(mix, replay_per_language=dict(sorted(Counter(e.language for e in replay).items())))
    return weighted + replay, mix


REPLAY_FILE = "replay.jsonl.gz"  # next to a base's weights: a sample of the public examples it was pretrained on


def replay_file_for(config) -> Path | None:
    """The replay set a config uses: `replay_file` when given, else the base folder's own `replay.jsonl.gz` (the
    shipped demo base has one; a CodeT5+ base has none)."""
    if getattr(config, "replay_file", None) is not None:
        return Path(config.replay_file)
    from rxt5_assets.training.base_model import resolve_base_path

    folder = Path(resolve_base_path(config.base_model, models_dir=config.models_dir)).expanduser()
    return folder / REPLAY_FILE if (folder / REPLAY_FILE).is_file() else None


def replay_examples(config, n_train: int) -> list[Example]:
    """round(replay_ratio x n_train) rows drawn (seeded, without replacement) from the base's replay set: rehearsal
    of what the base already knew, so a fine-tune on a small org corpus learns the org's code without forgetting how
    to write a whole item (measured on the demo: README "How the model is trained"). The org's eval split is not
    touched. [] when replay_ratio is 0."""
    ratio = float(getattr(config, "replay_ratio", 0.0) or 0.0)
    if ratio <= 0:
        return []
    path = replay_file_for(config)
    if path is None:
        raise TrainingDataError(
            f"replay_ratio={ratio:g} needs a replay set, and base {config.base_model!r} ships none ({REPLAY_FILE}); "
            "give --replay-file (JSONL of public examples in the training format) or set --replay-ratio 0")
    pool = read_jsonl(path)
    wanted = min(len(pool), round(ratio * n_train))
    picked = random.Random(config.seed).sample(range(len(pool)), wanted)
    return [dataclasses.replace(pool[i], extra={**pool[i].extra, "replay": True}) for i in sorted(picked)]


def load_eval_examples(config) -> list[Example]:
    """The held-out set as written (no weighting, no resampling); [] when the config has no eval file."""
    if config.eval_file is None:
        return []
    return read_jsonl(config.eval_file, required=False)
