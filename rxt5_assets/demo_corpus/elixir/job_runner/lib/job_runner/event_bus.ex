defmodule JobRunner.EventBus do
  @moduledoc """
  In-process publish/subscribe built on a duplicate-key `Registry`.

  Subscribers register under a topic and receive messages of the form
  `{:event, topic, payload}`. Registration is tied to the subscribing
  process, so subscriptions disappear automatically when it exits.

  A subscriber may pass a filter function when subscribing; only events
  for which it returns `true` are delivered. Subscribing to `:all`
  receives every topic.
  """

  @type bus :: atom()
  @type topic :: atom() | {atom(), term()}
  @type filter :: (term() -> boolean()) | nil

  @wildcard :all

  @doc """
  Child spec for the underlying registry. Accepts `:name`.
  """
  @spec child_spec(keyword()) :: Supervisor.child_spec()
  def child_spec(opts) do
    name = Keyword.get(opts, :name, __MODULE__)

    Registry.child_spec(
      keys: :duplicate,
      name: name,
      partitions: Keyword.get(opts, :partitions, System.schedulers_online())
    )
  end

  @spec start_link(keyword()) :: {:ok, pid()} | {:error, term()}
  def start_link(opts \\ []) do
    name = Keyword.get(opts, :name, __MODULE__)
    Registry.start_link(keys: :duplicate, name: name)
  end

  @doc """
  Subscribes the calling process to `topic`.
  """
  @spec subscribe(bus(), topic(), filter()) :: :ok
  def subscribe(bus \\ __MODULE__, topic, filter \\ nil)
      when is_nil(filter) or is_function(filter, 1) do
    {:ok, _owner} = Registry.register(bus, topic, filter)
    :ok
  end

  @doc """
  Removes every subscription of the calling process to `topic`.
  """
  @spec unsubscribe(bus(), topic()) :: :ok
  def unsubscribe(bus \\ __MODULE__, topic), do: Registry.unregister(bus, topic)

  @doc """
  Delivers `payload` to the subscribers of `topic` and of `:all`.

  Delivery is asynchronous and best effort: the function returns once
  the messages are sent, not when they are handled.
  """
  @spec publish(bus(), topic(), term()) :: :ok
  def publish(bus \\ __MODULE__, topic, payload) do
    message = {:event, topic, payload}

    for key <- Enum.uniq([topic, @wildcard]) do
      Registry.dispatch(bus, key, fn entries ->
        for {pid, filter} <- entries, accepts?(filter, payload), do: send(pid, message)
      end)
    end

    :ok
  end

  @doc """
  Pids currently subscribed to `topic`.
  """
  @spec subscribers(bus(), topic()) :: [pid()]
  def subscribers(bus \\ __MODULE__, topic) do
    bus
    |> Registry.lookup(topic)
    |> Enum.map(fn {pid, _filter} -> pid end)
    |> Enum.uniq()
  end

  @spec subscriber_count(bus()) :: non_neg_integer()
  def subscriber_count(bus \\ __MODULE__), do: Registry.count(bus)

  defp accepts?(nil, _payload), do: true

  defp accepts?(filter, payload) do
    filter.(payload)
  rescue
    _ -> false
  end
end
