"""The evaluation runner: sampling, requested kinds, the template floor on the demo corpus's eval split, batched greedy
and best-of-k generation with a real model, per-language/per-task scores, compile timeouts, an empty eval set."""

from __future__ import annotations

import json
from collections import Counter
import pytest

from rxt5_assets.cli import main
from rxt5_assets.errors import EmptyEvaluationSetError
from rxt5_assets.evaluation.runner import (
    EvalRow, as_rows, best_of_k, evaluate_cross_language_performance, evaluate_language_performance,
    generate_candidates, load_eval_rows, requested_kind, sample_rows, score_group, score_system,
)
from rxt5_assets.evaluation.template import template_generation, template_generations
from rxt5_assets.languages import get as get_language
from rxt5_assets_tests.evaluation.helpers import needs_rustc
from rxt5_assets_tests.evaluation.trained import build_base, one_torch_thread, small_settings, write_data


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """The tiny base (no adapter) and the synthetic files it was built from."""
    from rxt5_assets.training.base_model import load_base_model

    folder = tmp_path_factory.mktemp("runner")
    train_file, eval_file, _ = write_data(folder / "data")
    with one_torch_thread():
        build_base(folder / "models", train_file)
        model, tokenizer = load_base_model("tiny", models_dir=folder / "models")
    return model, tokenizer, eval_file


@pytest.fixture(scope="module")
def demo_eval_rows(tmp_path_factory, admin_url) -> list[EvalRow]:
    """The eval split the data stage builds from the shipped demo corpus."""
    import uuid

    import psycopg

    from rxt5_assets.data.stages import PrepareConfig, StageFiles, dataset_stage, pairs_stage, preprocess_stage, \
        scoring_stage
    from rxt5_assets.db import Database
    from rxt5_assets.ingest import ingest_demo
    from rxt5_assets_tests.conftest import _with_database

    name = f"rxt5_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    try:
        database = Database(_with_database(admin_url, name))
        database.migrate()
        ingest_demo(database, progress=False)
        home = tmp_path_factory.mktemp("demo")
        files, config = StageFiles(home / "data"), PrepareConfig(workers=1)
        with database.connect() as conn:
            preprocess_stage(conn, files, config)
            scoring_stage(conn, files, config)
            pairs_stage(conn, files, config)
            report = dataset_stage(conn, files, home / "dataset", config)
        return load_eval_rows(report["eval_file"])
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'drop database if exists "{name}" with (force)')


def test_sample_is_stratified_seeded_and_keeps_every_stratum(demo_eval_rows):
    rows = demo_eval_rows
    strata = Counter((r.language, r.task) for r in rows)
    sample = sample_rows(rows, 60, seed=42)
    assert len(sample) == 60 and sample == sample_rows(rows, 60, seed=42)
    assert sample != sample_rows(rows, 60, seed=43)
    taken = Counter((r.language, r.task) for r in sample)
    assert set(taken) == set(strata)  # even the 2-row cross-language strata are represented
    for key, n in strata.items():  # proportional, within a row of the exact share
        assert abs(taken[key] - 60 * n / len(rows)) < 1.5, key
    positions = [rows.index(r) for r in sample]
    assert positions == sorted(positions)  # original order kept
    assert sample_rows(rows, None, seed=1) == rows and sample_rows(rows, 10_000, seed=1) == rows


def test_requested_kind_comes_from_the_reference(demo_eval_rows):
    by_task = {}
    for row in demo_eval_rows:
        by_task.setdefault(row.task, []).append(row)
    assert all(r.kind is None for r in by_task["document"])  # doc prose: text metrics only
    for task in ("implement", "generate", "translate", "concept_transfer", "test"):
        kinded = [r for r in by_task[task] if r.kind is not None]
        assert len(kinded) >= 0.9 * len(by_task[task]), task
        for row in kinded:  # the reference itself is a valid item of that kind, in the row's target language
            assert get_language(row.target_language).is_valid_item(row.target, row.kind)
    assert {r.kind for r in by_task["test"] if r.language == "rust"} == {"test_module"}
    assert requested_kind("{\n    self.id\n}", "rust", "implement") is None  # a bare body is not an item
    assert requested_kind("def f(x) do\n  x\nend", "rust->elixir", "translate") == "def"


def test_the_template_floor_is_a_whole_item_of_the_requested_kind_copied_from_the_prompt(demo_eval_rows):
    rows = demo_eval_rows
    outputs = template_generations(rows)
    valid = Counter()
    for row, output in zip(rows, outputs):
        assert output
        # it copies the prompt, never the reference: only a reference that is nothing but its signature comes out
        assert output != row.target or "\n" not in row.target.strip(), row.target
        if row.kind is not None:
            valid[row.task, get_language(row.target_language).is_valid_item(output, row.kind)] += 1
    for task in ("generate", "translate", "test"):
        assert valid[task, False] == 0, task
    assert valid["implement", True] >= 0.8 * (valid["implement", True] + valid["implement", False])
    implement = next(r for r in rows if r.task == "implement" and r.language == "rust" and r.kind == "function")
    signature = implement.input.strip().split("\n")[-1]
    assert template_generation(implement.input, "implement", "rust") == signature + " {\n    todo!()\n}"
    assert template_generation("implement elixir: Adds.\ndef add(a, b)", "implement", "elixir") == \
        "def add(a, b) do\n  :ok\nend"
    documented = next(r for r in rows if r.task == "document" and r.language == "rust")
    assert template_generation(documented.input, "document", "rust") == \
        get_language("rust").analyze(documented.input.split(": ", 1)[1]).signature.strip()


def test_best_of_k_keeps_the_first_strict_valid_sample():
    row = EvalRow(input="implement rust: x", target="pub fn x() -> u8 {\n    1\n}", language="rust",
                  task="implement", kind="function")
    untyped = EvalRow(input="document rust: fn x() {}", target="Does x.", language="rust", task="document")
    samples = [["fn x( {", "pub struct X;", "fn x() -> u8 { 2 }", "fn y() {}"], ["no", "thing"]]
    picks, valid = best_of_k([row, untyped], samples)
    assert picks == ["fn x() -> u8 { 2 }", "no"] and valid == [True, None]
    picks, valid = best_of_k([row], [["fn x( {", "pub struct X;"]])
    assert picks == ["fn x( {"] and valid == [False]  # none valid: the first sample


def test_batched_generation_matches_one_by_one_and_gives_k_samples(base):
    model, tokenizer, eval_file = base
    rows = load_eval_rows(eval_file)[:7]
    settings = small_settings(k=3, max_new_tokens=24, batch_size=3)
    with one_torch_thread():
        batched = generate_candidates(model, tokenizer, [r.input for r in rows], settings)
        single = generate_candidates(model, tokenizer, [r.input for r in rows], small_settings(
            k=3, max_new_tokens=24, batch_size=1))
        again = generate_candidates(model, tokenizer, [r.input for r in rows], settings)
    assert batched.greedy == single.greedy  # length-sorted batches are put back in the rows' order
    assert [len(s) for s in batched.samples] == [3] * len(rows)
    assert again.samples == batched.samples  # seeded sampling: the same settings give the same candidates


def test_implement_rows_decode_from_their_signature(base, demo_eval_rows):
    from rxt5_assets.generation.params import implement_signature

    model, tokenizer, _ = base
    rows = [r for r in demo_eval_rows if implement_signature(r.input)][:5]
    assert len(rows) == 5
    with one_torch_thread():
        on = generate_candidates(model, tokenizer, [r.input for r in rows], small_settings(k=2, max_new_tokens=24))
        off = generate_candidates(model, tokenizer, [r.input for r in rows],
                                  small_settings(k=2, max_new_tokens=24, signature_prefix=False))
    for row, greedy, samples in zip(rows, on.greedy, on.samples):
        signature = implement_signature(row.input)
        assert greedy.startswith(signature) and all(s.startswith(signature) for s in samples)
    assert small_settings().digest() != small_settings(signature_prefix=False).digest()  # cached results keyed apart
    assert len(off.greedy) == len(rows)


def test_generate_rows_decode_from_their_docs(base, demo_eval_rows):
    """A generate row's target is the item's source, docs first: the doc prefix is how every demo target starts, and
    with doc_prefix on, every greedy and sampled output starts with it too."""
    from rxt5_assets.generation.params import generate_doc_prefix

    rows = [r for r in demo_eval_rows if r.task == "generate"]
    prefixed = [(r, generate_doc_prefix(r.input)) for r in rows]
    assert {r.language for r, p in prefixed if p} == {"rust", "elixir"}
    assert all(r.target.startswith(p) for r, p in prefixed if p)  # the rule is the data format's
    model, tokenizer, _ = base
    picked = [(r, p) for r, p in prefixed if p][:4]
    with one_torch_thread():
        on = generate_candidates(model, tokenizer, [r.input for r, _ in picked],
                                 small_settings(k=2, max_new_tokens=40, doc_prefix=True))
    for (row, prefix), greedy, samples in zip(picked, on.greedy, on.samples):
        assert greedy.startswith(prefix.rstrip()) and all(s.startswith(prefix.rstrip()) for s in samples)
    assert small_settings().digest() != small_settings(doc_prefix=True).digest()


def test_the_evaluation_decodes_on_ctranslate2_as_on_transformers(base, demo_eval_rows, tmp_path):
    """The gate's generations on CTranslate2 fp32 (a converted copy under work_dir, removed afterwards): greedy is
    transformers' own output row for row, prefixes included; best-of-k gives k candidates per row, seeded."""
    pytest.importorskip("ctranslate2")
    from rxt5_assets.evaluation.runner import ctranslate2_folder, evaluate_model

    model, tokenizer, _ = base
    rows = [r for r in demo_eval_rows if r.task in ("implement", "generate")][:6]
    settings = small_settings(k=3, max_new_tokens=32, doc_prefix=True)
    with one_torch_thread():
        reference = evaluate_model(model, tokenizer, rows, small_settings(k=3, max_new_tokens=32, doc_prefix=True,
                                                                          backend="transformers"), work_dir=tmp_path)
        fast = evaluate_model(model, tokenizer, rows, settings, work_dir=tmp_path)
        again = evaluate_model(model, tokenizer, rows, settings, work_dir=tmp_path)
    assert fast.greedy == reference.greedy
    assert fast.best == again.best  # seeded sampling
    assert list(tmp_path.iterdir()) == []  # the converted copy is gone
    with ctranslate2_folder(model, tokenizer, small_settings(backend="transformers"), tmp_path) as folder:
        assert folder is None
    with pytest.raises(ValueError, match="backend must be one of"):
        small_settings(backend="onnx")


def test_scores_per_language_and_task_and_the_seed_entry_points(base):
    model, tokenizer, eval_file = base
    rows = load_eval_rows(eval_file)
    settings = small_settings(k=2, max_new_tokens=24)
    with one_torch_thread():
        rust = evaluate_language_performance(model, tokenizer, rows, "rust", settings)
        cross = evaluate_cross_language_performance(model, tokenizer, rows, settings)
    assert rust["rows"] == sum(r.language == "rust" for r in rows)
    assert set(rust["by_task"]) == {"implement"}
    for key in ("chrf@greedy", "chrf@best_of_k", "code_bleu@best_of_k", "bleu@greedy"):
        assert key in rust and 0 <= rust[key] <= 100
    assert set(cross["by_direction"]) == {"rust->elixir"} and cross["all"]["kinded_rows"] > 0
    assert 0 <= cross["all"]["strict_validity@best_of_k"] <= 1
    with pytest.raises(EmptyEvaluationSetError):
        evaluate_language_performance(model, tokenizer, rows, "cobol", settings)
    with pytest.raises(EmptyEvaluationSetError):
        evaluate_cross_language_performance(model, tokenizer, [r for r in rows if "->" not in r.language],
                                            settings)

    # scoring the references themselves: the text and code metrics saturate, so scoring is aligned row by row
    doc = EvalRow("document rust: pub fn a() {}", "Adds two numbers.", "rust", "document")
    perfect = score_system([*rows[:6], doc], [r.target for r in [*rows[:6], doc]],
                           [r.target for r in [*rows[:6], doc]], settings)
    assert perfect["by_language"]["all"]["chrf@greedy"] == pytest.approx(100.0)
    assert set(perfect["by_task"]["rust"]["document"]) == {"bleu@greedy", "bleu@best_of_k", "chrf@greedy",
                                                           "chrf@best_of_k", "rouge_l@greedy", "rouge_l@best_of_k",
                                                           "rows", "kinded_rows"}  # doc prose: text metrics only


@needs_rustc
def test_a_compile_check_that_times_out_fails_that_sample_not_the_run():
    from .test_toolchain import RUST_SLOW

    rows = [EvalRow("implement rust: one", "pub fn one() -> u8 {\n    1\n}", "rust", "implement", kind="function"),
            EvalRow("implement rust: two", "pub fn two() -> u8 {\n    2\n}", "rust", "implement", kind="function"),
            EvalRow("implement rust: x", "pub const X: u64 = 0;", "rust", "implement", kind="const")]
    predictions = ["pub fn one() -> u8 {\n    1\n}", "pub fn two() -> u8 { \"two\" }", RUST_SLOW]
    # a never-ending const evaluation against a 3 s limit (a limit far below rustc's own start-up would make the
    # result depend on how fast a loaded machine schedules the parent: a compile can finish before it is waited on)
    scores, missing = score_group(predictions, rows, ["compile_success", "strict_validity"],
                                  small_settings(compile_timeout_s=3.0))
    # the first compiles, the type error does not, the slow one times out: a failed sample, not a failed run
    assert scores["compile_success"] == pytest.approx(1 / 3) and "compile_success" not in missing
    assert scores["strict_validity"] == 1.0


def test_an_empty_eval_set_is_a_clear_error(tmp_path, database, capsys, monkeypatch):
    empty = tmp_path / "eval.jsonl"
    empty.write_text("\n")
    with pytest.raises(EmptyEvaluationSetError, match="evaluation split is empty"):
        load_eval_rows(empty)
    monkeypatch.setenv("RXT5_DATABASE_URL", database.url)
    assert main(["--home", str(tmp_path), "evaluate", "--eval-file", str(empty)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("rxt5: ") and "evaluation split is empty" in err and "Traceback" not in err
    with database.connect() as conn:
        assert conn.execute("select count(*) from t5_evaluations").fetchone()[0] == 0
    assert as_rows([json.loads('{"input": "a", "target": "b", "language": "rust", "task": "document"}')])[0].kind \
        is None
