defmodule BillingService.ConfigTest do
  use ExUnit.Case, async: true

  alias BillingService.Config

  @sample """
  # production billing settings
  [general]
  default_currency = eur
  payment_terms_days = 14   # two weeks

  [tax]
  default_rate_bps = 2000

  [gateway]
  adapter = live
  timeout_ms = 2500
  """

  describe "parse_config/1" do
    test "parses every known key" do
      assert {:ok, config} = Config.parse_config(@sample)

      assert %Config{
               default_currency: :EUR,
               payment_terms_days: 14,
               tax_rate_bps: 2000,
               gateway_adapter: :live,
               gateway_timeout_ms: 2500
             } = config
    end

    test "falls back to defaults for an empty file" do
      assert {:ok, %Config{default_currency: :USD, payment_terms_days: 30}} =
               Config.parse_config("")
    end

    test "reports syntax errors with line numbers" do
      assert {:error, {:syntax, 1, "key outside of any section"}} = Config.parse_config("a = 1")

      assert {:error, {:syntax, 2, "expected key = value"}} =
               Config.parse_config("[general]\njust words")

      assert {:error, {:syntax, 1, _}} = Config.parse_config("[broken")
    end

    test "rejects unknown keys and bad values" do
      assert {:error, {:unknown_key, "general.colour"}} =
               Config.parse_config("[general]\ncolour = red")

      assert {:error, {:invalid_value, "tax.default_rate_bps", "lots"}} =
               Config.parse_config("[tax]\ndefault_rate_bps = lots")
    end
  end

  describe "apply_env/2" do
    setup do
      {:ok, config} = Config.parse_config(@sample)
      %{config: config}
    end

    test "overrides values from BILLING_* variables", %{config: config} do
      env = %{
        "BILLING_GATEWAY__TIMEOUT_MS" => "900",
        "BILLING_PAYMENT_TERMS_DAYS" => "7",
        "HOME" => "/root"
      }

      assert {:ok, %Config{gateway_timeout_ms: 900, payment_terms_days: 7}} =
               Config.apply_env(config, env)
    end
  end

  @tag :tmp_dir
  test "load/1 reads from disk", %{tmp_dir: dir} do
    path = Path.join(dir, "billing.conf")
    File.write!(path, @sample)
    assert {:ok, %Config{default_currency: :EUR}} = Config.load(path)
    assert {:error, :enoent} = Config.load(Path.join(dir, "missing.conf"))
  end
end
