defmodule JobRunner.StateMachine do
  @moduledoc """
  A declarative finite state machine.

      defmodule Door do
        use JobRunner.StateMachine, initial: :closed

        permit :closed, :open, :opened
        permit :opened, :close, :closed
        permit :closed, :lock, :locked, if: :has_key?

        defp has_key?(context), do: Map.get(context, :key?, false)
      end

      Door.transition(:closed, :open)
      #=> {:ok, :opened}

  Several `permit`s may share the same source state and event; they are
  tried in declaration order and the first whose `:if` guard passes wins.
  The using module gets `transition/3`, `initial_state/0`, `states/0`,
  `events_for/1` and an overridable `on_transition/4` hook.
  """

  @type state :: atom()
  @type event :: atom()

  @doc """
  Invoked after every successful transition. Defaults to a no-op.
  """
  @callback on_transition(from :: state(), event :: event(), to :: state(), context :: term()) ::
              :ok

  defmacro __using__(opts) do
    initial = Keyword.fetch!(opts, :initial)

    quote do
      @behaviour JobRunner.StateMachine

      import JobRunner.StateMachine, only: [permit: 3, permit: 4]

      Module.register_attribute(__MODULE__, :sm_permits, accumulate: true)
      @sm_initial unquote(initial)
      @before_compile JobRunner.StateMachine

      @impl JobRunner.StateMachine
      def on_transition(_from, _event, _to, _context), do: :ok

      defoverridable on_transition: 4
    end
  end

  @doc """
  Declares that `event` moves the machine from `from` (a state or a list
  of states) to `to`. Accepts `if: :guard_function`, a one-arity function
  in the using module that receives the transition context.
  """
  defmacro permit(from, event, to, opts \\ []) do
    quote bind_quoted: [from: from, event: event, to: to, opts: opts] do
      for source <- List.wrap(from) do
        @sm_permits {source, event, to, Keyword.get(opts, :if)}
      end
    end
  end

  defmacro __before_compile__(env) do
    permits = env.module |> Module.get_attribute(:sm_permits) |> Enum.reverse()
    initial = Module.get_attribute(env.module, :sm_initial)

    states =
      permits
      |> Enum.flat_map(fn {from, _event, to, _guard} -> [from, to] end)
      |> Enum.concat([initial])
      |> Enum.uniq()

    clauses =
      permits
      |> Enum.group_by(fn {from, event, _to, _guard} -> {from, event} end)
      |> Enum.sort()
      |> Enum.map(fn {{from, event}, options} -> transition_clause(from, event, options) end)

    events_by_state =
      permits
      |> Enum.group_by(fn {from, _, _, _} -> from end, fn {_, event, _, _} -> event end)
      |> Map.new(fn {state, events} -> {state, Enum.uniq(events)} end)

    quote do
      @doc "The state a new machine starts in."
      def initial_state, do: unquote(initial)

      @doc "Every state mentioned by a transition."
      def states, do: unquote(states)

      @doc "Events accepted in `state`."
      def events_for(state), do: Map.get(unquote(Macro.escape(events_by_state)), state, [])

      @doc """
      Applies `event` to `state`. Returns `{:ok, new_state}` or
      `{:error, reason}`.
      """
      def transition(state, event, context \\ nil) do
        case __sm_next__(state, event, context) do
          {:ok, to} = ok ->
            :ok = on_transition(state, event, to, context)
            ok

          {:error, _} = error ->
            error
        end
      end

      unquote_splicing(clauses)

      defp __sm_next__(state, event, _context), do: {:error, {:invalid_transition, state, event}}
    end
  end

  defp transition_clause(from, event, options) do
    guarded? = Enum.any?(options, fn {_from, _event, _to, guard} -> guard != nil end)

    context =
      if guarded?, do: Macro.var(:context, __MODULE__), else: Macro.var(:_context, __MODULE__)

    # Options after the first unguarded permit can never be reached.
    {guarded, unguarded} = Enum.split_while(options, fn {_, _, _, guard} -> guard != nil end)

    arms =
      Enum.map(guarded ++ Enum.take(unguarded, 1), fn {_from, _event, to, guard} ->
        condition = if guard, do: quote(do: unquote(guard)(unquote(context))), else: true
        {:->, [], [[condition], {:ok, to}]}
      end)

    arms =
      if unguarded == [],
        do: arms ++ [{:->, [], [[true], Macro.escape({:error, {:guard_failed, from, event}})]}],
        else: arms

    quote do
      defp __sm_next__(unquote(from), unquote(event), unquote(context)) do
        unquote({:cond, [], [[do: arms]]})
      end
    end
  end

  @doc """
  Applies a sequence of events starting from the machine's initial state
  (or `opts[:from]`), stopping at the first failure.
  """
  @spec run(module(), [event()], keyword()) :: {:ok, state()} | {:error, {event(), term()}}
  def run(machine, events, opts \\ []) do
    start = Keyword.get_lazy(opts, :from, &machine.initial_state/0)
    context = Keyword.get(opts, :context)

    Enum.reduce_while(events, {:ok, start}, fn event, {:ok, state} ->
      case machine.transition(state, event, context) do
        {:ok, next} -> {:cont, {:ok, next}}
        {:error, reason} -> {:halt, {:error, {event, reason}}}
      end
    end)
  end

  @doc """
  True when no event leads out of `state`.
  """
  @spec terminal?(module(), state()) :: boolean()
  def terminal?(machine, state), do: machine.events_for(state) == []
end
