"""The fast CPU path on real models: a tiny base and a LoRA adapter trained on it (trained.py's builders), deployed by
promotion's own folder builder, converted to CTranslate2, and compared with transformers' `model.generate` on the same
prompts. No mocks: "ctranslate2 unavailable" is a `sys.modules` entry set to None, which makes the import fail as it
does on a machine without the package."""

from __future__ import annotations

import json
import logging
import sys
import threading
import uuid
from pathlib import Path

import pytest

from rxt5_assets.evaluation.promotion import DEPLOYMENTS_DIR, _deployment_folder, deploy, read_deployment
from rxt5_assets.generation.backends import SamplingParams, TransformersBackend, load_backend
from rxt5_assets.generation.ctranslate import (
    AUTO_QUANTIZATION, CTranslate2Backend, ConversionError, _failure_marker, _reference, _verify, cache_folder,
    ensure_converted, is_converted, load_ctranslate2_backend, merged_model,
)
from rxt5_assets.training.data import read_jsonl
from rxt5_assets_tests.evaluation.trained import adapter_config, build_base, one_torch_thread, register, write_data

ADAPTER_STEPS = 24  # enough to move the adapter's greedy output away from the base's (checked below)
GREEDY = SamplingParams(max_new_tokens=48, repetition_penalty=1.2)  # the serving defaults, shorter


class Fixture:
    def __init__(self, home: Path, result, prompts: list[str]):
        self.home = home
        self.models = home / "models"
        self.result = result
        self.prompts = prompts

    def adapter_version(self, name: str) -> dict:
        r = self.result
        return {"version": name, "id": str(uuid.uuid4()), "base_model": r.base_model,
                "adapter_path": str(r.adapter_dir),
                "hyperparameters": {**r.hyperparameters, "base_model_path": r.base_model_path,
                                    "base_fingerprint": r.base_fingerprint}}

    def base_version(self, name: str) -> dict:
        r = self.result
        return {"version": name, "id": str(uuid.uuid4()), "base_model": r.base_model, "adapter_path": None,
                "hyperparameters": {"kind": "base", "base_model_path": r.base_model_path,
                                    "base_fingerprint": r.base_fingerprint}}

    def deployment(self, version: dict) -> Path:
        """A deployment folder built by promotion's own builder (what `rxt5 deploy` makes), no database needed."""
        return _deployment_folder(self.models, version)


@pytest.fixture(scope="module")
def fast(tmp_path_factory):
    """A home whose models/ holds the tiny base, and one LoRA adapter trained on it."""
    from rxt5_assets.training.trainer import train

    home = tmp_path_factory.mktemp("fast-home")
    train_file, eval_file, _ = write_data(home / "data")
    with one_torch_thread():
        build_base(home / "models", train_file)
        result = train(adapter_config(train_file, eval_file, home / "adapter", home / "models", steps=ADAPTER_STEPS))
    prompts = [e.input for e in read_jsonl(eval_file)][:6]
    return Fixture(home, result, prompts)


@pytest.fixture(scope="module")
def adapter_deployment(fast) -> Path:
    return fast.deployment(fast.adapter_version("v-fast-adapter"))


def reference_backend(deployment: Path, fast: Fixture) -> TransformersBackend:
    backend = load_backend(deployment, kind="transformers", home=fast.home)
    assert isinstance(backend, TransformersBackend)
    return backend


def test_an_adapter_converts_and_ct2_fp32_greedy_equals_transformers(fast, adapter_deployment):
    with one_torch_thread():
        converted = ensure_converted(adapter_deployment, "fp32", home=fast.home)
        assert converted.built and converted.folder == adapter_deployment / "ct2-fp32"
        assert is_converted(converted.folder) and (converted.folder / "tokenizer.json").is_file()
        check = converted.manifest["verification"]
        assert check["greedy_token_agreement"] == [1.0, 1.0] and check["max_logprob_drift"] <= 1e-3
        ct2 = load_ctranslate2_backend(adapter_deployment, kind="ctranslate2-fp32", home=fast.home, threads=1)
        assert ct2.name == "ctranslate2-fp32"
        expected = reference_backend(adapter_deployment, fast).generate(fast.prompts, GREEDY)
        got = ct2.generate(fast.prompts, GREEDY)
    # the unmerged PEFT model (what transformers serves) and the merged, converted one decode the same strings
    assert got == expected
    assert all(len(c) == 1 for c in got) and any(c[0].strip() for c in got)


def test_decoder_prefixes_and_no_repeat_ngrams_agree_between_ct2_and_transformers(fast, adapter_deployment):
    """A prefix (an implement prompt's signature) starts its output on both backends, counts toward the token budget,
    and greedy decoding with it is the same string on both; no_repeat_ngram_size 4 leaves no 4-gram twice."""
    prompts = fast.prompts[:4]
    prefixes = ["pub fn total(amounts: &[u64]) -> u64", None, "defmodule Cache.Store", "pub struct Money"]
    params = SamplingParams(max_new_tokens=32, repetition_penalty=1.0, no_repeat_ngram_size=4)
    with one_torch_thread():
        ensure_converted(adapter_deployment, "fp32", home=fast.home)
        ct2 = load_ctranslate2_backend(adapter_deployment, kind="ctranslate2-fp32", home=fast.home, threads=1)
        reference = reference_backend(adapter_deployment, fast)
        expected = reference.generate(prompts, params, prefixes=prefixes)
        got = ct2.generate(prompts, params, prefixes=prefixes)
        ids = ct2.generate_ids(prompts, params, prefixes=prefixes)
        sampled = ct2.generate(prompts, SamplingParams(max_new_tokens=32, num_candidates=3, seed=3), prefixes=prefixes)
        unprefixed = reference.generate(prompts, params)
    assert got == expected
    for prefix, (text,), candidates in zip(prefixes, got, sampled):
        if prefix:
            assert text.startswith(prefix) and all(c.startswith(prefix) for c in candidates), (prefix, text)
    assert got[1] == unprefixed[1]  # a prompt without a prefix decodes as before
    for (row,) in ids:
        assert len(row) <= 32  # the prefix's tokens are part of the budget
        grams = [tuple(row[i:i + 4]) for i in range(len(row) - 3)]
        assert len(grams) == len(set(grams)), row


def test_the_base_converts_and_matches_and_verification_catches_a_different_model(fast, adapter_deployment):
    base_deployment = fast.deployment(fast.base_version("base-fast"))
    with one_torch_thread():
        converted = ensure_converted(base_deployment, "fp32", home=fast.home)
        expected = reference_backend(base_deployment, fast).generate(fast.prompts, GREEDY)
        ct2 = CTranslate2Backend(converted.folder, quantization="fp32", threads=1)
        assert ct2.generate(fast.prompts, GREEDY) == expected
        # the adapter learned something: the base's converted model does not pass as the adapter's
        adapter_model, tokenizer = merged_model(adapter_deployment, home=fast.home)
        adapter_reference = _reference(adapter_model, tokenizer)
        base_model, _ = merged_model(base_deployment, home=fast.home)
        assert [r["tokens"] for r in _reference(base_model, tokenizer)] != [r["tokens"] for r in adapter_reference]
        with pytest.raises(ConversionError, match="differs|drift"):
            _verify(converted.folder, tokenizer, adapter_reference, "fp32")


def test_the_cache_is_built_once_and_concurrent_converters_share_one_build(fast):
    deployment = fast.deployment(fast.adapter_version("v-fast-concurrent"))
    barrier = threading.Barrier(2)
    results, errors = [], []

    def convert():
        try:
            barrier.wait()
            results.append(ensure_converted(deployment, "int8", home=fast.home))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    with one_torch_thread():
        threads = [threading.Thread(target=convert) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
    assert not errors
    assert sorted(r.built for r in results) == [False, True]  # one converted, the other waited and reused it
    assert len({r.manifest["conversion_id"] for r in results}) == 1
    assert not [p.name for p in deployment.iterdir() if p.name.startswith(".ct2-build")]  # no half-built leftovers
    model_bin = cache_folder(deployment, "int8") / "model.bin"
    before = model_bin.stat()
    with one_torch_thread():
        backend = load_ctranslate2_backend(deployment, kind="ctranslate2-int8", home=fast.home, threads=1)
        again = ensure_converted(deployment, "int8", home=fast.home)
    after = model_bin.stat()
    assert backend.name == "ctranslate2-int8" and not again.built
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)  # not converted again
    assert [len(c) for c in backend.generate(fast.prompts[:2], GREEDY)] == [1, 1]


def test_a_killed_converters_leftovers_are_replaced_by_a_complete_model(fast):
    deployment = fast.deployment(fast.adapter_version("v-fast-leftovers"))
    (deployment / ".ct2-build-deadbeef" / "merged").mkdir(parents=True)  # a converter killed mid-build
    partial = cache_folder(deployment, "fp32")
    partial.mkdir()
    (partial / "model.bin").write_bytes(b"half a model")  # no manifest: never published by rxt5
    with one_torch_thread():
        converted = ensure_converted(deployment, "fp32", home=fast.home)
        assert converted.built and is_converted(partial)
        assert not list(deployment.glob(".ct2-build-*"))  # the dead builder's folder is gone too
        backend = CTranslate2Backend(partial, quantization="fp32", threads=1)
        assert backend.generate(fast.prompts[:1], GREEDY) == \
            reference_backend(deployment, fast).generate(fast.prompts[:1], GREEDY)


def test_k_candidates_sampled_reproducibly(fast, adapter_deployment):
    with one_torch_thread():
        backend = load_ctranslate2_backend(adapter_deployment, kind="ctranslate2-int8", home=fast.home, threads=1)
        params = SamplingParams(max_new_tokens=24, num_candidates=4, temperature=0.8, top_p=0.95, seed=3)
        first = backend.generate(fast.prompts[:3], params)
        second = backend.generate(fast.prompts[:3], params)
    assert [len(c) for c in first] == [4, 4, 4]
    assert first == second  # the seed makes sampling reproducible
    assert any(len(set(c)) > 1 for c in first)  # and it samples: not four copies of the greedy output


def test_fallback_to_transformers(fast, adapter_deployment, monkeypatch):
    with one_torch_thread():
        # a device CTranslate2 does not serve under "auto": the caller uses transformers
        assert load_ctranslate2_backend(adapter_deployment, kind="auto", device="cuda", home=fast.home) is None
        assert load_backend(adapter_deployment, kind="auto", home=fast.home).name == \
            f"ctranslate2-{AUTO_QUANTIZATION}"
        # a conversion that failed before: auto falls back at once, an explicit kind says why
        fresh = fast.deployment(fast.adapter_version("v-fast-failed"))
        _failure_marker(fresh, AUTO_QUANTIZATION).write_text(json.dumps({"reason": "probe mismatch"}))
        assert isinstance(load_backend(fresh, kind="auto", home=fast.home), TransformersBackend)
        with pytest.raises(ConversionError, match="probe mismatch"):
            load_ctranslate2_backend(fresh, kind=f"ctranslate2-{AUTO_QUANTIZATION}", home=fast.home)
        assert not cache_folder(fresh, AUTO_QUANTIZATION).exists()
        # ctranslate2 not importable (as on a machine without it): None, and load_backend serves transformers
        monkeypatch.setitem(sys.modules, "ctranslate2", None)
        assert load_ctranslate2_backend(adapter_deployment, kind="auto", home=fast.home) is None
        backend = load_backend(adapter_deployment, kind="auto", home=fast.home)
        assert isinstance(backend, TransformersBackend) and backend.name == "transformers-fp32"
        assert len(backend.generate(fast.prompts[:2], GREEDY)) == 2


def test_deploying_builds_the_cache_once_and_a_failed_conversion_does_not_fail_the_deploy(
        fast, database, monkeypatch, caplog, tmp_path):
    import shutil

    home = tmp_path / "home"
    shutil.copytree(fast.models / "tiny", home / "models" / "tiny")  # the base the adapter loads onto
    with database.connect() as conn:
        register(conn, fast.result, "v-fast-deployed")
        register(conn, fast.result, "v-fast-second")
    with one_torch_thread():
        first = deploy(database, "v-fast-deployed", home=home)
        folder = Path(first.path)
        assert folder.parent == home / "models" / DEPLOYMENTS_DIR and read_deployment(home)["version"] == \
            "v-fast-deployed"
        converted = cache_folder(folder, AUTO_QUANTIZATION)
        assert is_converted(converted)  # built at deployment, before any request
        stamp = (converted / "model.bin").stat().st_mtime_ns
        deploy(database, "v-fast-deployed", home=home)  # already active: the cache is reused, not rebuilt
        assert (converted / "model.bin").stat().st_mtime_ns == stamp
        # CTranslate2 missing at deploy time: the deploy stands, and transformers serves it
        monkeypatch.setitem(sys.modules, "ctranslate2", None)
        with caplog.at_level(logging.INFO, logger="rxt5_assets.generation.ctranslate"):
            second = deploy(database, "v-fast-second", home=home)
    assert second.changed and read_deployment(home)["version"] == "v-fast-second"
    assert not cache_folder(Path(second.path), AUTO_QUANTIZATION).exists()
    assert "transformers" in caplog.text


def test_one_backend_serves_concurrent_request_threads(fast, adapter_deployment):
    """What the HTTP service does: several request threads share one backend; each gets its own prompts' output."""
    with one_torch_thread():
        backend = load_ctranslate2_backend(adapter_deployment, kind="auto", home=fast.home, threads=1)
        expected = {p: backend.generate([p], GREEDY)[0] for p in fast.prompts}
        got, errors = {}, []
        barrier = threading.Barrier(len(fast.prompts))

        def request(prompt):
            try:
                barrier.wait()
                for _ in range(3):
                    got.setdefault(prompt, []).append(backend.generate([prompt], GREEDY)[0])
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=request, args=(p,)) for p in fast.prompts]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
    assert not errors
    assert got == {p: [expected[p]] * 3 for p in fast.prompts}
