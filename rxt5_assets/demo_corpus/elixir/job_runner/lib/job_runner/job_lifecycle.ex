defmodule JobRunner.JobLifecycle do
  @moduledoc """
  The states a `JobRunner.Job` moves through.

      queued --start--> running --succeed--> succeeded
        ^                 |  \\
        |              fail   discard
      snooze             |      \\
        |                v       v
        `---------- retrying    dead <--fail (no attempts left)

  The context passed to `transition/3` is the job itself, which the
  `:attempts_left?` guard inspects.
  """

  use JobRunner.StateMachine, initial: :queued

  require Logger

  alias JobRunner.Job

  permit [:queued, :retrying], :start, :running
  permit [:queued, :retrying], :cancel, :cancelled
  permit :running, :succeed, :succeeded
  permit :running, :fail, :retrying, if: :attempts_left?
  permit :running, :fail, :dead
  permit :running, :discard, :dead
  permit :running, :snooze, :queued
  permit :dead, :resurrect, :queued

  @impl true
  def on_transition(from, event, to, %Job{id: id}) do
    Logger.debug("job #{id}: #{from} --#{event}--> #{to}")
  end

  def on_transition(_from, _event, _to, _context), do: :ok

  @doc """
  Applies `event` to the job, updating its `state` field.
  """
  @spec advance(Job.t(), atom()) :: {:ok, Job.t()} | {:error, term()}
  def advance(%Job{state: state} = job, event) do
    with {:ok, next} <- transition(state, event, job) do
      {:ok, %{job | state: next}}
    end
  end

  @spec finished?(Job.t() | atom()) :: boolean()
  def finished?(%Job{state: state}), do: finished?(state)
  def finished?(state) when state in [:succeeded, :cancelled], do: true
  def finished?(_state), do: false

  defp attempts_left?(%Job{} = job), do: Job.attempts_left?(job)
  defp attempts_left?(_context), do: false
end
