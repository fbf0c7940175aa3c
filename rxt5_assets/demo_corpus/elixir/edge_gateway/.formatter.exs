[
  inputs: ["{mix,.formatter}.exs", "{config,lib,test}/**/*.{ex,exs}"],
  locals_without_parens: [get: 3, post: 3, put: 3, delete: 3, match: 4, plug: 1, plug: 2]
]
