ExUnit.start(capture_log: true, exclude: [:slow])
