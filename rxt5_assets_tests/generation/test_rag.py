"""Retrieval-augmented generation through the engine, against the retrieval package's interface
(`rxt5_assets.retrieval.search.retrieve`, `rxt5_assets.retrieval.prompt.with_context`): the repo's own chunks are
retrieved — never another repo's — and put into the prompt in the retrieval package's format."""

from __future__ import annotations

from pathlib import Path

import pytest

from rxt5_assets.generation.engine import GeneratorEngine
from rxt5_assets.generation.params import model_input

pytestmark = pytest.mark.usefixtures("one_thread")

CACHE = '''defmodule MyRepo.TtlCache do
  @moduledoc """
  A GenServer caching values with a time to live.
  """
  use GenServer

  @doc "Starts the cache."
  def start_link(opts), do: GenServer.start_link(__MODULE__, %{}, opts)

  @doc "Puts `value` under `key` for `ttl` milliseconds."
  def put(cache, key, value, ttl), do: GenServer.cast(cache, {:put, key, value, ttl})

  @impl true
  def init(state), do: {:ok, state}

  @impl true
  def handle_cast({:put, key, value, ttl}, state) do
    {:noreply, Map.put(state, key, {value, System.monotonic_time(:millisecond) + ttl})}
  end
end
'''
OTHER = '''defmodule Other.TtlCache do
  @moduledoc """
  Another repo's GenServer cache with a time to live, which must not be retrieved for my-repo.
  """
  use GenServer

  @doc "Starts the other cache."
  def start_link(opts), do: GenServer.start_link(__MODULE__, %{}, opts)
end
'''


def _repo(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_rag_retrieves_the_repos_own_chunks_into_the_prompt(database, demo, tmp_path):
    from rxt5_assets.ingest import ingest_path
    from rxt5_assets.retrieval.prompt import with_context  # ImportError here: the retrieval package is not merged
    from rxt5_assets.retrieval.search import retrieve

    ingest_path(database, _repo(tmp_path / "mine", {"lib/ttl_cache.ex": CACHE}), "my-repo", progress=False)
    ingest_path(database, _repo(tmp_path / "other", {"lib/other_cache.ex": OTHER}), "other-repo", progress=False)
    engine = GeneratorEngine(demo.home, database, backend="transformers")
    prompt = "Create a GenServer for caching with TTL"
    result = engine.code_generate(prompt, "elixir", repo="my-repo", use_rag=True,
                                  overrides={"num_candidates": 2, "max_new_tokens": 24}, seed=0)
    assert result.ok, result.error
    assert result.retrieved and len(result.retrieved) <= 3
    assert {chunk["repo"] for chunk in result.retrieved} == {"my-repo"}  # never another repo's
    assert all("Other." not in chunk["content"] for chunk in result.retrieved)
    assert {"chunk_id", "file_path", "content", "score", "method"} <= set(result.retrieved[0])
    with database.connect() as conn:
        again = retrieve(conn, prompt, repo="my-repo", language="elixir", k=3)
    plain = model_input("elixir", "module", prompt)
    assert result.model_input == with_context(plain, "elixir", again) != plain
    assert result.timings["retrieval_s"] >= 0


def test_rag_for_a_repo_without_chunks_is_an_error_result(database, demo):
    engine = GeneratorEngine(demo.home, database, backend="transformers")
    result = engine.code_generate("Create a cache", "elixir", repo="empty-repo", use_rag=True)
    assert result.error.code == "repo_has_no_chunks" and result.http_status == 404
    assert result.candidates == [] and result.retrieved == []
