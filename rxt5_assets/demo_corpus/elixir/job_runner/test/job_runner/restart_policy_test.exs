defmodule JobRunner.RestartPolicyTest do
  use ExUnit.Case, async: true

  alias JobRunner.{RestartPolicy, Serializable}

  doctest JobRunner.RestartPolicy
  doctest JobRunner.Serializable.Helpers

  describe "new/1" do
    test "accepts valid options" do
      assert {:ok, %RestartPolicy{max_restarts: 2, mode: :transient}} =
               RestartPolicy.new(max_restarts: 2, mode: :transient)
    end

    test "rejects invalid options" do
      assert {:error, {:invalid_option, :mode, :sometimes}} = RestartPolicy.new(mode: :sometimes)

      assert {:error, {:invalid_option, :max_delay_ms, 10}} =
               RestartPolicy.new(base_delay_ms: 100, max_delay_ms: 10)
    end
  end

  describe "decide/4" do
    setup do
      {:ok, policy} =
        RestartPolicy.new(
          max_restarts: 3,
          window_ms: 1_000,
          base_delay_ms: 10,
          max_delay_ms: 1_000
        )

      %{policy: policy}
    end

    test "restarts with growing delays", %{policy: policy} do
      assert {:restart, 10, h1} = RestartPolicy.decide(policy, :crash, [], 0)
      assert {:restart, 20, h2} = RestartPolicy.decide(policy, :crash, h1, 100)
      assert {:restart, 40, h3} = RestartPolicy.decide(policy, :crash, h2, 200)
      assert {:give_up, :max_restarts_exceeded} = RestartPolicy.decide(policy, :crash, h3, 300)
    end

    test "forgets restarts outside the window", %{policy: policy} do
      history = [900, 800, 700]
      assert {:give_up, _} = RestartPolicy.decide(policy, :crash, history, 1_000)
      assert {:restart, 10, [5_000]} = RestartPolicy.decide(policy, :crash, history, 5_000)
    end

    test "transient processes are not restarted after a clean exit", %{policy: policy} do
      transient = %{policy | mode: :transient}
      assert :ignore = RestartPolicy.decide(transient, :normal, [], 0)
      assert :ignore = RestartPolicy.decide(transient, {:shutdown, :drained}, [], 0)
      assert {:restart, _, _} = RestartPolicy.decide(transient, :killed, [], 0)
    end

    test "temporary processes are never restarted", %{policy: policy} do
      assert :ignore = RestartPolicy.decide(%{policy | mode: :temporary}, :crash, [], 0)
    end
  end

  test "is serializable through @derive" do
    assert %{"type" => "restart_policy", "mode" => "permanent", "max_restarts" => 5} =
             Serializable.to_map(%RestartPolicy{})
  end

  test "jobs serialize with string keys" do
    {:ok, job} = JobRunner.Job.new(JobRunner.Workers.Echo, %{to: :ops}, id: "job_1")

    assert %{
             "id" => "job_1",
             "worker" => "JobRunner.Workers.Echo",
             "args" => %{"to" => "ops"},
             "state" => "queued"
           } = Serializable.to_map(job)
  end
end
