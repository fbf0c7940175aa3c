defmodule BillingService.Config do
  @moduledoc """
  Parses `billing.conf`, a small INI-style configuration file:

      # comment
      [general]
      default_currency = EUR
      payment_terms_days = 14

      [tax]
      default_rate_bps = 2000

      [gateway]
      adapter = sandbox
      timeout_ms = 5000

  Unknown keys are rejected so that typos are caught at boot instead of
  being silently ignored.
  """

  alias BillingService.Currency

  defstruct default_currency: :USD,
            payment_terms_days: 30,
            tax_rate_bps: 0,
            gateway_adapter: :sandbox,
            gateway_timeout_ms: 5_000,
            late_fee_percent: 0

  @type t :: %__MODULE__{
          default_currency: atom(),
          payment_terms_days: non_neg_integer(),
          tax_rate_bps: non_neg_integer(),
          gateway_adapter: :sandbox | :live,
          gateway_timeout_ms: pos_integer(),
          late_fee_percent: non_neg_integer()
        }

  @type error ::
          {:syntax, pos_integer(), String.t()}
          | {:unknown_key, String.t()}
          | {:invalid_value, String.t(), String.t()}

  @known_keys %{
    "general.default_currency" => :default_currency,
    "general.payment_terms_days" => :payment_terms_days,
    "general.late_fee_percent" => :late_fee_percent,
    "tax.default_rate_bps" => :tax_rate_bps,
    "gateway.adapter" => :gateway_adapter,
    "gateway.timeout_ms" => :gateway_timeout_ms
  }

  @doc """
  Reads and parses a config file from disk.
  """
  @spec load(Path.t()) :: {:ok, t()} | {:error, error() | File.posix()}
  def load(path) do
    with {:ok, contents} <- File.read(path) do
      parse_config(contents)
    end
  end

  @doc """
  Parses configuration text into a `%BillingService.Config{}`.

  Returns `{:error, {:syntax, line, message}}` for malformed lines and
  `{:error, {:invalid_value, key, raw}}` when a value cannot be cast.
  """
  @spec parse_config(String.t()) :: {:ok, t()} | {:error, error()}
  def parse_config(text) when is_binary(text) do
    with {:ok, pairs} <- tokenize(text),
         {:ok, fields} <- cast_all(pairs) do
      {:ok, struct(__MODULE__, fields)}
    end
  end

  @doc """
  Applies `BILLING_*` environment overrides on top of a parsed config.
  """
  @spec apply_env(t(), %{optional(String.t()) => String.t()}) :: {:ok, t()} | {:error, error()}
  def apply_env(%__MODULE__{} = config, env \\ System.get_env()) do
    overrides =
      for {"BILLING_" <> name, value} <- env,
          key <- [env_key(name)],
          Map.has_key?(@known_keys, key),
          do: {key, value}

    with {:ok, fields} <- cast_all(overrides) do
      {:ok, struct(config, fields)}
    end
  end

  defp tokenize(text) do
    text
    |> String.split(~r/\R/)
    |> Stream.with_index(1)
    |> Stream.map(fn {line, number} -> {strip_comment(line), number} end)
    |> Stream.reject(fn {line, _number} -> line == "" end)
    |> Enum.reduce_while({nil, []}, &tokenize_line/2)
    |> case do
      {:error, _} = error -> error
      {_section, pairs} -> {:ok, Enum.reverse(pairs)}
    end
  end

  defp tokenize_line({"[" <> rest, number}, {_section, pairs}) do
    case String.split(rest, "]", parts: 2) do
      [name, ""] when name != "" -> {:cont, {String.trim(name), pairs}}
      _ -> {:halt, {:error, {:syntax, number, "malformed section header"}}}
    end
  end

  defp tokenize_line({_line, number}, {nil, _pairs}) do
    {:halt, {:error, {:syntax, number, "key outside of any section"}}}
  end

  defp tokenize_line({line, number}, {section, pairs}) do
    case String.split(line, "=", parts: 2) do
      [key, value] ->
        {:cont, {section, [{section <> "." <> String.trim(key), String.trim(value)} | pairs]}}

      [_no_equals] ->
        {:halt, {:error, {:syntax, number, "expected key = value"}}}
    end
  end

  defp strip_comment(line) do
    line
    |> String.split("#", parts: 2)
    |> hd()
    |> String.trim()
  end

  defp cast_all(pairs) do
    Enum.reduce_while(pairs, {:ok, []}, fn {key, raw}, {:ok, acc} ->
      with {:ok, field} <- fetch_field(key),
           {:ok, value} <- cast(field, raw) do
        {:cont, {:ok, [{field, value} | acc]}}
      else
        :error -> {:halt, {:error, {:invalid_value, key, raw}}}
        {:error, _} = error -> {:halt, error}
      end
    end)
  end

  defp fetch_field(key) do
    case Map.fetch(@known_keys, key) do
      {:ok, field} -> {:ok, field}
      :error -> {:error, {:unknown_key, key}}
    end
  end

  defp cast(:default_currency, raw) do
    case Currency.parse_code(raw) do
      {:ok, code} -> {:ok, code}
      {:error, _} -> :error
    end
  end

  defp cast(:gateway_adapter, "sandbox"), do: {:ok, :sandbox}
  defp cast(:gateway_adapter, "live"), do: {:ok, :live}
  defp cast(:gateway_adapter, _raw), do: :error

  defp cast(field, raw)
       when field in [:payment_terms_days, :tax_rate_bps, :gateway_timeout_ms, :late_fee_percent] do
    case Integer.parse(raw) do
      {value, ""} when value >= 0 -> {:ok, value}
      _ -> :error
    end
  end

  defp env_key(name) do
    case String.split(String.downcase(name), "__", parts: 2) do
      [section, key] -> section <> "." <> key
      [key] -> "general." <> key
    end
  end
end
