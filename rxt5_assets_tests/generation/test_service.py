"""The HTTP service, a real uvicorn server on a free loopback port, called with a real HTTP client (urllib): the API
and its JSON errors, queue full (503) and the time limit (504) made deterministic by a worker held at a gate, a
service that starts with no model and picks one up, and the hot switch after a promotion with a request in flight."""

from __future__ import annotations

import threading
import time

import pytest

from rxt5_assets.generation.backends import load_backend
from rxt5_assets.generation.engine import GeneratorEngine
from rxt5_assets.generation.service import GenerationService, serve_in_thread
from rxt5_assets_tests.generation.conftest import (
    GatedBackend, call, deploy_demo_base, no_fast_path_conversion,
)

pytestmark = pytest.mark.usefixtures("one_thread")

DRAFT = {"prompt": "Returns the number of entries", "language": "rust", "quality": "draft"}


def wait_for(condition, what: str, timeout: float = 120.0):
    """Poll until condition() is truthy (a wait for a state, not a timed assertion)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def running():
    started = []

    def start(service: GenerationService):
        server = serve_in_thread(service)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def test_the_api_answers_with_the_engines_result_json(demo, running):
    server = running(GenerationService(GeneratorEngine(demo.home, demo.database, backend="transformers")))
    status, health = call(server.url + "/health")
    assert status == 200 and health["status"] == "ok" and health["model_version"] == demo.version
    assert health["queue"] == {"running": 0, "waiting": 0, "workers": 1, "max_queue": 8}
    status, version = call(server.url + "/version")
    assert status == 200 and version["version"] == demo.version and version["kind"] == "base"
    assert version["backend"] == "transformers-fp32" and version["swaps"] == 0

    status, result = call(server.url + "/generate", "POST", DRAFT)
    assert status == 200 and result["ok"] and result["error"] is None
    assert result["model_version"] == demo.version and result["model_input"].startswith("generate rust function: ")
    direct = GeneratorEngine(demo.home, backend="transformers").code_generate(**{
        k: v for k, v in DRAFT.items()}).as_dict()
    assert result["code"] == direct["code"]  # greedy: the same item as the Python API
    assert set(result) == set(direct)  # the same result JSON
    status, result = call(server.url + "/generate", "POST", {
        "prompt": "Create a GenServer for caching with TTL", "language": "elixir", "repo": "my-repo", "seed": 1,
        "params": {"num_candidates": 2, "max_new_tokens": 32}})
    assert status == 200 and result["kind"] == "module" and result["params"]["num_candidates"] == 2

    bad = [
        (b"not json", 400, "bad_request"),
        (b"[1, 2]", 400, "bad_request"),
        ({"language": "rust"}, 400, "bad_request"),
        ({"prompt": 5, "language": "rust"}, 400, "bad_request"),
        ({**DRAFT, "use_rag": "yes"}, 400, "bad_request"),
        ({**DRAFT, "seed": True}, 400, "bad_request"),
        ({**DRAFT, "temperature": 0.3}, 400, "bad_request"),  # unknown field: decoding overrides go in params
        ({**DRAFT, "timeout_s": 0}, 400, "bad_request"),
        ({**DRAFT, "prompt": "   "}, 422, "empty_prompt"),
        ({**DRAFT, "language": "cobol"}, 422, "unknown_language"),
        ({**DRAFT, "quality": "ultra"}, 422, "unknown_quality"),
        ({**DRAFT, "params": {"top_p": 2}}, 422, "bad_parameter"),
        ({**DRAFT, "use_rag": True}, 422, "repo_required"),
        ({**DRAFT, "use_rag": True, "repo": "no-such-repo"}, 404, "repo_has_no_chunks"),
        ({**DRAFT, "quality": "production", "params": {"low_quality_threshold": 1.01, "num_candidates": 2,
                                                      "max_new_tokens": 24}}, 422,
         "quality_below_threshold"),
    ]
    for body, expected_status, code in bad:
        status, answer = call(server.url + "/generate", "POST", body)
        assert (status, answer["error"]["code"]) == (expected_status, code), body
        assert answer["ok"] is False and answer["error"]["message"]
    assert call(server.url + "/nowhere")[0] == 404 and call(server.url + "/nowhere")[1]["error"]["code"] == "not_found"
    status, answer = call(server.url + "/generate")
    assert status == 405 and answer["error"]["code"] == "method_not_allowed"
    assert call(server.url + "/health")[1]["served"] >= 3


def test_queue_full_is_503_and_the_time_limit_is_504_with_a_held_worker(demo, running):
    gate = threading.Event()
    backends = []

    def gated(folder):
        backends.append(GatedBackend(load_backend(folder, kind="transformers", home=demo.home), gate))
        return backends[-1]

    engine = GeneratorEngine(demo.home, backend="transformers", backend_loader=gated)
    server = running(GenerationService(engine, max_queue=1, workers=1, timeout_s=60))
    answers = {}

    def send(name, body):
        answers[name] = call(server.url + "/generate", "POST", body)

    try:
        # A takes the only worker and stays inside generate(); its 0.5 s limit passes while it is held
        first = threading.Thread(target=send, args=("A", {**DRAFT, "timeout_s": 0.5}))
        first.start()
        wait_for(backends[0].entered.is_set, "A to reach the model")
        first.join(60)
        status, answer = answers["A"]
        assert status == 504 and answer["error"]["code"] == "time_limit"
        # A's work still holds the worker (it cannot be interrupted inside a model call): B waits in the queue
        second = threading.Thread(target=send, args=("B", DRAFT))
        second.start()
        wait_for(lambda: call(server.url + "/health")[1]["queue"] == {"running": 1, "waiting": 1, "workers": 1,
                                                                      "max_queue": 1}, "B to wait in the queue")
        status, answer = call(server.url + "/generate", "POST", DRAFT)  # C: one more than the queue holds
        assert status == 503 and answer["error"]["code"] == "queue_full"
        assert answer["queue"]["waiting"] == 1
        assert call(server.url + "/version")[0] == 200  # the event loop stays responsive meanwhile
    finally:
        gate.set()
    second.join(120)
    status, answer = answers["B"]
    assert status == 200 and answer["ok"] and answer["code"]
    wait_for(lambda: call(server.url + "/health")[1]["queue"]["running"] == 0, "the worker to be free")
    assert call(server.url + "/health")[1]["queue"]["waiting"] == 0
    assert backends[0].calls == 2  # A (abandoned after its call returned) and B: C never reached the model


def test_a_service_without_a_model_answers_503_and_picks_up_a_deployment(database, tmp_path, running):
    home = tmp_path / "home"
    server = running(GenerationService(GeneratorEngine(home, database, backend="transformers"), poll_s=0.1))
    status, health = call(server.url + "/health")
    assert status == 503 and health["status"] == "no_model"
    status, answer = call(server.url + "/generate", "POST", DRAFT)
    assert status == 503 and answer["error"]["code"] == "no_model"
    deployed = deploy_demo_base(database, home)  # no restart
    wait_for(lambda: call(server.url + "/health")[0] == 200, "the deployment to be loaded")
    status, answer = call(server.url + "/generate", "POST", DRAFT)
    assert status == 200 and answer["model_version"] == deployed.version


def test_hot_switch_after_a_promotion_with_a_request_in_flight(database, tmp_path, running):
    from rxt5_assets.evaluation.promotion import promote
    from rxt5_assets.training.config import TrainConfig
    from rxt5_assets.training.synthetic import synthetic_examples, write_jsonl
    from rxt5_assets.training.trainer import train
    from rxt5_assets_tests.evaluation.trained import register

    home = tmp_path / "home"
    base = deploy_demo_base(database, home)
    # a real (small) adapter on the demo base: two LoRA steps
    train_file = write_jsonl(tmp_path / "train.jsonl", synthetic_examples(16, seed=1, prefix="hot"))
    trained = train(TrainConfig(train_file=train_file, output_dir=tmp_path / "run", models_dir=home / "models",
                                base_model="demo", epochs=1, max_steps=2, train_batch_size=8, max_source_length=64,
                                max_target_length=64, logging_steps=1, warmup_ratio=0.0))
    with database.connect() as conn:
        register(conn, trained, "v-hot")

    gate = threading.Event()
    backends = {}

    def loader(folder):  # the old version's calls wait at the gate; the new version's do not
        inner = load_backend(folder, kind="transformers", home=home)
        backends[folder.name] = GatedBackend(inner, gate if folder.name == base.version else threading.Event())
        if folder.name != base.version:
            backends[folder.name].gate.set()
        return backends[folder.name]

    engine = GeneratorEngine(home, database, backend="transformers", backend_loader=loader)
    server = running(GenerationService(engine, poll_s=0.2, workers=2))
    assert call(server.url + "/version")[1]["version"] == base.version
    answers = {}
    in_flight = threading.Thread(target=lambda: answers.update(old=call(server.url + "/generate", "POST", DRAFT)))
    in_flight.start()
    try:
        wait_for(backends[base.version].entered.is_set, "the request to reach the old version")
        with no_fast_path_conversion():
            promote(database, "v-hot", home=home, force=True)  # never evaluated: forced (recorded as such)
        version = wait_for(lambda: (v := call(server.url + "/version")[1])["version"] == "v-hot" and v,
                           "the service to serve the promoted version")
        assert version["kind"] == "adapter" and version["swaps"] == 1
        # the new version answers while the old one still holds its in-flight request
        status, answer = call(server.url + "/generate", "POST", DRAFT)
        assert status == 200 and answer["model_version"] == "v-hot"
        assert in_flight.is_alive()
    finally:
        gate.set()
    in_flight.join(120)
    status, answer = answers["old"]
    assert status == 200 and answer["model_version"] == base.version  # finished on the old version
