"""`rxt5 generate` (in process, on the deployed demo base) and `rxt5 serve` (a real subprocess on a free loopback port,
stopped with SIGTERM)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from rxt5_assets.cli import main
from rxt5_assets_tests.generation.conftest import call

pytestmark = pytest.mark.usefixtures("one_thread")


def generate(capsys, home, *argv):
    code = main(["--home", str(home), "generate", *argv, "--backend", "transformers"])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_generate_prints_the_code_then_a_summary_and_json_on_request(demo, capsys):
    code, out, err = generate(capsys, demo.home, "Returns the number of entries", "--language", "rust",
                              "--quality", "draft")
    assert code == 0 and "fn " in out  # the code on stdout
    summary = err.strip().splitlines()[-1]
    assert f"rust function · {demo.version} (transformers-fp32)" in summary and "best of 1" in summary
    code, out, err = generate(capsys, demo.home, "Create a GenServer for caching with TTL", "--language", "elixir",
                              "--repo", "my-repo", "-k", "2", "--max-new-tokens", "24", "--seed", "1", "--json")
    result = json.loads(out)
    assert code == 0 and result["ok"] and result["kind"] == "module" and result["repo"] == "my-repo"
    assert result["model_version"] == demo.version and sum(c["count"] for c in result["candidates"]) == 2


def test_production_refusal_exits_3_with_the_best_candidate_and_errors_exit_1(demo, capsys, tmp_path):
    params = tmp_path / "strict.toml"
    params.write_text('["*".production]\nlow_quality_threshold = 1.01\nnum_candidates = 2\nmax_new_tokens = 24\n')
    code, out, err = generate(capsys, demo.home, "Returns the number of entries", "--language", "rust",
                              "--quality", "production", "--params-file", str(params))
    assert code == 3 and out.strip()  # refused, the best candidate still printed
    assert "REFUSED (production)" in err and "below the threshold 1.01" in err
    code, out, err = generate(capsys, demo.home, "Returns the number of entries", "--language", "cobol", "--json")
    assert code == 1 and json.loads(out)["error"]["code"] == "unknown_language"
    code, out, err = generate(capsys, demo.home, "Create a cache", "--language", "elixir", "--rag")
    assert code == 1 and "repo_required" in err and out == ""
    code, out, err = generate(capsys, tmp_path / "nothing-deployed", "Create a cache", "--language", "rust")
    assert code == 1 and "no_model" in err and "rxt5 deploy" in err


def test_help_texts():
    for command in ("generate", "serve"):
        with pytest.raises(SystemExit) as exit_info:
            main([command, "--help"])
        assert exit_info.value.code == 0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_rxt5_serve_runs_as_a_process_and_stops_on_sigterm(demo, tmp_path):
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(os.getcwd()), os.environ.get("PYTHONPATH"))
                                                        if p)}
    log = (tmp_path / "serve.log").open("w")
    process = subprocess.Popen([sys.executable, "-m", "rxt5_assets.cli", "--home", str(demo.home), "serve",
                                "--port", str(port), "--backend", "transformers", "--log-level", "warning",
                                "--threads", "1"],
                               stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            assert process.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                status, health = call(url + "/health", timeout=5)
                break
            except OSError:
                assert time.monotonic() < deadline, "rxt5 serve did not answer"
                time.sleep(0.2)
        assert status == 200 and health["model_version"] == demo.version
        status, answer = call(url + "/generate", "POST", {"prompt": "Returns the number of entries",
                                                          "language": "rust", "quality": "draft"})
        assert status == 200 and answer["model_version"] == demo.version and answer["code"]
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            returncode = process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
        log.close()
    output = (tmp_path / "serve.log").read_text()
    # a graceful stop: the lifespan shut the pool down; uvicorn then re-raises SIGTERM (its documented behaviour)
    assert returncode in (0, -signal.SIGTERM), output
    assert "generation service stopped after 1 request(s)" in output
