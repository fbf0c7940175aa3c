"""Retrieval on a real PostgreSQL (pgserver with pgvector) and the real demo encoder: repo isolation, finding an item by
its doc words, incremental embeddings, deleted chunks, RRF with the per-file cap, the prompt format, and augmentation
that never shows an example its own chunk or an eval file."""

from __future__ import annotations

from pathlib import Path

import pytest

from rxt5_assets.db import Database
from rxt5_assets.ingest import ingest_path
from rxt5_assets.retrieval.search import NoChunksError, RetrievedChunk, retrieve, rrf_fuse

ALPHA_HEADERS = '''\
/// Parses an HTTP header line into its name and its value, trimming whitespace around both.
pub fn parse_header(line: &str) -> Option<(String, String)> {
    let (name, value) = line.split_once(':')?;
    Some((name.trim().to_string(), value.trim().to_string()))
}

/// Renders a header name and value back into the wire form of a header line.
pub fn render_header(name: &str, value: &str) -> String {
    format!("{name}: {value}")
}
'''

ALPHA_BACKOFF = '''\
/// Computes the exponential backoff delay in milliseconds before retry attempt number `attempt`.
pub fn backoff_delay(attempt: u32) -> u64 {
    100u64.saturating_mul(1u64 << attempt.min(10))
}
'''

ALPHA_CACHE_EX = '''\
defmodule Alpha.HeaderCache do
  @moduledoc "Caches parsed header lines for a while."

  @doc "Parses a header line and caches it."
  def parse_header(line), do: String.split(line, ":", parts: 2)
end
'''

# the same identifiers in another repo: never to be returned for alpha
BETA_HEADERS = '''\
/// Parses an HTTP header line into its name and its value (the beta service's copy).
pub fn parse_header(line: &str) -> Option<(String, String)> {
    line.split_once(':').map(|(n, v)| (n.to_string(), v.to_string()))
}

/// Computes the exponential backoff delay for a retry attempt of the beta service.
pub fn backoff_delay(attempt: u32) -> u64 {
    50 * u64::from(attempt + 1)
}
'''

ALPHA_TESTS = '''\
#[test]
fn parses_a_header_line_into_name_and_value() {
    assert_eq!(alpha::parse_header("Host: example.org"), Some(("Host".into(), "example.org".into())));
}
'''

RATE_LIMIT = '''\
/// A token bucket rate limiter that refills tokens at a fixed rate per second.
pub struct TokenBucket {
    tokens: f64,
    rate: f64,
}
'''


def _write(root: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@pytest.fixture
def two_repos(database: Database, tmp_path: Path) -> Database:
    ingest_path(database, _write(tmp_path / "alpha", {"src/headers.rs": ALPHA_HEADERS, "src/backoff.rs": ALPHA_BACKOFF,
                                                      "lib/header_cache.ex": ALPHA_CACHE_EX,
                                                      "tests/headers.rs": ALPHA_TESTS}), "alpha", progress=False)
    ingest_path(database, _write(tmp_path / "beta", {"src/headers.rs": BETA_HEADERS}), "beta", progress=False)
    return database


def _chunk_id(conn, repo: str, name: str) -> int:
    return conn.execute("select id from code_chunks where repo = %s and item_name = %s and language = 'rust'",
                        (repo, name)).fetchone()[0]


@pytest.mark.parametrize("method", ["fts", "vector", "hybrid"])
def test_retrieval_returns_only_the_repos_own_chunks_of_the_language(two_repos: Database, method: str):
    with two_repos.connect() as conn:
        beta_ids = {row[0] for row in conn.execute("select id from code_chunks where repo = 'beta'")}
        hits = retrieve(conn, "parse header line exponential backoff retry", repo="alpha", language="rust", k=10,
                        method=method)
        assert hits and all(hit.repo == "alpha" and hit.language == "rust" for hit in hits)
        assert not {hit.chunk_id for hit in hits} & beta_ids
        assert {hit.name for hit in hits} <= {"parse_header", "render_header", "backoff_delay"}
        assert all(hit.method == method for hit in hits)
        beta_hits = retrieve(conn, "parse header", repo="beta", language="rust", k=10, method=method)
        assert beta_hits and {hit.chunk_id for hit in beta_hits} <= beta_ids


@pytest.mark.parametrize("method", ["fts", "hybrid"])
def test_fts_and_hybrid_find_an_item_by_its_doc_words(two_repos: Database, method: str):
    with two_repos.connect() as conn:
        hits = retrieve(conn, "exponential backoff delay before a retry", repo="alpha", language="rust", k=1,
                        method=method)
        assert [hit.name for hit in hits] == ["backoff_delay"]
        # CamelCase / snake_case identifiers are words of the index
        hits = retrieve(conn, "render header wire form", repo="alpha", language="rust", k=1, method=method)
        assert [hit.name for hit in hits] == ["render_header"]
        # excluded ids and files never come back
        own = _chunk_id(conn, "alpha", "render_header")
        hits = retrieve(conn, "render header wire form", repo="alpha", language="rust", k=5, method=method,
                        exclude_chunk_ids=[own], exclude_files=["src/backoff.rs"])
        assert hits and own not in {hit.chunk_id for hit in hits}
        assert {hit.file_path for hit in hits} == {"src/headers.rs"}


def test_test_code_is_left_out_unless_asked_for(two_repos: Database):
    with two_repos.connect() as conn:
        query = "parses a header line into name and value"
        assert "tests/headers.rs" not in {hit.file_path for hit in retrieve(conn, query, repo="alpha",
                                                                            language="rust", k=10, method="fts")}
        kept = retrieve(conn, query, repo="alpha", language="rust", k=10, method="fts", include_tests=True)
        assert "tests/headers.rs" in {hit.file_path for hit in kept}


def test_fts_column_is_filled_for_rows_any_writer_inserts(database: Database):
    with database.connect() as conn:
        conn.execute("insert into code_chunks (content, language, file_path, repo, item_name) values "
                     "(%s, 'rust', 'src/bucket.rs', 'gamma', 'TokenBucket')", (RATE_LIMIT,))
        tsv = conn.execute("select search_tsv::text from code_chunks").fetchone()[0]
        for word in ("'token':", "'bucket':", "'refills':", "'rate':"):
            assert word in tsv
        hits = retrieve(conn, "token bucket", repo="gamma", language="rust", method="fts")
        assert [hit.name for hit in hits] == ["TokenBucket"]


def test_embeddings_are_incremental_and_deleted_chunks_disappear(two_repos: Database, tmp_path: Path):
    from rxt5_assets.retrieval.embeddings import get_encoder, missing_embeddings, update_embeddings

    encoder = get_encoder()
    with two_repos.connect() as conn:
        first = update_embeddings(conn, encoder=encoder)
        total = conn.execute("select count(*) from code_chunks").fetchone()[0]
        assert first.pgvector and first.embedded == total and first.already == 0
        before = dict(conn.execute("select chunk_id, updated_at from code_chunk_embeddings").fetchall())
        assert len(before) == total
        assert {fp for (fp,) in conn.execute("select distinct model_fingerprint from code_chunk_embeddings")} == {
            encoder.fingerprint}
        again = update_embeddings(conn, encoder=encoder)
        assert (again.embedded, again.already) == (0, total)
        conn.commit()

    # new chunks land: only they are embedded; the old rows are untouched
    ingest_path(two_repos, _write(tmp_path / "alpha", {"src/rate.rs": RATE_LIMIT}), "alpha", progress=False)
    with two_repos.connect() as conn:
        assert len(missing_embeddings(conn, encoder.fingerprint)) == 1
        # retrieve embeds the searched repo's new chunk lazily, and finds it
        hits = retrieve(conn, "token bucket rate limiter", repo="alpha", language="rust", k=1, method="vector",
                        encoder=encoder)
        assert missing_embeddings(conn, encoder.fingerprint) == []
        new_id = _chunk_id(conn, "alpha", "TokenBucket")
        after = dict(conn.execute("select chunk_id, updated_at from code_chunk_embeddings").fetchall())
        assert set(after) == set(before) | {new_id}
        assert {cid: after[cid] for cid in before} == before
        assert retrieve(conn, "token bucket rate limiter", repo="alpha", language="rust", k=1, method="fts")[0] \
            .chunk_id == new_id

        # a chunk whose content is replaced in place is re-embedded (its hash changed), the others are not
        conn.execute("update code_chunks set content = content || '\n// refilled lazily' where id = %s", (new_id,))
        report = update_embeddings(conn, encoder=encoder)
        assert report.embedded == 1

        # a deleted chunk takes its embedding with it and never comes back
        conn.execute("delete from code_chunks where id = %s", (new_id,))
        assert conn.execute("select count(*) from code_chunk_embeddings where chunk_id = %s",
                            (new_id,)).fetchone()[0] == 0
        for method in ("fts", "vector", "hybrid"):
            hits = retrieve(conn, "token bucket rate limiter", repo="alpha", language="rust", k=10, method=method,
                            encoder=encoder)
            assert new_id not in {hit.chunk_id for hit in hits}
        assert update_embeddings(conn, encoder=encoder).embedded == 0


def test_repo_without_chunks_is_a_clear_error(two_repos: Database):
    with two_repos.connect() as conn:
        with pytest.raises(NoChunksError, match=r"repo 'nowhere' has no chunks.*rxt5 ingest PATH --repo nowhere"):
            retrieve(conn, "parse header", repo="nowhere", language="rust")
        with pytest.raises(NoChunksError, match=r"repo 'beta' has chunks only in rust"):
            retrieve(conn, "parse header", repo="beta", language="elixir")
        assert retrieve(conn, "   ", repo="alpha", language="rust") == []


def _hit(chunk_id: int, file_path: str) -> RetrievedChunk:
    return RetrievedChunk(chunk_id=chunk_id, repo="r", file_path=file_path, name=str(chunk_id), kind="function",
                          content=f"fn f{chunk_id}() {{}}", score=0.0, method="x")


def test_rrf_fusion_scores_and_caps_hits_per_file():
    fts = [_hit(1, "a.rs"), _hit(2, "a.rs"), _hit(3, "a.rs"), _hit(4, "b.rs")]
    vector = [_hit(3, "a.rs"), _hit(5, "c.rs"), _hit(1, "a.rs")]
    fused = rrf_fuse({"fts": fts, "vector": vector}, k=10)
    scores = {hit.chunk_id: hit.score for hit in fused}
    assert scores[1] == pytest.approx(1 / 61 + 1 / 63)
    assert scores[3] == pytest.approx(1 / 63 + 1 / 61)
    # 1 and 3 tie (best ranks tie too: the id decides), as do 2 and 5; 2 is a.rs's third hit: capped
    assert [hit.chunk_id for hit in fused] == [1, 3, 5, 4]
    assert dict(fused[1].ranks) == {"fts": 3, "vector": 1}
    assert all(hit.method == "hybrid" for hit in fused)
    assert [hit.chunk_id for hit in rrf_fuse({"fts": fts, "vector": vector}, k=10, per_file=None)] == [1, 3, 2, 5, 4]
    assert [hit.chunk_id for hit in rrf_fuse({"fts": fts, "vector": vector}, k=2)] == [1, 3]


def test_with_context_format_and_truncation():
    from rxt5_assets.retrieval.prompt import MIN_CHUNK_CHARS, strip_context, with_context

    first = _hit(1, "src/a.rs")
    long_lines = "\n".join(f"    let value_{i} = compute_{i}(input);" for i in range(40))
    second = RetrievedChunk(chunk_id=2, repo="r", file_path="src/b.rs", name="g", kind="function",
                            content=f"fn g() {{\n{long_lines}\n}}", score=0.0, method="fts")
    prompt = "implement rust: Adds two numbers.\npub fn add(a: i64, b: i64) -> i64"
    text = with_context(prompt, "rust", [first], max_chars=10_000)
    assert text == prompt + "\n\n// context: src/a.rs\nfn f1() {}"
    assert with_context("generate elixir function: x", "elixir", [first]).startswith(
        "generate elixir function: x\n\n# context: src/a.rs\n")
    cut = with_context(prompt, "rust", [first, second], max_chars=400)
    assert len(cut) <= 400 and cut.startswith(prompt)
    assert "// context: src/b.rs\nfn g() {\n    let value_0" in cut
    assert cut.endswith(";")  # cut at a line end, never inside a line
    assert strip_context(cut, "rust") == prompt
    # too little room for a useful piece: the chunk is left out, and the prompt is never cut
    assert with_context(prompt, "rust", [second], max_chars=len(prompt) + MIN_CHUNK_CHARS // 2) == prompt
    assert with_context(prompt, "rust", [first], max_chars=10) == prompt
    assert with_context(prompt, "rust", []) == prompt


def test_augmented_examples_never_see_their_own_chunk_or_eval_files(two_repos: Database):
    from rxt5_assets.retrieval.augment import augment_examples

    with two_repos.connect() as conn:
        render = _chunk_id(conn, "alpha", "render_header")
        parse = _chunk_id(conn, "alpha", "parse_header")
        backoff = _chunk_id(conn, "alpha", "backoff_delay")
        rows = [
            {"input": "generate rust function: Renders a header name and value back into the wire form of a header "
                      "line.", "target": "pub fn render_header", "language": "rust", "task": "generate",
             "source_id": str(render), "repo": "alpha", "file_path": "src/headers.rs", "split": "train"},
            {"input": "implement rust: Parses an HTTP header line into its name and its value.\npub fn parse_header("
                      "line: &str) -> Option<(String, String)>", "target": "...", "language": "rust",
             "task": "implement", "source_id": str(parse), "repo": "alpha", "file_path": "src/headers.rs",
             "split": "train"},
            {"input": "generate rust function: Computes the exponential backoff delay for a retry of a header parse.",
             "target": "pub fn backoff_delay", "language": "rust", "task": "generate", "source_id": str(backoff),
             "repo": "alpha", "file_path": "src/backoff.rs", "split": "eval"},
            {"input": "document rust: pub fn render_header() {}", "target": "Renders.", "language": "rust",
             "task": "document", "source_id": str(render), "repo": "alpha", "file_path": "src/headers.rs",
             "split": "train"},
        ]
        for method in ("fts", "hybrid"):
            out = augment_examples(rows, conn, k=3, method=method)
            render_row, parse_row, backoff_row, document_row = out
            # the train row sees the other item of its file, never itself, never the eval file
            assert "// context: src/headers.rs\n/// Parses an HTTP header" in render_row["input"]
            assert "format!(" not in render_row["input"] and "backoff" not in render_row["input"]
            assert "split_once(':')?" not in parse_row["input"] and "format!(" in parse_row["input"]
            # the eval row gets train-side context only, not its own code
            assert "saturating_mul" not in backoff_row["input"] and "src/backoff.rs" not in backoff_row["input"]
            assert "// context: src/headers.rs" in backoff_row["input"]
            assert document_row == rows[3]
            assert all(row["input"].startswith(original["input"]) for row, original in zip(out, rows))
        with pytest.raises(ValueError, match="train_files"):
            augment_examples([{k: v for k, v in rows[0].items() if k != "split"}], conn)
        # explicit train files: with backoff.rs not among them, even the eval row's own file is never context
        out = augment_examples([{k: v for k, v in rows[2].items() if k != "split"}], conn,
                               train_files={("alpha", "src/headers.rs")}, method="fts")
        assert "saturating_mul" not in out[0]["input"]


def test_data_stage_hook_augments_only_when_asked(two_repos: Database):
    import polars as pl

    from rxt5_assets.data.examples import EXAMPLE_SCHEMA
    from rxt5_assets.data.stages import PrepareConfig, retrieval_augmented

    with two_repos.connect() as conn:
        render = _chunk_id(conn, "alpha", "render_header")
        row = {"input": "generate rust function: Renders a header name and value back into the wire form.",
               "target": "pub fn render_header", "language": "rust", "task": "generate", "quality_score": 0.9,
               "source_id": str(render), "code_chunk_id": render, "repo": "alpha", "file_path": "src/headers.rs",
               "split": "train", "quality_breakdown": "{}"}
        frame = pl.DataFrame([row], schema=EXAMPLE_SCHEMA)
        assert retrieval_augmented(conn, frame, PrepareConfig()) is frame  # off by default: untouched
        out = retrieval_augmented(conn, frame, PrepareConfig(retrieval_augmented=True))
        assert out.schema == frame.schema and out.height == 1
        text = out["input"][0]
        assert text.startswith(row["input"]) and "// context: src/headers.rs\n/// Parses an HTTP header" in text
        assert "format!(" not in text


def test_cli_index_and_retrieve(two_repos: Database, monkeypatch, capsys):
    import json

    from rxt5_assets.cli import main

    monkeypatch.setenv("RXT5_DATABASE_URL", two_repos.url)
    assert main(["index", "--repo", "beta", "--quiet", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["pgvector"] and report["embedded"] == report["chunks"] == 2
    assert main(["index", "--repo", "beta", "--quiet", "--json"]) == 0
    assert (lambda r: (r["embedded"], r["already"]))(json.loads(capsys.readouterr().out)) == (0, 2)
    assert main(["retrieve", "exponential backoff before a retry", "--repo", "alpha", "--language", "rust", "-k", "1",
                 "--json"]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert [(hit["name"], hit["repo"], hit["method"]) for hit in hits] == [("backoff_delay", "alpha", "fts")]
    assert main(["retrieve", "anything", "--repo", "nowhere", "--language", "rust"]) == 1
    assert "rxt5: no rust code to retrieve from: repo 'nowhere'" in capsys.readouterr().err
