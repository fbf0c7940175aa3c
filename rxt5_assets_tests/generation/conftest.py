"""Fixtures of the generation tests: the shipped demo base deployed as the active version of a home of their own (real
PostgreSQL rows, the real promotion code), an engine serving it, an HTTP client, and a backend wrapper that holds a real
backend's calls until the test lets them go (for deterministic queue-full, time-limit and hot-swap tests)."""

from __future__ import annotations

import contextlib
import json
import os
import threading
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from rxt5_assets.db import Database  # noqa: E402
from rxt5_assets_tests.training.conftest import one_torch_thread  # noqa: E402


@pytest.fixture(scope="package")
def one_thread():
    """Used by this package's engine/service/CLI tests (pytestmark), not forced on the package's other modules."""
    with one_torch_thread():
        yield


@contextlib.contextmanager
def no_fast_path_conversion():
    """These tests serve with the transformers backend: a deploy-time CTranslate2 conversion (the fast path, when it
    is merged) would only cost them time."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RXT5_FAST_PATH_CONVERT", "off")
        yield


@dataclass
class Deployed:
    home: Path
    database: Database
    version: str  # the demo base's version name (base-<fingerprint>)
    version_id: str


def deploy_demo_base(database: Database, home: Path) -> Deployed:
    """What `rxt5 switch --base` does for a version trained on `demo`: the base's own row, deployed."""
    from rxt5_assets.db.model_versions import ensure_base_version, get_version
    from rxt5_assets.evaluation.promotion import deploy
    from rxt5_assets.training.base_model import DEMO_BASE_DIR, demo_base_metadata

    with database.connect() as conn:
        version_id = ensure_base_version(conn, base_model="demo", base_model_path=str(DEMO_BASE_DIR),
                                         fingerprint=demo_base_metadata()["fingerprint"])
        name = get_version(conn, version_id)["version"]
    with no_fast_path_conversion():
        deploy(database, version_id, home=home)
    return Deployed(home, database, name, version_id)


@pytest.fixture(scope="package")
def package_database(admin_url):
    """One migrated database for the package's read-mostly tests (tests that switch versions use `database`)."""
    from rxt5_assets_tests.conftest import _with_database

    name = f"rxt5_test_gen_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    database = Database(_with_database(admin_url, name))
    database.migrate()
    yield database
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'drop database if exists "{name}" with (force)')


@pytest.fixture(scope="package")
def demo(package_database, tmp_path_factory) -> Deployed:
    return deploy_demo_base(package_database, tmp_path_factory.mktemp("gen-home"))


@pytest.fixture(scope="package")
def engine(demo):
    from rxt5_assets.generation.engine import GeneratorEngine

    return GeneratorEngine(demo.home, demo.database, backend="transformers")


class GatedBackend:
    """A real backend whose generate() waits until `gate` is set (and says when a call has entered)."""

    def __init__(self, inner, gate: threading.Event):
        self.inner, self.gate, self.name = inner, gate, inner.name
        self.entered = threading.Event()
        self.calls = 0

    def generate(self, prompts, params, prefixes=None):
        self.calls += 1
        self.entered.set()
        if not self.gate.wait(300):
            raise RuntimeError("the test never opened the gate")
        return self.inner.generate(prompts, params, prefixes=prefixes)


def call(url: str, method: str = "GET", body=None, timeout: float = 120) -> tuple[int, dict]:
    """A real HTTP request (urllib): (status, JSON body)."""
    data = None if body is None else body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())
