defmodule EdgeGateway.QueryString do
  @moduledoc """
  Decoding and encoding of `application/x-www-form-urlencoded` data.

  Supports the bracket convention for lists (`tag[]=a&tag[]=b`) and
  one level of nested maps (`filter[status]=open`).
  """

  @type params :: %{optional(String.t()) => String.t() | [String.t()] | map()}

  @doc """
  Decodes a query string into a map.

      iex> EdgeGateway.QueryString.decode("page=2&tag[]=a&tag[]=b&filter[state]=open")
      %{"page" => "2", "tag" => ["a", "b"], "filter" => %{"state" => "open"}}
  """
  @spec decode(String.t()) :: params()
  def decode(""), do: %{}

  def decode(query) when is_binary(query) do
    query
    |> String.split("&", trim: true)
    |> Enum.map(&split_pair/1)
    |> Enum.reduce(%{}, &put_param/2)
    |> Map.new(fn
      {key, {:list, values}} -> {key, Enum.reverse(values)}
      other -> other
    end)
  end

  @doc """
  Encodes a flat or one-level nested map into a query string. Keys are
  emitted in sorted order so the output is stable.
  """
  @spec encode(map() | keyword()) :: String.t()
  def encode(params) do
    params
    |> Enum.sort_by(fn {key, _} -> to_string(key) end)
    |> Enum.flat_map(&encode_pair/1)
    |> Enum.join("&")
  end

  defp split_pair(pair) do
    case String.split(pair, "=", parts: 2) do
      [key, value] -> {decode_component(key), decode_component(value)}
      [key] -> {decode_component(key), ""}
    end
  end

  defp put_param({key, value}, acc) do
    case Regex.run(~r/^([^\[]+)\[([^\]]*)\]$/, key) do
      [_, name, ""] ->
        Map.update(acc, name, {:list, [value]}, fn
          {:list, values} -> {:list, [value | values]}
          _scalar -> {:list, [value]}
        end)

      [_, name, sub] ->
        Map.update(acc, name, %{sub => value}, fn
          %{} = nested -> Map.put(nested, sub, value)
          _other -> %{sub => value}
        end)

      nil ->
        Map.put(acc, key, value)
    end
  end

  defp encode_pair({key, values}) when is_list(values) do
    Enum.map(values, &(encode_component(key) <> "[]=" <> encode_component(&1)))
  end

  defp encode_pair({key, %{} = nested}) do
    nested
    |> Enum.sort()
    |> Enum.map(fn {sub, value} ->
      encode_component(key) <> "[" <> encode_component(sub) <> "]=" <> encode_component(value)
    end)
  end

  defp encode_pair({key, value}), do: [encode_component(key) <> "=" <> encode_component(value)]

  defp decode_component(component) do
    URI.decode_www_form(component)
  rescue
    ArgumentError -> component
  end

  defp encode_component(value), do: value |> to_string() |> URI.encode_www_form()
end
