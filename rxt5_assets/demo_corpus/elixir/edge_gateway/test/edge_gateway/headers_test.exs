defmodule EdgeGateway.HeadersTest do
  use ExUnit.Case, async: true

  alias EdgeGateway.Headers

  doctest EdgeGateway.Headers
  doctest EdgeGateway.QueryString

  describe "parse_header/1" do
    test "lower-cases names and trims values" do
      assert {:ok, {"content-length", "42"}} = Headers.parse_header("Content-Length:42")
    end

    test "keeps colons inside the value" do
      assert {:ok, {"host", "example.com:8080"}} = Headers.parse_header("Host: example.com:8080")
    end

    test "rejects invalid names" do
      assert {:error, :invalid_name} = Headers.parse_header("Bad Name: x")
      assert {:error, :empty_name} = Headers.parse_header(": value")

      assert {:error, :header_too_large} =
               Headers.parse_header("x: " <> String.duplicate("a", 9_000))
    end
  end

  describe "parse_headers/1" do
    test "parses a block and unfolds continuation lines" do
      block = "Host: a.test\r\nX-Long: part one\r\n  part two\r\nAccept: */*\r\n"

      assert {:ok, [{"host", "a.test"}, {"x-long", "part one part two"}, {"accept", "*/*"}]} =
               Headers.parse_headers(block)
    end

    test "reports the index of the first bad line" do
      assert {:error, {2, :missing_colon}} = Headers.parse_headers("Host: a\r\ngarbage\r\n")
    end
  end

  describe "parse_accept/1" do
    test "orders by quality, then specificity" do
      accept = "text/*;q=0.5, application/json, */*;q=0.1, text/html;q=0.5, image/png;q=0"

      assert Headers.parse_accept(accept) == [
               {"application/json", 1.0},
               {"text/html", 0.5},
               {"text/*", 0.5},
               {"*/*", 0.1}
             ]
    end
  end

  describe "parse_authorization/1" do
    test "bearer tokens" do
      assert {:ok, {:bearer, "abc.def"}} = Headers.parse_authorization("Bearer abc.def")
    end

    test "basic credentials" do
      encoded = Base.encode64("ada:s3cret:with:colons")

      assert {:ok, {:basic, "ada", "s3cret:with:colons"}} =
               Headers.parse_authorization("Basic " <> encoded)

      assert {:error, :invalid_base64} = Headers.parse_authorization("Basic %%%")
    end

    test "unknown schemes" do
      assert {:error, :unsupported_scheme} = Headers.parse_authorization("Digest foo")
    end
  end

  test "parse_cookies/1" do
    assert Headers.parse_cookies("session=abc; theme=dark; =bad; flag") == %{
             "session" => "abc",
             "theme" => "dark"
           }
  end

  test "parse_media_type/1 rejects missing subtype" do
    assert :error = Headers.parse_media_type("text")
    assert {:ok, {"application", "json", %{}}} = Headers.parse_media_type("Application/JSON")
  end
end
