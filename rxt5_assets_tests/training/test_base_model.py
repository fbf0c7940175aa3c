from __future__ import annotations

import json

import pytest

from rxt5_assets.training.base_model import BaseModelNotFoundError, hf_cache_dir, load_base_model
from rxt5_assets.training.tiny import ensure_tiny_base, is_complete_base, read_tiny_metadata, tiny_base_dir
from rxt5_assets.training.tokenizer import SPECIAL_TOKENS, train_bpe_tokenizer

from .conftest import tiny_test_spec


def test_tokenizer_has_codet5_specials_and_round_trips():
    texts = ["pub fn add(a: i32, b: i32) -> i32 {\n    a + b\n}", "def add(a, b), do: a + b"] * 30
    tok = train_bpe_tokenizer(texts, vocab_size=500)
    assert [tok.convert_tokens_to_ids(s) for s in SPECIAL_TOKENS] == [0, 1, 2, 3, 4]
    assert (tok.pad_token_id, tok.bos_token_id, tok.eos_token_id) == (0, 1, 2)
    src = "fn  caf\u00e9(x: &str)\n\t-> Option<()> { None }  // \u2713"
    ids = tok(src)["input_ids"]
    assert ids[0] == 1 and ids[-1] == 2
    assert tok.decode(ids, skip_special_tokens=True) == src  # byte-level: exact round trip, no <unk>
    assert 3 not in ids


def test_tiny_base_is_saved_with_tokenizer_and_cached(models_dir, train_file):
    path = tiny_base_dir(models_dir)
    assert is_complete_base(path)
    meta = read_tiny_metadata(path)
    assert meta["steps"] > 0 and meta["final_loss"] < meta["first_loss"]
    stamp = (path / "model.safetensors").stat().st_mtime_ns
    again = ensure_tiny_base(models_dir, train_file, max_seconds=None, max_steps=5)
    assert again == path and (path / "model.safetensors").stat().st_mtime_ns == stamp  # reused, not rebuilt

    model, tok = load_base_model("tiny", models_dir=models_dir)
    assert model.config.decoder_start_token_id == 0 and model.config.pad_token_id == 0
    assert model.config.eos_token_id == 2
    assert model.config.vocab_size == len(tok)
    assert model.config.d_model == meta["spec"]["d_model"]


def test_tiny_base_build_is_deterministic_with_a_step_budget(tmp_path, train_file):
    from rxt5_assets.training.tiny import build_tiny_base

    a = build_tiny_base(train_file, tmp_path / "a", max_seconds=None, max_steps=3, seed=11, spec=tiny_test_spec())
    b = build_tiny_base(train_file, tmp_path / "b", max_seconds=None, max_steps=3, seed=11, spec=tiny_test_spec())
    assert read_tiny_metadata(a)["fingerprint"] == read_tiny_metadata(b)["fingerprint"]
    assert not list(tmp_path.glob(".*tmp*"))  # no half-built folder left behind


def test_continued_pretraining_records_its_curriculum(tmp_path, models_dir, train_file):
    """`init_from` + language weights + fitted item targets: the new phase says what it trained on."""
    from rxt5_assets.training.data import read_jsonl
    from rxt5_assets.training.tiny import build_tiny_base

    first = tiny_base_dir(models_dir)
    out = build_tiny_base(train_file, tmp_path / "next", max_seconds=None, max_steps=2, seed=3, spec=tiny_test_spec(),
                          init_from=first, fit_item_targets="drop", language_weights={"elixir": 2.0})
    meta, before = read_tiny_metadata(out), read_tiny_metadata(first)
    phase = meta["phases"][-1]
    read = read_jsonl(train_file)
    elixir = sum(e.language == "elixir" for e in read)
    assert elixir and phase["per_language"]["elixir"] == 2 * elixir  # a whole weight: exactly two copies each
    assert phase["language_weights"] == {"elixir": 2.0}
    fitted = phase["fitted_item_targets"]
    assert fitted["kept_cut"] == 0 and fitted["over_budget"] == fitted["fitted"] + fitted["dropped"]
    assert phase["examples"] == sum(phase["per_language"].values()) - fitted["dropped"]
    assert meta["steps"] == before["steps"] + 2 and len(meta["phases"]) == len(before.get("phases") or [1]) + 1
    assert meta["fingerprint"] != before["fingerprint"]


def test_missing_tiny_base_says_how_to_build_it(tmp_path):
    with pytest.raises(BaseModelNotFoundError) as err:
        load_base_model("tiny", models_dir=tmp_path / "empty")
    msg = str(err.value)
    assert str(tmp_path / "empty" / "tiny") in msg
    assert "ensure_tiny_base" in msg and "rxt5 train --base-model tiny" in msg


def test_missing_hub_model_names_id_and_cache(tmp_path, monkeypatch):
    model_id = "rxt5-test-org/definitely-not-cached-codet5p"
    with pytest.raises(BaseModelNotFoundError) as err:
        load_base_model(model_id, models_dir=tmp_path)
    msg = str(err.value)
    assert model_id in msg
    assert hf_cache_dir() in msg
    assert "huggingface-cli download" in msg and "allow_download" in msg


def test_missing_local_folder_and_folder_without_config(tmp_path):
    with pytest.raises(BaseModelNotFoundError, match="does not exist"):
        load_base_model(str(tmp_path / "nowhere" / "model"), models_dir=tmp_path)
    (tmp_path / "empty_model").mkdir()
    with pytest.raises(BaseModelNotFoundError, match="no config.json"):
        load_base_model(str(tmp_path / "empty_model"), models_dir=tmp_path)


def test_local_folder_loads(models_dir):
    model, tok = load_base_model(str(tiny_base_dir(models_dir)), models_dir="/nonexistent")
    assert json.loads((tiny_base_dir(models_dir) / "config.json").read_text())["d_model"] == model.config.d_model
    assert tok.pad_token_id == 0
