"""fit_item_targets: over-long whole-item targets become the longest closed prefix that fits the budget."""

from rxt5_assets import languages
from rxt5_assets.training.base_model import load_base_model
from rxt5_assets.training.data import Example
from rxt5_assets.training.fit import fit_item_targets


def _example(target: str, language: str = "rust", task: str = "implement") -> Example:
    return Example(input=f"{task} {language}: x", target=target, language=language, task=task,
                   quality_score=0.9, source_id="s")


def test_long_item_targets_become_closed_items_within_the_budget(tmp_path):
    _, tokenizer = load_base_model("demo", models_dir=tmp_path)
    fields = "\n".join(f"    pub field_number_{i}: Option<Vec<String>>," for i in range(40))
    long_struct = f"/// Many fields.\n#[derive(Debug)]\npub struct Wide {{\n{fields}\n}}"
    defs = "\n\n".join(f"  def step_{i}(state, value) do\n    Map.put(state, :step_{i}, value)\n  end" for i in range(30))
    long_module = f"defmodule Many.Steps do\n  @moduledoc false\n\n{defs}\nend"
    short = "pub fn one() -> u32 {\n    1\n}"
    one_huge_field = "pub struct One {\n    pub only: " + " ".join(["Vec<"] * 80) + "u8" + ">" * 80 + ",\n}"
    prose = _example("Returns the number of steps. " * 40, task="document")
    examples = [_example(long_struct), _example(long_module, "elixir"), _example(short), _example(one_huge_field),
                _example(long_struct, "elixir->rust", "translate"), prose]
    out, counts = fit_item_targets(examples, tokenizer, 128)

    assert counts == {"over_budget": 4, "fitted": 3, "kept_cut": 1}
    for i, kind, language in ((0, "struct", "rust"), (1, "module", "elixir"), (4, "struct", "rust")):
        fitted = out[i].target
        assert fitted != examples[i].target and len(tokenizer(text_target=fitted)["input_ids"]) <= 128
        assert languages.get(language).is_valid_item(fitted, kind)
        # the longest that fits: one more member would not
        longer = languages.get(language).closed_prefixes(examples[i].target)
        nxt = longer[longer.index(fitted) + 1]
        assert len(tokenizer(text_target=nxt)["input_ids"]) > 128
    assert out[0].target.startswith("/// Many fields.\n#[derive(Debug)]\npub struct Wide {")
    assert out[2] is examples[2] and out[3] is examples[3] and out[5] is examples[5]
    assert [e.input for e in out] == [e.input for e in examples]


def test_unfittable_item_targets_can_be_left_out(tmp_path):
    """The demo base's pretraining drops what cannot close within the budget, so every row it keeps is whole."""
    import pytest

    _, tokenizer = load_base_model("demo", models_dir=tmp_path)
    fields = "\n".join(f"    pub field_number_{i}: Option<Vec<String>>," for i in range(40))
    long_struct = f"pub struct Wide {{\n{fields}\n}}"
    one_huge_field = "pub struct One {\n    pub only: " + " ".join(["Vec<"] * 80) + "u8" + ">" * 80 + ",\n}"
    short = "pub fn one() -> u32 {\n    1\n}"
    examples = [_example(one_huge_field), _example(long_struct), _example(short)]
    out, counts = fit_item_targets(examples, tokenizer, 128, unfittable="drop")
    assert counts == {"over_budget": 2, "fitted": 1, "kept_cut": 0, "dropped": 1}
    assert len(out) == 2 and out[1] is examples[2]
    assert out[0].target.startswith("pub struct Wide {") and out[0].target != long_struct
    with pytest.raises(ValueError, match="unfittable"):
        fit_item_targets(examples, tokenizer, 128, unfittable="trim")
