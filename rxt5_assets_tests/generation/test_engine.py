"""GeneratorEngine on the shipped demo base, deployed through the real promotion code: results, scoring and gating,
every bad-input case as an error result, no model, the time limit, and that generated code is never executed."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from rxt5_assets import languages
from rxt5_assets.data.quality import quality_score
from rxt5_assets.generation.engine import ERROR_STATUS, GeneratorEngine, gate, score_candidates
from rxt5_assets.generation.params import DEFAULTS, DecodingParams, ParamsTable, infer_kind, model_input

pytestmark = pytest.mark.usefixtures("one_thread")

SMALL = {"num_candidates": 3, "max_new_tokens": 48}

VALID_RUST_FN = '''/// Parses a port number, rejecting zero.
pub fn parse_port(text: &str) -> Result<u16, String> {
    match text.trim().parse::<u16>() {
        Ok(0) => Err("port 0".to_string()),
        Ok(port) => Ok(port),
        Err(e) => Err(e.to_string()),
    }
}'''
VALID_RUST_STRUCT = "/// A port.\npub struct Port {\n    value: u16,\n}"
BROKEN_RUST = "pub fn parse_port(text: &str) -> Result<u16, String> {\n    match text.trim("


def test_a_generation_on_the_demo_base_is_scored_and_described(engine, demo):
    result = engine.code_generate("Create a GenServer for caching with TTL", "elixir", repo="my-repo",
                                  overrides=SMALL, seed=3)
    assert result.error is None and result.ok and result.http_status == 200
    assert result.model_version == demo.version and result.backend == "transformers-fp32"
    # the prompt is phrased as the training task it matches: "generate <lang> <kind>: <description>"
    assert result.kind == "module"
    assert result.model_input == "generate elixir module: Create a GenServer for caching with TTL"
    assert result.params["num_candidates"] == 3 and result.params["max_new_tokens"] == 48
    assert 1 <= len(result.candidates) <= 3 and sum(c.count for c in result.candidates) == 3
    # each candidate's scores are exactly the language module's validity and the data stage's quality score
    module = languages.get("elixir")
    for candidate in result.candidates:
        assert candidate.strict_valid == module.is_valid_item(candidate.code, "module")
        analysis = module.analyze(candidate.code)
        assert candidate.quality_score == pytest.approx(
            quality_score(candidate.code, analysis, module.quality_indicators(analysis))[0], abs=1e-4)
    keys = [(c.strict_valid, c.parses_as_item, c.quality_score) for c in result.candidates]
    assert keys == sorted(keys, reverse=True)  # best first
    best = result.candidates[0]
    assert (result.code, result.quality_score, result.strict_valid) == (best.code, best.quality_score,
                                                                        best.strict_valid)
    assert result.low_quality == bool(result.low_quality_reasons) == (
        not best.strict_valid or best.quality_score < result.params["low_quality_threshold"])
    assert {"generate_s", "score_s", "total_s"} <= set(result.timings)
    as_json = json.loads(json.dumps(result.as_dict()))
    assert as_json["ok"] is True and as_json["error"] is None and as_json["code"] == result.code
    assert as_json["candidates"][0]["code"] == best.code


def test_rust_and_the_implement_task_with_a_signature(engine):
    result = engine.code_generate("Returns the number of entries", "rust", quality="draft")
    assert result.ok and result.kind == "function" and len(result.candidates) == 1  # draft: one greedy candidate
    assert result.model_input == "generate rust function: Returns the number of entries"
    again = engine.code_generate("Returns the number of entries", "rust", quality="draft")
    assert again.code == result.code  # greedy is deterministic
    sig = engine.code_generate("Returns the number of entries.", "rust", quality="draft",
                               signature="pub fn len(&self) -> usize")
    assert sig.ok and sig.kind == "function"
    assert sig.model_input == "implement rust: Returns the number of entries.\npub fn len(&self) -> usize"
    # the item implements the signature it was given: every candidate starts with it (decoded from it)
    assert all(c.code.startswith("pub fn len(&self) -> usize") for c in sig.candidates)
    free = engine.code_generate("Returns the number of entries.", "rust", quality="draft",
                                signature="pub fn len(&self) -> usize", overrides={"signature_prefix": False})
    assert free.ok and free.model_input == sig.model_input and free.params["signature_prefix"] is False


def test_a_seed_makes_the_sampled_candidates_reproducible(engine):
    first, second = (engine.code_generate("Parses a duration like 5s", "rust", overrides=SMALL, seed=7)
                     for _ in range(2))
    assert first.ok and [c.code for c in first.candidates] == [c.code for c in second.candidates]


def test_candidates_rank_by_strict_validity_then_quality_and_the_gate_says_why():
    ranked = score_candidates([BROKEN_RUST, VALID_RUST_STRUCT, VALID_RUST_FN, VALID_RUST_FN, ""], "rust", "function")
    assert [c.code for c in ranked] == [VALID_RUST_FN, VALID_RUST_STRUCT, BROKEN_RUST, ""]
    fn, struct, broken, empty = ranked
    assert (fn.strict_valid, fn.parses_as_item, fn.count) == (True, True, 2)
    assert (struct.strict_valid, struct.parses_as_item) == (False, True)  # an item, but not the function asked for
    assert not broken.strict_valid and not broken.parses_as_item
    assert broken.quality_score < fn.quality_score  # the syntax-error penalty
    assert fn.breakdown["indicator_result_option"] == 1.0  # the data stage's explainable breakdown
    standard = DEFAULTS["rust"]["standard"]
    assert gate(fn, standard, "rust", "function") == []
    assert any("strict validity" in r for r in gate(struct, standard, "rust", "function"))
    assert any("below the threshold 1.01" in r for r in gate(fn, standard.with_overrides(
        {"low_quality_threshold": 1.01}), "rust", "function"))
    assert gate(None, standard, "rust", "function") == ["no candidate was generated"]


def test_below_the_threshold_is_flagged_and_production_refuses_with_the_best_candidate_attached(engine):
    impossible = {**SMALL, "low_quality_threshold": 1.01}  # no candidate can score above 1
    flagged = engine.code_generate("Returns the number of entries", "rust", overrides=impossible, seed=1)
    assert flagged.ok and flagged.low_quality
    assert any("below the threshold 1.01" in r for r in flagged.low_quality_reasons)
    refused = engine.code_generate("Returns the number of entries", "rust", quality="production",
                                   overrides=impossible, seed=1)
    assert refused.error.code == "quality_below_threshold" and refused.http_status == 422
    assert "below the threshold 1.01" in refused.error.message
    assert refused.code and refused.code == refused.candidates[0].code  # the best candidate is attached
    assert refused.params["reject_low_quality"] is True and DEFAULTS["elixir"]["production"].num_candidates == 8


@pytest.mark.parametrize("kwargs, code", [
    (dict(prompt="", language="rust"), "empty_prompt"),
    (dict(prompt="  \n\t", language="elixir"), "empty_prompt"),
    (dict(prompt="Create a cache", language="cobol"), "unknown_language"),
    (dict(prompt="Create a cache", language="rust", quality="ultra"), "unknown_quality"),
    (dict(prompt="Create a cache", language="rust", kind="genserver"), "unknown_kind"),
    (dict(prompt="Create a cache", language="rust", overrides={"num_candidates": 0}), "bad_parameter"),
    (dict(prompt="Create a cache", language="rust", overrides={"beam": 4}), "bad_parameter"),
    (dict(prompt="Create a cache", language="rust", use_rag=True), "repo_required"),
    (dict(prompt="Create a cache", language="rust", repo="no-such-repo", use_rag=True), "repo_has_no_chunks"),
    (dict(prompt="Create a cache", language="rust", time_limit_s=0), "time_limit"),
])
def test_each_bad_request_is_an_error_result_not_an_exception(engine, kwargs, code):
    result = engine.code_generate(**kwargs)
    assert not result.ok and result.error.code == code and result.error.message
    assert result.http_status == ERROR_STATUS[code] and result.code is None and result.candidates == []
    assert json.loads(json.dumps(result.as_dict()))["error"]["code"] == code


def test_rag_with_a_repo_that_has_other_languages_only(engine, demo):
    with demo.database.connect() as conn:
        conn.execute("insert into code_chunks (content, language, file_path, repo) values (%s, 'rust', 'src/a.rs', "
                     "'rust-only')", (VALID_RUST_FN,))
    result = engine.code_generate("Create a cache", "elixir", repo="rust-only", use_rag=True)
    assert result.error.code == "repo_has_no_chunks" and "none in elixir" in result.error.message


def test_no_deployed_model_is_an_error_result(tmp_path):
    engine = GeneratorEngine(tmp_path / "empty-home", backend="transformers")
    result = engine.code_generate("Create a cache", "rust")
    assert result.error.code == "no_model" and result.http_status == 503
    assert "rxt5 deploy" in result.error.message


def test_generated_code_is_never_executed(engine):
    """Scoring is parse-only: no process is spawned, nothing is exec'd, while a request runs (an audit hook sees
    every subprocess, exec, spawn and fork of this interpreter)."""
    engine.code_generate("Returns the number of entries", "rust", quality="draft")  # loaded, warm
    seen: list[str] = []
    watching = [True]

    def hook(event, args):
        if watching[0] and event in ("subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn",
                                     "os.fork", "os.forkpty", "exec", "compile"):
            seen.append(event)

    sys.addaudithook(hook)  # hooks cannot be removed: it switches itself off below
    try:
        for language in ("rust", "elixir"):
            result = engine.code_generate("Create a cache with a time to live", language, overrides=SMALL, seed=0)
            assert result.ok and result.candidates
        during_generation = list(seen)
        subprocess.run([sys.executable, "-c", "pass"], check=True)  # the hook does see a spawned process
    finally:
        watching[0] = False
    assert during_generation == []
    assert "subprocess.Popen" in seen


def test_parameters_per_language_and_level_with_a_config_file_and_the_constructor(tmp_path):
    assert DEFAULTS["elixir"]["standard"].max_new_tokens > DEFAULTS["rust"]["standard"].max_new_tokens
    assert DEFAULTS["rust"]["draft"].num_candidates == 1 and not DEFAULTS["rust"]["draft"].sample
    config = tmp_path / "generation.toml"
    config.write_text('["*".production]\nnum_candidates = 12\n[rust."*"]\ntemperature = 0.5\n'
                      '[rust.fast]\nnum_candidates = 2\n')
    table = ParamsTable({"rust": {"production": {"num_candidates": 5}}}, config)
    assert table.get("elixir", "production").num_candidates == 12  # file, every language
    assert table.get("rust", "production").num_candidates == 5  # the constructor wins over the file
    assert table.get("rust", "standard").temperature == 0.5 and table.get("elixir", "standard").temperature == 0.8
    assert "fast" in table.levels and table.get("rust", "fast").num_candidates == 2  # a level of the file's own
    with pytest.raises(ValueError, match="top_p"):
        DecodingParams(top_p=0)
    with pytest.raises(ValueError, match="unknown decoding parameter"):
        ParamsTable({"rust": {"standard": {"beams": 2}}}).get("rust", "standard")
    # the engine reads $RXT5_HOME/generation.toml
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "generation.toml").write_text(config.read_text())
    assert GeneratorEngine(tmp_path / "home").params.get("elixir", "production").num_candidates == 12


@pytest.mark.parametrize("language, prompt, kind", [
    ("elixir", "Create a GenServer for caching with TTL", "module"),
    ("elixir", "A private helper that trims the key", "defp"),
    ("elixir", "Returns the user with the given id", "def"),
    ("rust", "An enum of the connection states", "enum"),
    ("rust", "A struct holding a cache entry and its expiry", "struct"),
    ("rust", "Parses a duration like 5s", "function"),
    ("rust", "Implement Display for Money", "trait_impl"),
    ("rust", "Implements a cache for users", "function"),
])
def test_the_requested_kind_is_read_from_the_prompt(language, prompt, kind):
    assert infer_kind(language, prompt) == kind
    assert languages.get(language).is_valid_item("", kind) is False  # a kind the language module knows
    assert model_input(language, kind, f"  {prompt}\n") == f"generate {language} {kind}: {prompt}"


def test_models_load_from_several_threads_at_once(tmp_path):
    """The service's watcher may load a version while another thread of the process (a deploy-time conversion, a
    second engine) loads one too: without the process-wide lock every one of these concurrent loads failed
    ("Cannot copy out of meta tensor") or came back with weights reported missing."""
    import threading

    from rxt5_assets.training.base_model import demo_base_metadata, load_base_model
    from rxt5_assets.training.tiny import weights_fingerprint

    fingerprints, errors = [], []

    def load():
        try:
            model, _ = load_base_model("demo", models_dir=tmp_path)
            fingerprints.append(weights_fingerprint(model))
        except Exception as exc:  # collected: the assertion below names them
            errors.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=load) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and fingerprints == [demo_base_metadata()["fingerprint"]] * 3


def test_the_signature_an_implement_prompt_ends_with():
    from rxt5_assets.generation.params import implement_signature, model_input

    assert implement_signature(model_input("rust", None, "Adds two amounts.", "pub fn add(a: u64, b: u64) -> u64")) \
        == "pub fn add(a: u64, b: u64) -> u64"
    assert implement_signature("implement elixir: Raised when\nfunds are short.\ndefmodule Bank.Error") \
        == "defmodule Bank.Error"
    assert implement_signature("implement elixir: def fetch(cache, key)") == "def fetch(cache, key)"
    assert implement_signature("generate rust function: Adds two amounts.") is None  # no signature to start from
    # the last line of a multi-line signature is not a signature: nothing is forced
    assert implement_signature("implement rust: Builds it.\npub fn new(\n    cap: usize,\n) -> Self") is None
    assert implement_signature("implement rust: Builds it.\n    ) -> Vec<T>") is None


def test_the_docs_a_generate_prompt_starts_with():
    from rxt5_assets.generation.params import generate_doc_prefix, model_input, output_prefix

    assert generate_doc_prefix(model_input("rust", "struct", "A queue.\nBounded.")) == "/// A queue. Bounded.\n"
    assert generate_doc_prefix("generate rust enum: Colours.\nAll of them.") == "/// Colours.\n/// All of them.\n"
    assert generate_doc_prefix("generate elixir def: Starts a limiter.") == '@doc """\n  Starts a limiter.\n'
    assert generate_doc_prefix("generate elixir module: Raised when funds are short.") == "defmodule "
    assert generate_doc_prefix("generate elixir defp: Private.") is None  # defp takes no @doc
    assert generate_doc_prefix("generate cobol program: Pays.") is None  # no such language module
    assert generate_doc_prefix("implement rust: pub fn a()") is None
    assert output_prefix("implement rust: Adds.\npub fn add()") == "pub fn add()"
    assert output_prefix("implement rust: Adds.\npub fn add()", signature=False) is None
    assert output_prefix("generate rust struct: A.", docs=False) is None
