defmodule EdgeGateway.TtlCacheTest do
  use ExUnit.Case, async: true

  alias EdgeGateway.TtlCache

  setup do
    name = :"ttl_cache_#{System.unique_integer([:positive])}"
    start_supervised!({TtlCache, name: name, default_ttl_ms: 1_000, sweep_interval_ms: :never})
    %{cache: name}
  end

  describe "get/2 and put/4" do
    test "returns stored values", %{cache: cache} do
      assert :miss = TtlCache.get(cache, :answer)
      :ok = TtlCache.put(cache, :answer, 42)
      assert {:ok, 42} = TtlCache.get(cache, :answer)
    end

    test "expired entries are misses even before eviction", %{cache: cache} do
      :ok = TtlCache.put(cache, "short", :value, 10)
      Process.sleep(20)
      assert :miss = TtlCache.get(cache, "short")
      assert TtlCache.size(cache) == 1
    end

    test ":infinity never expires", %{cache: cache} do
      :ok = TtlCache.put(cache, :forever, 1, :infinity)
      assert TtlCache.evict_expired(cache) == 0
      assert {:ok, 1} = TtlCache.get(cache, :forever)
    end
  end

  describe "evict_expired/1" do
    test "removes only expired entries", %{cache: cache} do
      for i <- 1..5, do: :ok = TtlCache.put(cache, {:short, i}, i, 5)
      :ok = TtlCache.put(cache, :long, :kept, 60_000)
      Process.sleep(15)

      assert TtlCache.evict_expired(cache) == 5
      assert TtlCache.size(cache) == 1
      assert {:ok, :kept} = TtlCache.get(cache, :long)
    end
  end

  describe "fetch/4" do
    test "computes once and caches successes", %{cache: cache} do
      parent = self()

      loader = fn ->
        send(parent, :loaded)
        {:ok, "fresh"}
      end

      assert {:ok, "fresh"} = TtlCache.fetch(cache, :k, loader)
      assert {:ok, "fresh"} = TtlCache.fetch(cache, :k, loader)
      assert_received :loaded
      refute_received :loaded
    end

    test "does not cache errors", %{cache: cache} do
      assert {:error, :boom} = TtlCache.fetch(cache, :k, fn -> {:error, :boom} end)
      assert :miss = TtlCache.get(cache, :k)
    end
  end

  test "delete/2 and clear/1", %{cache: cache} do
    :ok = TtlCache.put(cache, :a, 1)
    :ok = TtlCache.put(cache, :b, 2)
    :ok = TtlCache.delete(cache, :a)
    assert :miss = TtlCache.get(cache, :a)
    :ok = TtlCache.clear(cache)
    assert TtlCache.size(cache) == 0
  end
end
