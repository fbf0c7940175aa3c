"""Self-training on valid samples: only the org's item prompts are sampled, only valid items of the requested kind
are kept, the closest to the reference wins."""

from pathlib import Path

from rxt5_assets.training.base_model import load_base_model, resolve_base_path
from rxt5_assets.training.data import Example
from rxt5_assets.training.self_training import (item_prompts, read_rows, sampling_params, select_valid,
                                                self_training_examples, write_rows)
from rxt5_assets.training.tiny import weights_fingerprint

STRUCT = "pub struct BreakerConfig {\n    pub failure_threshold: u32,\n}"


def _example(task="implement", language="rust", target=STRUCT, **extra) -> Example:
    return Example(input=f"{task} {language}: pub struct BreakerConfig", target=target, language=language, task=task,
                   quality_score=0.8, source_id="s1", extra=extra)


def test_only_the_orgs_whole_item_prompts_are_sampled():
    rows = [_example(), _example(task="document", target="Thresholds."), _example(replay=True),
            _example(language="rust->elixir", task="translate"), _example(target="failure_threshold + 1")]
    picked = item_prompts(rows)
    assert [(e.task, e.language, kind) for e, kind in picked] == [("implement", "rust", "struct")]


def test_the_valid_candidate_closest_to_the_reference_is_kept(tmp_path):
    (row, kind), = item_prompts([_example()])
    candidates = ["pub struct Other {\n    pub x: u8,\n}",  # valid, far from the reference
                  "pub struct BreakerConfig {\n    pub failure_threshold: u32,\n",  # closest, but never closed
                  "pub struct BreakerConfig {\n    pub failure: u32,\n}",  # valid and close: kept
                  "pub enum BreakerConfig { A }"]  # valid Rust, another kind
    chosen, = select_valid([(row, kind)], [candidates])
    assert chosen.target == candidates[2] and chosen.input == row.input and chosen.extra["self_training"]
    assert select_valid([(row, kind)], [[candidates[1], candidates[3]]]) == []
    write_rows(tmp_path / "st.jsonl", [chosen], {"rows": 1})
    back, stats = read_rows(tmp_path / "st.jsonl")
    assert [e.target for e in back] == [chosen.target] and stats == {"rows": 1}


def test_the_demo_base_writes_valid_items_for_some_prompts(tmp_path):
    model, tokenizer = load_base_model("demo", models_dir=tmp_path)
    prompts = [Example(input=f"generate rust struct: {doc}", target=f"/// {doc}\npub struct {name} {{\n    pub "
                             f"value: u32,\n}}", language="rust", task="generate", quality_score=0.8, source_id=name)
               for doc, name in [("A point on a line.", "Point"), ("How many retries are left.", "Retries"),
                                 ("The size of a page in bytes.", "PageSize"), ("A user's account.", "Account")]]
    rows, stats = self_training_examples(
        prompts, model=model, tokenizer=tokenizer, base_path=Path(resolve_base_path("demo", models_dir=tmp_path)),
        fingerprint=weights_fingerprint(model), models_dir=tmp_path, params=sampling_params(8, max_new_tokens=128, seed=1),
        max_source_length=320)
    assert stats["prompts"] == 4 and stats["rows"] == len(rows) >= 1  # the base's best-of-8 Rust is ~70 % valid
    assert stats["backend"] == "ctranslate2-fp32" and (tmp_path / "ct2-bases").is_dir()
    from rxt5_assets import languages

    assert all(languages.get("rust").is_valid_item(r.target, "struct") for r in rows)
