import Config

config :job_runner,
  pool_size: 4,
  poll_interval_ms: 250,
  scheduler_tick_ms: 1_000

config :logger, level: :info

import_config "#{config_env()}.exs"
