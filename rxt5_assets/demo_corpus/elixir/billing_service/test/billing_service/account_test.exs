defmodule BillingService.AccountTest do
  use ExUnit.Case, async: true

  alias BillingService.{Account, AccountServer, InsufficientFundsError, Money}

  setup do
    {:ok, account} =
      Account.open("acct_1", :EUR, owner: "Ada") |> Account.deposit(Money.new(10_000, :EUR))

    %{account: account}
  end

  describe "deposit/2" do
    test "increases the balance", %{account: account} do
      assert {:ok, account} = Account.deposit(account, Money.new(250, :EUR))
      assert Account.balance(account) == Money.new(10_250, :EUR)
    end

    test "rejects zero and foreign currency", %{account: account} do
      assert {:error, :non_positive_amount} = Account.deposit(account, Money.new(0, :EUR))

      assert {:error, {:currency_mismatch, :EUR, :USD}} =
               Account.deposit(account, Money.new(1, :USD))
    end

    test "is refused on frozen accounts", %{account: account} do
      {:ok, frozen} = Account.freeze(account)

      assert {:error, {:account_not_active, :frozen}} =
               Account.deposit(frozen, Money.new(1, :EUR))
    end
  end

  describe "withdraw/2" do
    test "decreases the balance", %{account: account} do
      assert {:ok, account} = Account.withdraw(account, Money.new(4_000, :EUR))
      assert Account.balance(account).amount == 6_000
    end

    test "respects the overdraft limit" do
      account = Account.open("acct_2", :EUR, overdraft_limit: 500)
      assert {:ok, account} = Account.withdraw(account, Money.new(500, :EUR))
      assert Account.balance(account).amount == -500
      assert {:error, {:insufficient_funds, _, _}} = Account.withdraw(account, Money.new(1, :EUR))
    end

    test "withdraw!/2 raises InsufficientFundsError", %{account: account} do
      assert_raise InsufficientFundsError, ~r/acct_1 cannot cover 200.00 EUR/, fn ->
        Account.withdraw!(account, Money.new(20_000, :EUR))
      end
    end
  end

  test "statement/1 lists movements oldest first", %{account: account} do
    {:ok, account} = Account.withdraw(account, Money.new(1_000, :EUR))
    assert [{:deposit, _}, {:withdrawal, %Money{amount: 1_000}}] = Account.statement(account)
  end

  test "close/1 requires a zero balance", %{account: account} do
    assert {:error, :balance_not_zero} = Account.close(account)
    {:ok, emptied} = Account.withdraw(account, Money.new(10_000, :EUR))
    assert {:ok, %Account{status: :closed}} = Account.close(emptied)
  end

  describe "AccountServer" do
    setup do
      server = start_supervised!({AccountServer, name: nil})
      {:ok, _} = AccountServer.open_account(server, "a", :USD)
      {:ok, _} = AccountServer.open_account(server, "b", :USD)
      {:ok, _} = AccountServer.deposit(server, "a", Money.new(1_000, :USD))
      %{server: server}
    end

    test "transfers atomically", %{server: server} do
      assert :ok = AccountServer.transfer(server, "a", "b", Money.new(400, :USD))
      assert {:ok, %Money{amount: 600}} = AccountServer.balance(server, "a")
      assert {:ok, %Money{amount: 400}} = AccountServer.balance(server, "b")
    end

    test "leaves both balances untouched on failure", %{server: server} do
      assert {:error, {:insufficient_funds, _, _}} =
               AccountServer.transfer(server, "a", "b", Money.new(5_000, :USD))

      assert {:ok, %Money{amount: 1_000}} = AccountServer.balance(server, "a")
      assert {:ok, %Money{amount: 0}} = AccountServer.balance(server, "b")
    end

    test "reports unknown accounts", %{server: server} do
      assert {:error, {:not_found, "zzz"}} =
               AccountServer.withdraw(server, "zzz", Money.new(1, :USD))
    end
  end
end
