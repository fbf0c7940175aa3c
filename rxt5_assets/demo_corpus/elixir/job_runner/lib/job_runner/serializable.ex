defprotocol JobRunner.Serializable do
  @moduledoc """
  Converts runner data structures into plain maps with string keys, for
  persistence and for the admin API.

  Structs can opt in with `@derive`:

      @derive {JobRunner.Serializable, only: [:id, :name]}
      defstruct [:id, :name, :secret]
  """

  @doc "Returns a JSON-friendly map."
  @spec to_map(t()) :: map()
  def to_map(value)
end

defimpl JobRunner.Serializable, for: Any do
  defmacro __deriving__(module, struct, opts) do
    fields = Keyword.get(opts, :only, Map.keys(struct) -- [:__struct__])
    type = module |> Module.split() |> List.last() |> Macro.underscore()

    quote do
      defimpl JobRunner.Serializable, for: unquote(module) do
        def to_map(value) do
          value
          |> Map.take(unquote(fields))
          |> Map.new(fn {key, field_value} ->
            {Atom.to_string(key), JobRunner.Serializable.Helpers.plain(field_value)}
          end)
          |> Map.put("type", unquote(type))
        end
      end
    end
  end

  def to_map(value) do
    raise Protocol.UndefinedError,
      protocol: JobRunner.Serializable,
      value: value,
      description: "derive JobRunner.Serializable or implement it explicitly"
  end
end

defimpl JobRunner.Serializable, for: JobRunner.Job do
  alias JobRunner.Serializable.Helpers

  def to_map(job) do
    %{
      "type" => "job",
      "id" => job.id,
      "worker" => inspect(job.worker),
      "args" => Helpers.plain(job.args),
      "queue" => job.queue,
      "priority" => job.priority,
      "state" => Atom.to_string(job.state),
      "attempt" => job.attempt,
      "max_attempts" => job.max_attempts,
      "inserted_at" => Helpers.plain(job.inserted_at),
      "scheduled_at" => Helpers.plain(job.scheduled_at),
      "errors" =>
        Enum.map(job.errors, fn %{attempt: n, reason: reason} ->
          %{"attempt" => n, "reason" => inspect(reason)}
        end)
    }
  end
end
