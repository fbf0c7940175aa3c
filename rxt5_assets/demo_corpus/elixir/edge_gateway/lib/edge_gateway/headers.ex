defmodule EdgeGateway.Headers do
  @moduledoc """
  Parsing helpers for HTTP/1.1 header fields.

  All functions are pure and return `{:ok, value}` or `{:error, reason}`
  (or `:error` where there is only one way to fail). Header names are
  normalised to lower case.
  """

  @type header :: {String.t(), String.t()}
  @type media_type :: {String.t(), String.t(), %{String.t() => String.t()}}

  @max_header_bytes 8_192

  @doc """
  Parses a raw header line such as `"Content-Type: text/html"`.

      iex> EdgeGateway.Headers.parse_header("X-Request-Id:  abc123 ")
      {:ok, {"x-request-id", "abc123"}}

      iex> EdgeGateway.Headers.parse_header("no colon here")
      {:error, :missing_colon}
  """
  @spec parse_header(String.t()) :: {:ok, header()} | {:error, atom()}
  def parse_header(line) when byte_size(line) > @max_header_bytes, do: {:error, :header_too_large}

  def parse_header(line) when is_binary(line) do
    with [name, value] <- :binary.split(line, ":"),
         {:ok, name} <- validate_name(name) do
      {:ok, {String.downcase(name), String.trim(value)}}
    else
      [_no_colon] -> {:error, :missing_colon}
      {:error, _} = error -> error
    end
  end

  @doc """
  Parses a CRLF-separated header block, stopping at the first bad line.
  Obsolete line folding (continuation lines starting with whitespace) is
  joined onto the previous header.
  """
  @spec parse_headers(String.t()) :: {:ok, [header()]} | {:error, {pos_integer(), atom()}}
  def parse_headers(block) do
    block
    |> String.split(~r/\r?\n/, trim: true)
    |> unfold()
    |> Enum.with_index(1)
    |> Enum.reduce_while({:ok, []}, fn {line, index}, {:ok, acc} ->
      case parse_header(line) do
        {:ok, header} -> {:cont, {:ok, [header | acc]}}
        {:error, reason} -> {:halt, {:error, {index, reason}}}
      end
    end)
    |> case do
      {:ok, headers} -> {:ok, Enum.reverse(headers)}
      error -> error
    end
  end

  @doc """
  Parses a media type with parameters.

      iex> EdgeGateway.Headers.parse_media_type("text/html; charset=UTF-8")
      {:ok, {"text", "html", %{"charset" => "UTF-8"}}}
  """
  @spec parse_media_type(String.t()) :: {:ok, media_type()} | :error
  def parse_media_type(value) do
    [type_part | params] = String.split(value, ";")

    case String.split(String.trim(type_part), "/", parts: 2) do
      [type, subtype] when type != "" and subtype != "" ->
        {:ok, {String.downcase(type), String.downcase(subtype), parse_params(params)}}

      _ ->
        :error
    end
  end

  @doc """
  Parses an `Accept` header into media ranges ordered by preference.
  Ranges with `q=0` are dropped.
  """
  @spec parse_accept(String.t()) :: [{String.t(), float()}]
  def parse_accept(value) do
    value
    |> split_list()
    |> Enum.map(fn range ->
      [media | params] = String.split(range, ";")
      q = params |> parse_params() |> Map.get("q", "1") |> parse_quality()
      {String.trim(media), q}
    end)
    |> Enum.reject(fn {_media, q} -> q == 0.0 end)
    |> Enum.sort_by(fn {media, q} -> {-q, specificity(media)} end)
  end

  @doc """
  Parses an `Authorization` header.
  """
  @spec parse_authorization(String.t()) ::
          {:ok, {:bearer, String.t()} | {:basic, String.t(), String.t()}} | {:error, atom()}
  def parse_authorization("Bearer " <> token) when token != "",
    do: {:ok, {:bearer, String.trim(token)}}

  def parse_authorization("Basic " <> encoded) do
    with {:ok, decoded} <- Base.decode64(String.trim(encoded)),
         [user, password] <- String.split(decoded, ":", parts: 2) do
      {:ok, {:basic, user, password}}
    else
      :error -> {:error, :invalid_base64}
      [_] -> {:error, :missing_password}
    end
  end

  def parse_authorization(_value), do: {:error, :unsupported_scheme}

  @doc """
  Parses a `Cookie` header into a map. Later duplicates win.
  """
  @spec parse_cookies(String.t()) :: %{String.t() => String.t()}
  def parse_cookies(value) do
    for pair <- String.split(value, ";"),
        [name, val] <- [String.split(pair, "=", parts: 2)],
        name = String.trim(name),
        name != "",
        into: %{},
        do: {name, String.trim(val)}
  end

  @doc """
  Splits a comma-separated header value, trimming whitespace.
  """
  @spec split_list(String.t()) :: [String.t()]
  def split_list(value) do
    value
    |> String.split(",")
    |> Enum.map(&String.trim/1)
    |> Enum.reject(&(&1 == ""))
  end

  defp validate_name(""), do: {:error, :empty_name}

  defp validate_name(name) do
    if name =~ ~r/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/ do
      {:ok, name}
    else
      {:error, :invalid_name}
    end
  end

  defp unfold(lines) do
    lines
    |> Enum.reduce([], fn
      <<c, _::binary>> = line, [prev | rest] when c in [?\s, ?\t] ->
        [prev <> " " <> String.trim(line) | rest]

      line, acc ->
        [line | acc]
    end)
    |> Enum.reverse()
  end

  defp parse_params(params) do
    for param <- params,
        [key, value] <- [String.split(param, "=", parts: 2)],
        into: %{},
        do:
          {key |> String.trim() |> String.downcase(), value |> String.trim() |> String.trim("\"")}
  end

  defp parse_quality(raw) do
    case Float.parse(raw) do
      {q, ""} when q >= 0 and q <= 1 -> q
      _ -> 0.0
    end
  end

  defp specificity("*/*"), do: 2
  defp specificity(media), do: if(String.ends_with?(media, "/*"), do: 1, else: 0)
end
