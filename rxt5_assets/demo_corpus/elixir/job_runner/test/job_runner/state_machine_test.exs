defmodule JobRunner.StateMachineTest do
  use ExUnit.Case, async: true

  alias JobRunner.{Job, JobLifecycle, StateMachine}

  defmodule Turnstile do
    use JobRunner.StateMachine, initial: :locked

    permit :locked, :coin, :unlocked
    permit :unlocked, :push, :locked
    permit [:locked, :unlocked], :break, :broken, if: :vandal?
    permit :broken, :repair, :locked

    @impl true
    def on_transition(from, event, to, %{notify: pid}) do
      send(pid, {:transition, from, event, to})
      :ok
    end

    def on_transition(_from, _event, _to, _context), do: :ok

    defp vandal?(%{vandal: true}), do: true
    defp vandal?(_context), do: false
  end

  describe "generated functions" do
    test "initial state and known states" do
      assert Turnstile.initial_state() == :locked
      assert Enum.sort(Turnstile.states()) == [:broken, :locked, :unlocked]
      assert Enum.sort(Turnstile.events_for(:locked)) == [:break, :coin]
    end

    test "transition/3 follows declared edges" do
      assert {:ok, :unlocked} = Turnstile.transition(:locked, :coin)
      assert {:ok, :locked} = Turnstile.transition(:unlocked, :push)
    end

    test "undeclared events are rejected" do
      assert {:error, {:invalid_transition, :locked, :push}} =
               Turnstile.transition(:locked, :push)
    end

    test "guards are evaluated against the context" do
      assert {:error, {:guard_failed, :locked, :break}} =
               Turnstile.transition(:locked, :break, %{})

      assert {:ok, :broken} = Turnstile.transition(:unlocked, :break, %{vandal: true})
    end

    test "on_transition/4 runs after successful transitions" do
      {:ok, :unlocked} = Turnstile.transition(:locked, :coin, %{notify: self()})
      assert_received {:transition, :locked, :coin, :unlocked}
    end
  end

  describe "StateMachine.run/3" do
    test "folds a sequence of events" do
      assert {:ok, :locked} = StateMachine.run(Turnstile, [:coin, :push, :coin, :push])
    end

    test "stops at the first invalid event" do
      assert {:error, {:push, {:invalid_transition, :locked, :push}}} =
               StateMachine.run(Turnstile, [:coin, :push, :push])
    end

    test "terminal?/2" do
      refute StateMachine.terminal?(JobLifecycle, :running)
      assert StateMachine.terminal?(JobLifecycle, :succeeded)
    end
  end

  describe "JobLifecycle" do
    setup do
      {:ok, job} = Job.new(JobRunner.Workers.Echo, %{}, max_attempts: 2)
      %{job: job}
    end

    test "a failing job retries while attempts remain", %{job: job} do
      {:ok, running} = JobLifecycle.advance(%{job | attempt: 1}, :start)
      assert {:ok, %Job{state: :retrying}} = JobLifecycle.advance(running, :fail)

      {:ok, last_try} = JobLifecycle.advance(%{running | attempt: 2}, :fail)
      assert last_try.state == :dead
    end

    test "finished jobs cannot be restarted", %{job: job} do
      {:ok, running} = JobLifecycle.advance(job, :start)
      {:ok, done} = JobLifecycle.advance(running, :succeed)
      assert JobLifecycle.finished?(done)

      assert {:error, {:invalid_transition, :succeeded, :start}} =
               JobLifecycle.advance(done, :start)
    end
  end
end
