from __future__ import annotations

import json
from pathlib import Path

import pytest

from rxt5_assets.errors import UserFacingError
from rxt5_assets.training.config import TrainConfig, TrainConfigError
from rxt5_assets.training.data import (
    TrainingDataError,
    apply_weights,
    load_training_examples,
    read_jsonl,
)
from rxt5_assets.training.synthetic import synthetic_examples, write_jsonl


def _row(**kw):
    r = {"input": "// rust: implement\npub fn id(&self) -> u64", "target": "{\n    self.id\n}", "language": "rust",
         "task": "implement", "quality_score": 0.9, "source_id": "x-1"}
    r.update(kw)
    return r


def _write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def _config(tmp_path, train_file, **kw) -> TrainConfig:
    return TrainConfig(train_file=train_file, output_dir=tmp_path / "out", models_dir=tmp_path / "models", **kw)


def test_malformed_line_names_file_and_line(tmp_path):
    p = _write_lines(tmp_path / "train.jsonl", [json.dumps(_row()), "", json.dumps(_row()), '{"input": "x", oops}'])
    with pytest.raises(TrainingDataError) as err:
        read_jsonl(p)
    assert f"{p}:4:" in str(err.value)
    assert "malformed JSON" in str(err.value)
    assert isinstance(err.value, UserFacingError)


def test_missing_key_names_file_line_and_key(tmp_path):
    bad = _row()
    del bad["quality_score"]
    p = _write_lines(tmp_path / "eval.jsonl", [json.dumps(_row()), json.dumps(bad)])
    with pytest.raises(TrainingDataError, match=r"eval\.jsonl:2: missing required key\(s\) quality_score"):
        read_jsonl(p)


@pytest.mark.parametrize("field,value,msg", [("quality_score", "high", "quality_score"), ("input", 3, "'input' must"),
                                             ("language", "rust->", "invalid language"), ("target", "  ", "empty"),
                                             ("weight", -1, "'weight'")])
def test_bad_values_are_reported_with_location(tmp_path, field, value, msg):
    p = _write_lines(tmp_path / "t.jsonl", [json.dumps(_row(**{field: value}))])
    with pytest.raises(TrainingDataError, match=msg) as err:
        read_jsonl(p)
    assert f"{p}:1:" in str(err.value)


def test_non_object_line(tmp_path):
    p = _write_lines(tmp_path / "t.jsonl", ["[1, 2]"])
    with pytest.raises(TrainingDataError, match=r"t\.jsonl:1: expected a JSON object"):
        read_jsonl(p)


def test_blank_lines_ignored_and_extra_keys_kept(tmp_path):
    p = _write_lines(tmp_path / "t.jsonl", ["", json.dumps(_row(repo="ledger-core", weight=2)), "   ", ""])
    (ex,) = read_jsonl(p)
    assert ex.extra == {"repo": "ledger-core"}
    assert ex.weight == 2.0
    assert ex.language == "rust" and ex.quality_score == 0.9


def test_empty_training_set_is_a_clear_error(tmp_path):
    p = _write_lines(tmp_path / "train.jsonl", ["", "  "])
    with pytest.raises(TrainingDataError, match="no examples"):
        load_training_examples(_config(tmp_path, p))


def test_missing_file(tmp_path):
    with pytest.raises(TrainingDataError, match="no such file"):
        read_jsonl(tmp_path / "nope.jsonl")


def test_everything_weighted_away_is_a_clear_error(tmp_path):
    p = write_jsonl(tmp_path / "train.jsonl", synthetic_examples(6, languages=("rust",)))
    with pytest.raises(TrainingDataError, match="no training examples left after weighting"):
        load_training_examples(_config(tmp_path, p, rust_weight=0.0))


def test_weights_change_the_mix(tmp_path):
    p = write_jsonl(tmp_path / "train.jsonl", synthetic_examples(300, seed=5))  # 100 per language
    base, mix1 = load_training_examples(_config(tmp_path, p))
    assert mix1.per_language == {"elixir": 100, "rust": 100, "rust->elixir": 100}
    assert mix1.read_per_language == mix1.per_language and len(base) == 300

    _, mix2 = load_training_examples(_config(tmp_path, p, rust_weight=2.0, elixir_weight=0.5,
                                             cross_language_weight=0.0))
    assert mix2.per_language.get("rust") == 200
    assert 30 <= mix2.per_language["elixir"] <= 70  # 50 expected
    assert "rust->elixir" not in mix2.per_language
    assert mix2.read_per_language == mix1.read_per_language

    _, mix3 = load_training_examples(_config(tmp_path, p, cross_language_learning=False, cross_language_weight=3.0))
    assert "rust->elixir" not in mix3.per_language and mix3.dropped_cross_language == 100
    assert mix3.per_task == {"implement": 200}


def test_weighting_is_deterministic_for_a_seed(tmp_path):
    p = write_jsonl(tmp_path / "train.jsonl", synthetic_examples(90, seed=6))
    a, _ = load_training_examples(_config(tmp_path, p, rust_weight=1.5, seed=1))
    b, _ = load_training_examples(_config(tmp_path, p, rust_weight=1.5, seed=1))
    c, _ = load_training_examples(_config(tmp_path, p, rust_weight=1.5, seed=2))
    ids = lambda xs: [x.source_id for x in xs]  # noqa: E731
    assert ids(a) == ids(b)
    assert ids(a) != ids(c)


def test_example_weight_multiplies_language_weight(tmp_path):
    p = _write_lines(tmp_path / "t.jsonl", [json.dumps(_row(weight=3, source_id="heavy")),
                                            json.dumps(_row(source_id="plain"))])
    out, mix = apply_weights(read_jsonl(p), weight_of=lambda lang: 2.0, seed=0)
    assert [e.source_id for e in out].count("heavy") == 6
    assert [e.source_id for e in out].count("plain") == 2
    assert mix.total == 8


def test_config_validation(tmp_path):
    with pytest.raises(TrainConfigError, match="rust_weight"):
        _config(tmp_path, tmp_path / "t.jsonl", rust_weight=-1)
    with pytest.raises(TrainConfigError, match="precision"):
        _config(tmp_path, tmp_path / "t.jsonl", precision="int4")
    cfg = _config(tmp_path, str(tmp_path / "t.jsonl"))
    assert isinstance(cfg.train_file, Path)
    assert cfg.language_weight("rust->elixir") == 1.0 and cfg.language_weight("python") == 1.0
    assert TrainConfig.field_help("cross_language_weight")


def test_the_demo_base_replays_its_own_public_examples(tmp_path):
    """replay_ratio: round(ratio x rows) of the shipped base's replay set join the org's rows (seeded, never the eval
    split), counted in the mix; `tiny` has none by default, and asking for replay without a set is a clear error."""
    from rxt5_assets.training.config import defaults_for_base
    from rxt5_assets.training.data import REPLAY_FILE, load_training_examples, replay_file_for

    train = tmp_path / "train.jsonl"
    write_jsonl(train, synthetic_examples(40, seed=1, prefix="org"))
    demo = TrainConfig(train_file=train, output_dir=tmp_path / "o", models_dir=tmp_path / "m", base_model="demo",
                       **defaults_for_base("demo"))
    assert demo.replay_ratio == 1.0 and replay_file_for(demo).name == REPLAY_FILE
    rows, mix = load_training_examples(demo)
    replayed = [e for e in rows if e.extra.get("replay")]
    assert len(rows) == 40 + 40 and len(replayed) == 40 and sum(mix.replay_per_language.values()) == 40
    assert not any(e.source_id.startswith("org") for e in replayed)  # public rows, not the org's
    again, _ = load_training_examples(demo)
    assert [e.input for e in again] == [e.input for e in rows]  # seeded
    assert mix.as_dict()["replay_total"] == 40 and sum(mix.per_language.values()) == 40

    tiny = TrainConfig(train_file=train, output_dir=tmp_path / "o", models_dir=tmp_path / "m", base_model="tiny",
                       **defaults_for_base("tiny"))
    assert tiny.replay_ratio == 0 and len(load_training_examples(tiny)[0]) == 40
    asked = TrainConfig(train_file=train, output_dir=tmp_path / "o", models_dir=tmp_path / "m", base_model="tiny",
                        replay_ratio=1.0)
    with pytest.raises(TrainingDataError, match="needs a replay set"):
        load_training_examples(asked)
    own = tmp_path / "mine.jsonl"
    write_jsonl(own, synthetic_examples(5, seed=9, prefix="public"))
    given = TrainConfig(train_file=train, output_dir=tmp_path / "o", models_dir=tmp_path / "m", base_model="tiny",
                        replay_ratio=1.0, replay_file=own)
    assert len(load_training_examples(given)[0]) == 45  # all 5 of a smaller set
    with pytest.raises(TrainConfigError, match="replay_file"):
        TrainConfig(train_file=train, output_dir=tmp_path / "o", models_dir=tmp_path / "m", replay_ratio=1.0,
                    replay_file=tmp_path / "absent.jsonl")
