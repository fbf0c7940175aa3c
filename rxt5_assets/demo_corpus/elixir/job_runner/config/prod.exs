import Config

config :job_runner, pool_size: 16
