defmodule JobRunner.Worker do
  @moduledoc """
  Behaviour for job implementations.

      defmodule MyApp.SendWelcomeEmail do
        use JobRunner.Worker, max_attempts: 5, timeout_ms: 10_000

        @impl true
        def perform(%{"user_id" => user_id}) do
          MyApp.Mailer.welcome(user_id)
        end
      end

  `perform/1` may return:

    * `:ok` or `{:ok, result}` - success
    * `{:error, reason}` - failure, retried while attempts remain
    * `{:discard, reason}` - failure that must not be retried
    * `{:snooze, ms}` - put the job back without using up an attempt
  """

  @type result ::
          :ok | {:ok, term()} | {:error, term()} | {:discard, term()} | {:snooze, pos_integer()}

  @callback perform(args :: map()) :: result()
  @callback max_attempts() :: pos_integer()
  @callback timeout_ms() :: pos_integer()
  @callback backoff_ms(attempt :: pos_integer()) :: non_neg_integer()

  @optional_callbacks max_attempts: 0, timeout_ms: 0, backoff_ms: 1

  defmacro __using__(opts) do
    max_attempts = Keyword.get(opts, :max_attempts, 3)
    timeout_ms = Keyword.get(opts, :timeout_ms, 30_000)

    quote do
      @behaviour JobRunner.Worker

      @impl JobRunner.Worker
      def max_attempts, do: unquote(max_attempts)

      @impl JobRunner.Worker
      def timeout_ms, do: unquote(timeout_ms)

      @impl JobRunner.Worker
      def backoff_ms(attempt), do: JobRunner.Worker.default_backoff(attempt)

      defoverridable max_attempts: 0, timeout_ms: 0, backoff_ms: 1
    end
  end

  @doc """
  Exponential backoff with a one minute ceiling: 1s, 2s, 4s, ...
  """
  @spec default_backoff(pos_integer()) :: pos_integer()
  def default_backoff(attempt) when attempt >= 1 do
    min(1_000 * Integer.pow(2, attempt - 1), 60_000)
  end

  @doc """
  Runs `worker.perform/1` under a timeout in a separate task, turning
  crashes, throws and exits into `{:error, reason}` so the caller never
  crashes because of user code.
  """
  @spec execute(module(), map(), keyword()) :: result()
  def execute(worker, args, opts \\ []) do
    timeout = Keyword.get_lazy(opts, :timeout_ms, fn -> timeout_for(worker) end)
    task = Task.async(fn -> safe_perform(worker, args) end)

    case Task.yield(task, timeout) || Task.shutdown(task, :brutal_kill) do
      {:ok, result} -> normalize(result)
      {:exit, reason} -> {:error, {:exit, reason}}
      nil -> {:error, :timeout}
    end
  end

  defp safe_perform(worker, args) do
    worker.perform(args)
  rescue
    exception -> {:error, exception}
  catch
    :throw, value -> {:error, {:throw, value}}
    :exit, reason -> {:error, {:exit, reason}}
  end

  defp normalize(:ok), do: :ok
  defp normalize({:ok, _} = ok), do: ok
  defp normalize({:error, _} = error), do: error
  defp normalize({:discard, _} = discard), do: discard
  defp normalize({:snooze, ms} = snooze) when is_integer(ms) and ms > 0, do: snooze
  defp normalize(other), do: {:error, {:unexpected_return, other}}

  defp timeout_for(worker) do
    if function_exported?(worker, :timeout_ms, 0), do: worker.timeout_ms(), else: 30_000
  end
end
