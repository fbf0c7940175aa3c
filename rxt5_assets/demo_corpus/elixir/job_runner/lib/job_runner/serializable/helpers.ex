defmodule JobRunner.Serializable.Helpers do
  @moduledoc """
  Conversion of nested values into JSON-friendly terms, shared by the
  `JobRunner.Serializable` implementations.
  """

  @doc """
  Recursively converts `value`: datetimes become ISO 8601 strings, map
  keys and atoms become strings, structs go through
  `JobRunner.Serializable`.

      iex> JobRunner.Serializable.Helpers.plain(%{status: :ok, tags: [:a, "b"], n: 1})
      %{"status" => "ok", "tags" => ["a", "b"], "n" => 1}
  """
  @spec plain(term()) :: term()
  def plain(%DateTime{} = datetime), do: DateTime.to_iso8601(datetime)
  def plain(%_{} = struct), do: JobRunner.Serializable.to_map(struct)
  def plain(map) when is_map(map), do: Map.new(map, fn {k, v} -> {to_string(k), plain(v)} end)
  def plain(list) when is_list(list), do: Enum.map(list, &plain/1)
  def plain(atom) when is_atom(atom) and atom not in [nil, true, false], do: Atom.to_string(atom)
  def plain(pid) when is_pid(pid), do: inspect(pid)
  def plain(other), do: other

  @doc """
  Inverse of `plain/1` for map keys only: converts string keys back into
  existing atoms, leaving unknown keys as strings.
  """
  @spec atomize_keys(map()) :: map()
  def atomize_keys(map) when is_map(map) do
    Map.new(map, fn {key, value} -> {to_existing_atom(key), value} end)
  end

  defp to_existing_atom(key) when is_binary(key) do
    String.to_existing_atom(key)
  rescue
    ArgumentError -> key
  end

  defp to_existing_atom(key), do: key
end
