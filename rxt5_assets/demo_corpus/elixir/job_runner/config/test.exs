import Config

config :job_runner,
  pool_size: 1,
  poll_interval_ms: 50

config :logger, level: :warning
