defmodule JobRunner.EventBusTest do
  use ExUnit.Case, async: true

  alias JobRunner.EventBus

  setup do
    bus = :"event_bus_#{System.unique_integer([:positive])}"
    start_supervised!({EventBus, name: bus})
    %{bus: bus}
  end

  test "delivers events to topic subscribers only", %{bus: bus} do
    :ok = EventBus.subscribe(bus, :orders)
    :ok = EventBus.publish(bus, :orders, %{id: 1})
    :ok = EventBus.publish(bus, :payments, %{id: 2})

    assert_receive {:event, :orders, %{id: 1}}
    refute_receive {:event, :payments, _}, 20
  end

  test ":all receives every topic", %{bus: bus} do
    :ok = EventBus.subscribe(bus, :all)
    EventBus.publish(bus, :a, 1)
    EventBus.publish(bus, {:tenant, 42}, 2)

    assert_receive {:event, :a, 1}
    assert_receive {:event, {:tenant, 42}, 2}
  end

  test "filters are applied per subscriber", %{bus: bus} do
    :ok = EventBus.subscribe(bus, :jobs, fn {event, _} -> event == :dead end)
    EventBus.publish(bus, :jobs, {:started, "j1"})
    EventBus.publish(bus, :jobs, {:dead, "j1"})

    assert_receive {:event, :jobs, {:dead, "j1"}}
    refute_received {:event, :jobs, {:started, _}}
  end

  test "a crashing filter does not break publishing", %{bus: bus} do
    :ok = EventBus.subscribe(bus, :jobs, fn _ -> raise "bad filter" end)
    assert :ok = EventBus.publish(bus, :jobs, :anything)
    refute_receive {:event, :jobs, _}, 20
  end

  test "subscriptions end with the subscriber", %{bus: bus} do
    test_pid = self()

    subscriber =
      spawn(fn ->
        EventBus.subscribe(bus, :news)
        send(test_pid, :subscribed)
        receive do: (:stop -> :ok)
      end)

    assert_receive :subscribed
    assert EventBus.subscribers(bus, :news) == [subscriber]

    ref = Process.monitor(subscriber)
    send(subscriber, :stop)
    assert_receive {:DOWN, ^ref, :process, _, _}

    # Registry cleans up asynchronously after the DOWN message.
    Process.sleep(10)
    assert EventBus.subscribers(bus, :news) == []
  end

  test "unsubscribe/2", %{bus: bus} do
    :ok = EventBus.subscribe(bus, :news)
    :ok = EventBus.unsubscribe(bus, :news)
    EventBus.publish(bus, :news, :hello)
    refute_receive {:event, :news, _}, 20
  end
end
