defmodule BillingService.Schema do
  @moduledoc """
  A tiny declarative schema DSL for billing records.

      defmodule MyRecord do
        use BillingService.Schema

        schema do
          field :email, :string, required: true
          field :seats, :integer, default: 1
        end
      end

  The using module gets a struct, `__fields__/0` for introspection and
  `cast/1`, which builds a struct from a map with string or atom keys and
  returns `{:ok, struct}` or `{:error, [{field, reason}]}`.
  """

  @type field_type :: :string | :integer | :boolean | :currency | :atom

  defmacro __using__(_opts) do
    quote do
      import BillingService.Schema, only: [schema: 1, field: 2, field: 3]
      Module.register_attribute(__MODULE__, :schema_fields, accumulate: true)
    end
  end

  @doc """
  Wraps the field declarations. Defines the struct, `__fields__/0` and
  `cast/1` once every field has been declared.
  """
  defmacro schema(do: block) do
    quote do
      unquote(block)

      @schema_fields_ordered Enum.reverse(@schema_fields)

      defstruct Enum.map(@schema_fields_ordered, fn {name, _type, opts} ->
                  {name, Keyword.get(opts, :default)}
                end)

      @doc false
      def __fields__, do: @schema_fields_ordered

      @doc """
      Casts a map with atom or string keys into a struct.
      """
      def cast(params) when is_map(params) do
        BillingService.Schema.__cast__(__MODULE__, __fields__(), params)
      end
    end
  end

  @doc """
  Declares a field. Supported options are `:required` and `:default`.
  """
  defmacro field(name, type, opts \\ []) do
    quote bind_quoted: [name: name, type: type, opts: opts] do
      BillingService.Schema.__validate_type__!(name, type)
      @schema_fields {name, type, opts}
    end
  end

  @valid_types [:string, :integer, :boolean, :currency, :atom]

  @doc false
  def __validate_type__!(name, type) when type in @valid_types and is_atom(name), do: :ok

  def __validate_type__!(name, type) do
    raise ArgumentError, "invalid field #{inspect(name)} of type #{inspect(type)}"
  end

  @doc false
  def __cast__(module, fields, params) do
    {values, errors} =
      Enum.reduce(fields, {%{}, []}, fn {name, type, opts}, {values, errors} ->
        raw = Map.get(params, name, Map.get(params, Atom.to_string(name)))

        case cast_value(type, raw, opts) do
          {:ok, value} -> {Map.put(values, name, value), errors}
          {:error, reason} -> {values, [{name, reason} | errors]}
        end
      end)

    case errors do
      [] -> {:ok, struct(module, values)}
      _ -> {:error, Enum.reverse(errors)}
    end
  end

  defp cast_value(_type, nil, opts) do
    if Keyword.get(opts, :required, false) do
      {:error, :required}
    else
      {:ok, Keyword.get(opts, :default)}
    end
  end

  defp cast_value(:string, value, _opts) when is_binary(value), do: {:ok, String.trim(value)}
  defp cast_value(:integer, value, _opts) when is_integer(value), do: {:ok, value}

  defp cast_value(:integer, value, _opts) when is_binary(value) do
    case Integer.parse(value) do
      {int, ""} -> {:ok, int}
      _ -> {:error, :not_an_integer}
    end
  end

  defp cast_value(:boolean, value, _opts) when is_boolean(value), do: {:ok, value}
  defp cast_value(:boolean, value, _opts) when value in ["true", "1"], do: {:ok, true}
  defp cast_value(:boolean, value, _opts) when value in ["false", "0"], do: {:ok, false}

  defp cast_value(:currency, value, _opts) when is_binary(value) or is_atom(value) do
    case BillingService.Currency.parse_code(value) do
      {:ok, code} -> {:ok, code}
      {:error, _} -> {:error, :unknown_currency}
    end
  end

  defp cast_value(:atom, value, _opts) when is_atom(value), do: {:ok, value}
  defp cast_value(type, _value, _opts), do: {:error, {:expected, type}}
end
