defprotocol EdgeGateway.ResponseBody do
  @moduledoc """
  Turns handler return values into a content type and an iodata body.

  Handlers may return plain strings, maps (encoded as form data) or any
  struct that implements this protocol.
  """

  @doc "Returns `{content_type, body}`."
  @spec encode(t()) :: {String.t(), iodata()}
  def encode(value)
end

defimpl EdgeGateway.ResponseBody, for: BitString do
  def encode(text) when is_binary(text), do: {"text/plain; charset=utf-8", text}
end

defimpl EdgeGateway.ResponseBody, for: Map do
  def encode(map), do: {"application/x-www-form-urlencoded", EdgeGateway.QueryString.encode(map)}
end

defimpl EdgeGateway.ResponseBody, for: List do
  def encode(iodata), do: {"application/octet-stream", iodata}
end

defimpl EdgeGateway.ResponseBody, for: EdgeGateway.UpstreamError do
  def encode(error) do
    {"text/plain; charset=utf-8", ["upstream error: ", Exception.message(error)]}
  end
end
