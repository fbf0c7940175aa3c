defmodule EdgeGateway.RouterTest do
  use ExUnit.Case, async: true

  alias EdgeGateway.{Conn, Router}

  doctest EdgeGateway.Router

  defmodule Handlers do
    alias EdgeGateway.Conn

    def health(conn, _params), do: Conn.send_resp(conn, 200, "ok")
    def show_user(conn, %{"id" => id}), do: Conn.send_resp(conn, 200, "user " <> id)
    def create_user(conn, _params), do: Conn.send_resp(conn, 201, conn.body)
    def crash(_conn, _params), do: raise("handler bug")
  end

  defmodule Tagger do
    @behaviour EdgeGateway.Plug

    @impl true
    def init(opts), do: Keyword.fetch!(opts, :tag)

    @impl true
    def call(conn, tag), do: Conn.put_resp_header(conn, "x-tag", tag)
  end

  defmodule Routes do
    use EdgeGateway.Router.DSL

    plug EdgeGateway.RouterTest.Tagger, tag: "edge"

    get "/health", EdgeGateway.RouterTest.Handlers, :health
    get "/users/:id", EdgeGateway.RouterTest.Handlers, :show_user
    post "/users", EdgeGateway.RouterTest.Handlers, :create_user
    get "/crash", EdgeGateway.RouterTest.Handlers, :crash
  end

  describe "runtime Router" do
    setup do
      router =
        Router.new()
        |> Router.add_route!("GET", "/files/*path", fn conn, %{"path" => path} ->
          Conn.send_resp(conn, 200, Enum.join(path, "/"))
        end)
        |> Router.add_route!("get", "/users/:id", {Handlers, :show_user})
        |> Router.add_route!("DELETE", "/users/:id", {Handlers, :health})

      %{router: router}
    end

    test "route/3 extracts params", %{router: router} do
      assert {:ok, {Handlers, :show_user}, %{"id" => "42"}} =
               Router.route(router, "GET", ["users", "42"])
    end

    test "route/3 distinguishes 404 from 405", %{router: router} do
      assert {:error, :not_found} = Router.route(router, "GET", ["nope"])

      assert {:error, {:method_not_allowed, ["GET", "DELETE"]}} =
               Router.route(router, "PUT", ["users", "1"])
    end

    test "HEAD falls back to GET", %{router: router} do
      assert {:ok, _handler, _params} = Router.route(router, "HEAD", ["users", "1"])
    end

    test "globs capture the rest of the path", %{router: router} do
      conn = Router.dispatch(router, Conn.new("GET", "/files/a/b/c.txt"))
      assert conn.resp_body == "a/b/c.txt"
    end

    test "add_route/4 validates input", %{router: router} do
      assert {:error, :duplicate_route} =
               Router.add_route(router, "GET", "/users/:user_id", {Handlers, :health})

      assert {:error, {:unknown_method, "BREW"}} =
               Router.add_route(router, "BREW", "/coffee", {Handlers, :health})

      assert {:error, :glob_must_be_last} =
               Router.add_route(router, "GET", "/a/*rest/b", {Handlers, :health})

      assert {:error, {:must_start_with_slash, "x"}} =
               Router.add_route(router, "GET", "x", {Handlers, :health})
    end

    test "405 responses list the allowed methods", %{router: router} do
      conn = Router.dispatch(router, Conn.new("POST", "/users/9"))
      assert conn.status == 405
      assert Conn.get_resp_header(conn, "allow") == ["GET, DELETE"]
    end
  end

  describe "Router.DSL" do
    test "exposes the declared routes" do
      assert Routes.__routes__() == [
               {"GET", "/health"},
               {"GET", "/users/:id"},
               {"POST", "/users"},
               {"GET", "/crash"}
             ]
    end

    test "runs plugs, then dispatches" do
      conn = EdgeGateway.handle(Conn.new("GET", "/users/7?verbose=1"), Routes)
      assert conn.status == 200
      assert conn.resp_body == "user 7"
      assert conn.query_params == %{"verbose" => "1"}
      assert Conn.get_resp_header(conn, "x-tag") == ["edge"]
    end

    test "handler exceptions become 500s" do
      conn = EdgeGateway.handle(Conn.new("GET", "/crash"), Routes)
      assert {500, "internal server error"} = {conn.status, conn.resp_body}
    end

    test "build_conn/4 parses raw headers" do
      {:ok, conn} =
        EdgeGateway.build_conn("post", "/users", "Content-Type: text/plain\r\n", "hello")

      conn = EdgeGateway.handle(conn, Routes)
      assert {201, "hello"} = {conn.status, conn.resp_body}
    end
  end
end
