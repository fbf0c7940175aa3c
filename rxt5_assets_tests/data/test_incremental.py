"""The data stage at scale, on the real database: the analysis cache, streaming, deletion, and run isolation."""

from __future__ import annotations

import importlib
import json
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from rxt5_assets import languages
from rxt5_assets.data.analysis_cache import analyser_version
from rxt5_assets.data.quality import QualityWeights
from rxt5_assets.data.stages import PrepareConfig, StageFiles, run_data_stage
from rxt5_assets.db import Database
from rxt5_assets.db.sessions import SessionStateError, create_session, update_session
from rxt5_assets.ingest import ingest_demo

NEW_RUST = '''\
/// Sums the amounts of every open invoice of a customer.
///
/// Returns an error when an invoice has no amount.
pub fn open_invoice_total(invoices: &[Invoice]) -> Result<u64, BillingError> {
    let mut total = 0;
    for invoice in invoices.iter().filter(|i| i.is_open()) {
        total += invoice.amount.ok_or(BillingError::MissingAmount)?;
    }
    Ok(total)
}
'''

NEW_ELIXIR = '''\
@doc """
Sums the amounts of every open invoice of a customer.
"""
@spec open_invoice_total([map()]) :: {:ok, non_neg_integer()} | {:error, atom()}
def open_invoice_total(invoices) when is_list(invoices) do
  invoices
  |> Enum.filter(&(&1.status == :open))
  |> Enum.reduce_while({:ok, 0}, fn
    %{amount: nil}, _ -> {:halt, {:error, :missing_amount}}
    %{amount: amount}, {:ok, total} -> {:cont, {:ok, total + amount}}
  end)
end
'''


@pytest.fixture
def demo(database: Database) -> Database:
    ingest_demo(database, progress=False)
    return database


def build(database: Database, folder: Path, previous: Path | None = None, **options) -> tuple[bytes, bytes, dict]:
    """One data-stage run: (train.jsonl bytes, eval.jsonl bytes, manifest with the analysed/cached counts), carrying
    the folder of the run `previous` (a folder build was given) when there is one."""
    config = PrepareConfig(workers=1, **options)
    with database.connect() as conn:
        manifest = run_data_stage(conn, StageFiles(folder / "work"), folder / "dataset", config,
                                  previous=StageFiles(previous / "work") if previous is not None else None)
    funnel = json.loads((folder / "work" / "funnel.json").read_text())
    return (Path(manifest["train_file"]).read_bytes(), Path(manifest["eval_file"]).read_bytes(),
            {**manifest, "funnel": funnel})


def forget_analyses(database: Database) -> None:
    with database.connect() as conn:
        conn.execute("truncate chunk_analyses")


def test_incremental_equals_full_byte_for_byte(demo: Database, tmp_path: Path):
    first = build(demo, tmp_path / "first")
    assert first[2]["cached"] == 0 and first[2]["analysed"] > 0
    with demo.connect() as conn:
        conn.execute("insert into code_chunks (content, language, file_path, repo) values (%s, 'rust', %s, 'late'), "
                     "(%s, 'elixir', %s, 'late')", (NEW_RUST, "src/billing.rs", NEW_ELIXIR, "lib/billing.ex"))
    incremental = build(demo, tmp_path / "incremental", previous=tmp_path / "first")
    assert incremental[2]["analysed"] == 2  # only the new chunks are parsed
    assert incremental[2]["cached"] == first[2]["analysed"]
    assert incremental[2]["fetched"] == 2  # and only they are read from the database with their content
    assert incremental[2]["carried"] >= first[2]["funnel"]["preprocess"]["kept"]  # the rest: the first run's parts
    assert incremental[2]["parts_carried"] == first[2]["parts"]  # hard-linked, not read or written
    forget_analyses(demo)
    full = build(demo, tmp_path / "full")
    assert full[2]["cached"] == 0
    assert incremental[:2] == full[:2]  # train.jsonl and eval.jsonl, byte for byte
    assert incremental[2]["funnel"] == full[2]["funnel"]  # every dropped row counted the same
    assert b"open_invoice_total" in incremental[0] + incremental[1]
    uncached = build(demo, tmp_path / "uncached", analysis_cache=False)
    assert uncached[:2] == full[:2]


def session_rows(database: Database, session_id: str) -> list[tuple]:
    with database.connect() as conn:
        return conn.execute("select code_chunk_id, language, task, input, target, quality_score, quality_breakdown, "
                            "split, repo, file_path from t5_training_examples where training_session_id = %s "
                            "order by id", (session_id,)).fetchall()


def test_a_retrain_takes_the_unchanged_parts_examples_and_stores_the_same_session(demo: Database, tmp_path: Path):
    """New chunks land after the last part: the first parts' dedup decisions, example files and stored contents are
    the previous run's (linked, not built or stored again), and the session holds what a full run's holds."""
    first = build(demo, tmp_path / "first", batch_size=150)
    with demo.connect() as conn:
        conn.execute("insert into code_chunks (content, language, file_path, repo) values (%s, 'rust', %s, 'late'), "
                     "(%s, 'elixir', %s, 'late')", (NEW_RUST, "src/billing.rs", NEW_ELIXIR, "lib/billing.ex"))
    retrain = build(demo, tmp_path / "retrain", previous=tmp_path / "first", batch_size=150)
    assert retrain[2]["example_parts_carried"] == first[2]["parts"] > 2  # every part of the first run
    assert retrain[2]["pair_examples_carried"] > 0  # the pairs whose chunks did not change: their rows and ids
    examples = tmp_path / "retrain" / "work" / "examples"
    assert (examples / "part-00000.parquet").stat().st_nlink == 2  # the first run's file, hard-linked
    forget_analyses(demo)
    full = build(demo, tmp_path / "full", batch_size=150)
    assert full[2]["example_parts_carried"] == 0
    assert retrain[:2] == full[:2] and retrain[2]["funnel"] == full[2]["funnel"]
    assert session_rows(demo, retrain[2]["session_id"]) == session_rows(demo, full[2]["session_id"])
    # the previous run's session gone (and with it the promise that its contents stay): nothing is linked, the
    # examples are built and stored again, the same
    with demo.connect() as conn:
        conn.execute("delete from t5_training_sessions where id = %s", (retrain[2]["session_id"],))
    again = build(demo, tmp_path / "again", previous=tmp_path / "retrain", batch_size=150)
    assert again[2]["example_parts_carried"] == again[2]["pair_examples_carried"] == 0 and again[:2] == full[:2]
    assert session_rows(demo, again[2]["session_id"]) == session_rows(demo, full[2]["session_id"])


def test_contents_pruned_since_the_previous_run_are_stored_again_not_linked(demo: Database, tmp_path: Path):
    """A user removes an example from the previous session (the view's delete) and runs the README's prune: the
    previous run's content ids no longer all exist, so the retrain stores its examples again (as a full run does)
    and links no id without a content row."""
    first = build(demo, tmp_path / "first", batch_size=150)
    victim = int(np.load(tmp_path / "first" / "work" / "examples" / "part-00000.ids.npy")[0])
    with demo.connect() as conn:
        assert conn.execute("delete from t5_training_examples where training_session_id = %s and example_id = %s",
                            (first[2]["session_id"], victim)).rowcount == 1
        assert conn.execute("delete from t5_example_contents c where not exists (select 1 from t5_session_examples l "
                            "where l.example_id = c.id)").rowcount == 1
        conn.execute("insert into code_chunks (content, language, file_path, repo) values (%s, 'rust', %s, 'late'), "
                     "(%s, 'elixir', %s, 'late')", (NEW_RUST, "src/billing.rs", NEW_ELIXIR, "lib/billing.ex"))
    retrain = build(demo, tmp_path / "retrain", previous=tmp_path / "first", batch_size=150)
    assert retrain[2]["example_parts_carried"] == retrain[2]["pair_examples_carried"] == 0
    full = build(demo, tmp_path / "full", batch_size=150)
    with demo.connect() as conn:
        dangling = conn.execute("select count(*) from t5_session_examples l where training_session_id = %s and not "
                                "exists (select 1 from t5_example_contents c where c.id = l.example_id)",
                                (retrain[2]["session_id"],)).fetchone()[0]
    assert dangling == 0 and retrain[:2] == full[:2]
    assert session_rows(demo, retrain[2]["session_id"]) == session_rows(demo, full[2]["session_id"])
    # the retrain read the epoch after the prune: the next one carries again
    with demo.connect() as conn:
        conn.execute("insert into code_chunks (content, language, file_path, repo) values (%s, 'rust', %s, 'later')",
                     (NEW_RUST, "src/billing.rs"))
    again = build(demo, tmp_path / "again", previous=tmp_path / "retrain", batch_size=150)
    assert again[2]["example_parts_carried"] > 0 and again[2]["pair_examples_carried"] > 0


def test_analysis_cache_off_carries_nothing_from_the_previous_run(demo: Database, tmp_path: Path):
    build(demo, tmp_path / "first", batch_size=150)
    off = build(demo, tmp_path / "off", previous=tmp_path / "first", batch_size=150, analysis_cache=False)
    assert off[2]["example_parts_carried"] == off[2]["pair_examples_carried"] == off[2]["parts_carried"] == 0


def test_a_small_batch_size_gives_the_same_dataset_as_one_batch(demo: Database, tmp_path: Path):
    one_batch = build(demo, tmp_path / "one", batch_size=1_000_000)
    small = build(demo, tmp_path / "small", batch_size=7)
    assert small[:2] == one_batch[:2]
    assert small[2]["funnel"] == one_batch[2]["funnel"]
    assert len(list((tmp_path / "small" / "work" / "preprocessed_chunks").glob("part-*.parquet"))) > 10
    # a run carrying the small parts keeps their ranges (every part hard-linked), whatever its own batch size
    carried = build(demo, tmp_path / "carried", previous=tmp_path / "small", batch_size=1_000_000)
    assert carried[2]["parts_carried"] == carried[2]["parts"] > 10 and carried[2]["parts_scored"] == 0
    assert carried[:2] == one_batch[:2] and carried[2]["funnel"] == one_batch[2]["funnel"]


def test_rows_deleted_from_code_chunks_disappear_from_the_next_dataset(demo: Database, tmp_path: Path):
    before = build(demo, tmp_path / "before", batch_size=200)  # several parts: one of them changes
    train = [json.loads(line) for line in before[0].decode().splitlines()]
    victim = next(row for row in train if row["task"] == "implement" and row["language"] == "rust")
    with demo.connect() as conn:
        conn.execute("delete from code_chunks where repo = %s and file_path = %s", (victim["repo"], victim["file_path"]))
    after = build(demo, tmp_path / "after", previous=tmp_path / "before", batch_size=200)
    assert after[2]["analysed"] == 0 and after[2]["fetched"] == 0  # nothing new to parse or to read
    assert 0 < after[2]["parts_carried"] < after[2]["parts"]  # the part that held the file is written again
    rows = [json.loads(line) for part in after[:2] for line in part.decode().splitlines()]
    assert not any(r["repo"] == victim["repo"] and r["file_path"] == victim["file_path"] for r in rows)
    assert not any(victim["source_id"] in r["source_id"].split(":") for r in rows)
    forget_analyses(demo)
    assert build(demo, tmp_path / "rebuilt")[:2] == after[:2]


def test_a_duplicate_whose_first_row_is_deleted_takes_its_place(demo: Database, tmp_path: Path):
    """Deduplication is decided again over the whole table: the next row of a content hash becomes the kept one."""
    first = build(demo, tmp_path / "first")
    train = [json.loads(line) for line in first[0].decode().splitlines()]
    original = int(next(row for row in train if row["task"] == "implement" and row["language"] == "rust")["source_id"])
    with demo.connect() as conn:
        conn.execute("insert into code_chunks (content, language, file_path, repo) select content, language, "
                     "file_path, 'copy' from code_chunks where id = %s", (original,))
    second = build(demo, tmp_path / "second", previous=tmp_path / "first")
    assert second[2]["fetched"] == 1 and second[:2] == first[:2]  # the copy is a duplicate: nothing changes
    with demo.connect() as conn:
        conn.execute("delete from code_chunks where id = %s", (original,))
    third = build(demo, tmp_path / "third", previous=tmp_path / "second")
    assert third[2]["fetched"] == 1 and third[2]["analysed"] == 0  # read again, its analysis from the cache
    assert b'"repo":"copy"' in third[0] + third[1]
    forget_analyses(demo)
    full = build(demo, tmp_path / "full")
    assert third[:2] == full[:2] and third[2]["funnel"] == full[2]["funnel"]


def test_a_changed_scoring_configuration_scores_every_part_again(demo: Database, tmp_path: Path):
    build(demo, tmp_path / "first")
    same = build(demo, tmp_path / "same", previous=tmp_path / "first")
    assert same[2]["parts_scored"] == 0 and same[2]["parts_from_cache"] == same[2]["parts"]
    weights = QualityWeights(baseline=0.45)
    changed = build(demo, tmp_path / "changed", previous=tmp_path / "same", quality_weights=weights,
                    quality_threshold=0.72)
    assert changed[2]["parts_carried"] == changed[2]["parts"]  # preprocessing does not depend on scoring
    assert changed[2]["parts_scored"] == changed[2]["parts"] and changed[2]["parts_from_cache"] == 0
    assert build(demo, tmp_path / "full", quality_weights=weights, quality_threshold=0.72)[:2] == changed[:2]
    assert changed[:2] != same[:2]


PROBE = '''\
from rxt5_assets.languages.rust import RustLanguage


class ProbeRust(RustLanguage):
    """Rust, from a module this test edits."""
'''


def analyser_version_of(module) -> str:
    languages.register(module)
    return analyser_version(module.name)


def test_a_changed_language_module_invalidates_its_analyses(demo: Database, tmp_path: Path, monkeypatch):
    build(demo, tmp_path / "warm")  # every chunk analysed and stored
    probe = tmp_path / "probe_language.py"
    probe.write_text(PROBE)
    monkeypatch.syspath_prepend(str(tmp_path))
    original_rust, elixir_version = languages.get("rust"), analyser_version("elixir")
    try:
        module = importlib.import_module("probe_language")
        languages.register(module.ProbeRust())
        probe_version = analyser_version("rust")
        assert probe_version != analyser_version_of(original_rust)
        languages.register(module.ProbeRust())
        first = build(demo, tmp_path / "probe-1")  # a new module: its rust analyses are new
        assert first[2]["analysed"] > 0
        again = build(demo, tmp_path / "probe-2", previous=tmp_path / "probe-1")
        assert again[2]["analysed"] == 0  # unchanged module: everything from the cache
        assert again[2]["parts_carried"] == again[2]["parts"]
        probe.write_text(PROBE + "\n    # a change to the module, however small\n")
        module = importlib.reload(module)
        languages.register(module.ProbeRust())
        assert analyser_version("rust") != probe_version
        assert analyser_version("elixir") == elixir_version  # another language's analyses stay valid
        changed = build(demo, tmp_path / "probe-3", previous=tmp_path / "probe-2")
        assert changed[2]["carried"] == 0 and changed[2]["parts_from_cache"] == 0  # another key: nothing carried
        with demo.connect() as conn:
            rust_chunks = conn.execute(
                "select count(distinct content_hash) from chunk_analyses where language = 'rust' "
                "and analyser_version = %s", (analyser_version("rust"),)).fetchone()[0]
        assert changed[2]["analysed"] == rust_chunks > 0  # every rust chunk again, no elixir chunk
        assert changed[:2] == again[:2]  # the same analysis code: the same dataset
    finally:
        languages.register(original_rust)
        sys.modules.pop("probe_language", None)


def test_two_data_stage_runs_at_once_keep_their_own_sessions(demo: Database, tmp_path: Path):
    """Two runs on their own folders and one dataset folder, at the same time (issue 9, defect 1)."""
    results, errors = {}, []

    def run(name: str) -> None:
        try:
            config = PrepareConfig(workers=1)
            with demo.connect() as conn:
                results[name] = run_data_stage(conn, StageFiles(tmp_path / name), tmp_path / "dataset", config)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert results["a"]["session_id"] != results["b"]["session_id"]
    with demo.connect() as conn:
        for result in results.values():
            status, example_count, stored, distinct = conn.execute(
                "select status, example_count, (select count(*) from t5_training_examples e where "
                "e.training_session_id = s.id), (select count(*) from (select distinct task, input, target from "
                "t5_training_examples e where e.training_session_id = s.id) d) from t5_training_sessions s "
                "where id = %s", (result["session_id"],)).fetchone()
            assert status == "prepared"
            assert stored == distinct == example_count == result["train_examples"] + result["eval_examples"]
    manifest = json.loads((tmp_path / "dataset" / "manifest.json").read_text())
    assert manifest["session_id"] in {r["session_id"] for r in results.values()}
    latest = (tmp_path / "dataset" / "train.jsonl").read_bytes()
    assert latest in {Path(r["train_file"]).read_bytes() for r in results.values()}  # one run's whole file
    assert not list((tmp_path / "dataset").glob("*.tmp"))


def test_a_session_never_moves_backwards(database: Database):
    with database.connect() as conn:
        session = create_session(conn, "s", ["rust"], {})
        update_session(conn, session, status="prepared")
        update_session(conn, session, status="training")
        update_session(conn, session, status="completed")
        stamped = conn.execute("select completed_at from t5_training_sessions where id = %s", (session,)).fetchone()
        for backwards in ("prepared", "training", "preparing", "failed"):
            with pytest.raises(SessionStateError, match="completed"):
                update_session(conn, session, status=backwards)
        update_session(conn, session, status="completed", stats={"note": 1})  # stats only: allowed, not re-stamped
        status, completed_at = conn.execute("select status, completed_at from t5_training_sessions where id = %s",
                                            (session,)).fetchone()
    assert status == "completed" and (completed_at,) == stamped


def test_a_run_stopped_at_the_sensors_id_is_carried_by_the_next_one(demo: Database, tmp_path: Path):
    """The retraining sensor's tag stops a run at the rows it counted; the next run carries it and reads the rest."""
    from rxt5_assets.data.stages import dataset_stage, pairs_stage, preprocess_stage, scoring_stage

    with demo.connect() as conn:
        first_id, last_id = conn.execute("select min(id), max(id) from code_chunks").fetchone()
    stop = first_id + (last_id - first_id) // 2
    config = PrepareConfig(workers=1, batch_size=150, min_examples=1)  # half the corpus: fewer Rust examples
    first = StageFiles(tmp_path / "first" / "work")
    with demo.connect() as conn:
        report = preprocess_stage(conn, first, config, max_chunk_id=stop)
        conn.commit()
        scoring_stage(conn, first, config)
        conn.commit()
        pairs_stage(conn, first, config)
        conn.commit()
        dataset_stage(conn, first, tmp_path / "first" / "dataset", config)
    assert report["max_chunk_id"] == stop and report["rows_in"] == stop - first_id + 1
    carried = build(demo, tmp_path / "carried", previous=tmp_path / "first", batch_size=150)
    assert carried[2]["parts_carried"] >= 1 and carried[2]["fetched"] == last_id - stop
    forget_analyses(demo)
    full = build(demo, tmp_path / "full", batch_size=150)
    assert carried[:2] == full[:2] and carried[2]["funnel"] == full[2]["funnel"]
