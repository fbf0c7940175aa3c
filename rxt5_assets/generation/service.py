"""The HTTP service: `rxt5 serve` — GeneratorEngine over Starlette + uvicorn.

    POST /generate   {"prompt": "...", "language": "elixir", "repo": "my-repo", "quality": "production",
                      "use_rag": true, "kind": null, "signature": null, "seed": null, "timeout_s": null,
                      "params": {"num_candidates": 4, "max_new_tokens": 128, ...}}
                     → 200 and GeneratorEngine's result JSON (`GenerationResult.as_dict()`), or the same JSON with an
                       `error` {code, message} and the status of `engine.ERROR_STATUS`: 400 a malformed request,
                       404 a repo with no chunks, 422 an invalid value or a production result below the quality bar
                       (the best candidate attached), 503 queue full (Retry-After) / no model / model not loadable,
                       504 past the time limit
    GET /health      200 {"status": "ok", ...} when a model is loaded, 503 {"status": "no_model"} otherwise; both
                     report the queue (running, waiting, limits)
    GET /version     the version being served: name, kind, base, backend, folder, when loaded, how many swaps

Concurrency: generation runs in a pool of `workers` threads (default 1: one model, one request at a time, every core
to it), so the event loop keeps answering /health, /version and refusals. At most `workers + max_queue` requests are
admitted (running or waiting); one more is refused at once with 503 queue_full. Each request has a time limit
(`timeout_s`, a client may ask for less): past it the client gets 504 and the worker abandons the request at its next
stage boundary (a generation call already running finishes first — its slot stays taken until then, so the queue bound
counts real work, not just open connections).

Hot swap: a watcher thread checks every `poll_s` seconds (and at once when a request notices that `models/active` has
moved) whether the link names a new deployment folder; it loads the new backend in its own thread and swaps the
engine's reference. Requests that started on the old version finish on it; new ones get the new one. A deployment
that fails to load leaves the old version serving (the error shows in /health and /version).
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from rxt5_assets.generation.cli import DEFAULT_PORT
from rxt5_assets.generation.engine import GenerationError, GenerationResult, GeneratorEngine

log = logging.getLogger(__name__)

_FIELDS: dict[str, tuple[type | tuple[type, ...], bool]] = {  # name → (types, required)
    "prompt": (str, True), "language": (str, True), "repo": ((str, type(None)), False),
    "quality": (str, False), "use_rag": (bool, False), "rag": (bool, False), "kind": ((str, type(None)), False),
    "signature": ((str, type(None)), False), "seed": ((int, type(None)), False),
    "timeout_s": ((int, float, type(None)), False), "params": ((dict, type(None)), False),
}


def _package_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("rxt5")
    except PackageNotFoundError:
        return None


def _is_a(value: Any, types) -> bool:
    """isinstance, except that JSON's true/false is not an int or a float."""
    types = types if isinstance(types, tuple) else (types,)
    return isinstance(value, types) and (bool in types or not isinstance(value, bool))


def _error_response(code: str, message: str, status: int | None = None, **extra):
    from starlette.responses import JSONResponse

    error = GenerationError(code, message)
    headers = {"Retry-After": "1"} if code == "queue_full" else None
    return JSONResponse({"ok": False, "error": {"code": code, "message": message}, **extra},
                        status_code=status or error.http_status, headers=headers)


class GenerationService:
    def __init__(self, engine: GeneratorEngine, *, max_queue: int = 8, workers: int = 1, timeout_s: float = 60.0,
                 poll_s: float = 1.0):
        if max_queue < 0 or workers < 1 or timeout_s <= 0 or poll_s <= 0:
            raise ValueError("max_queue >= 0, workers >= 1, timeout_s > 0 and poll_s > 0 are required")
        self.engine = engine
        self.engine.load_on_demand = False  # loading happens in the watcher, never on a request
        self.max_queue, self.workers, self.timeout_s, self.poll_s = max_queue, workers, timeout_s, poll_s
        self.admitted = 0  # running + waiting; changed on the event loop only
        self.running = 0
        self.served = 0
        self._running_lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None
        self._stop = threading.Event()
        self._kick = threading.Event()
        self._watcher: threading.Thread | None = None
        self.started_at = time.time()
        self.app = self._build_app()

    # ---- lifecycle --------------------------------------------------------------------------------------------------

    def start(self) -> None:
        """The worker pool and the watcher (the app's lifespan calls it); loads the active version first."""
        self._executor = ThreadPoolExecutor(self.workers, thread_name_prefix="rxt5-generate")
        self._stop.clear()
        self.engine.refresh()
        self._watcher = threading.Thread(target=self._watch, name="rxt5-model-watcher", daemon=True)
        self._watcher.start()

    def stop(self) -> None:
        self._stop.set()
        self._kick.set()
        if self._watcher is not None:
            self._watcher.join(timeout=30)
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
        log.info("generation service stopped after %d request(s)", self.served)

    def _watch(self) -> None:
        while not self._stop.is_set():
            self._kick.wait(self.poll_s)
            self._kick.clear()
            if self._stop.is_set():
                break
            try:
                self.engine.refresh()
            except Exception:  # never let the watcher die
                log.exception("model watcher")

    # ---- state ------------------------------------------------------------------------------------------------------

    def queue_state(self) -> dict[str, int]:
        running = self.running
        return {"running": running, "waiting": max(0, self.admitted - running), "workers": self.workers,
                "max_queue": self.max_queue}

    def health(self) -> tuple[int, dict[str, Any]]:
        loaded = self.engine.loaded
        body = {"status": "ok" if loaded else "no_model", "model_version": loaded.version if loaded else None,
                "backend": loaded.backend.name if loaded else None, "queue": self.queue_state(),
                "served": self.served, "uptime_s": round(time.time() - self.started_at, 1),
                "last_load_error": self.engine.last_load_error}
        return (200 if loaded else 503), body

    # ---- requests ---------------------------------------------------------------------------------------------------

    def _work(self, request: dict[str, Any], deadline: float) -> GenerationResult:
        with self._running_lock:
            self.running += 1
        try:
            return self.engine.code_generate(
                request["prompt"], request["language"], repo=request.get("repo"),
                quality=request.get("quality") or "standard",
                use_rag=bool(request.get("use_rag") or request.get("rag")), kind=request.get("kind"),
                signature=request.get("signature"), overrides=request.get("params"), seed=request.get("seed"),
                deadline=deadline)
        finally:
            with self._running_lock:
                self.running -= 1

    async def generate(self, request):
        from starlette.responses import JSONResponse

        try:
            body = json.loads(await request.body())
        except (ValueError, UnicodeDecodeError) as exc:
            return _error_response("bad_request", f"the body is not JSON: {exc}")
        if not isinstance(body, dict):
            return _error_response("bad_request", "the body must be a JSON object with at least prompt and language")
        problems = [f"unknown field {name!r}" for name in body if name not in _FIELDS]
        for name, (types, required) in _FIELDS.items():
            if name not in body:
                if required:
                    problems.append(f"{name!r} is required")
            elif not _is_a(body[name], types):
                problems.append(f"{name!r} has the wrong type ({type(body[name]).__name__})")
        if _is_a(body.get("timeout_s"), (int, float)) and body["timeout_s"] <= 0:
            problems.append("'timeout_s' must be > 0")
        if problems:
            return _error_response("bad_request", "; ".join(problems) + f"; fields: {', '.join(_FIELDS)}")
        if self.engine.link_changed():
            self._kick.set()  # the watcher loads the new version; this request is served by the current one
        if self.admitted >= self.workers + self.max_queue:
            return _error_response("queue_full", f"{self.admitted} request(s) are running or waiting (limit "
                                                 f"{self.workers} running + {self.max_queue} waiting); retry later",
                                   queue=self.queue_state())
        timeout = min(float(body.get("timeout_s") or self.timeout_s), self.timeout_s)
        deadline = time.monotonic() + timeout
        loop = asyncio.get_running_loop()
        self.admitted += 1
        future = loop.run_in_executor(self._executor, self._work, body, deadline)

        def finished(_):
            self.admitted -= 1
            self.served += 1

        future.add_done_callback(finished)
        try:
            result = await asyncio.wait_for(asyncio.shield(future), timeout)
        except asyncio.TimeoutError:
            return _error_response("time_limit", f"no result within the time limit of {timeout:g} s",
                                   prompt=body["prompt"], language=body["language"])
        return JSONResponse(result.as_dict(), status_code=result.http_status)

    def _build_app(self):
        from starlette.applications import Starlette
        from starlette.exceptions import HTTPException
        from starlette.responses import JSONResponse
        from starlette.routing import Route

        async def health(request):
            status, body = self.health()
            return JSONResponse(body, status_code=status)

        async def version(request):
            return JSONResponse({**self.engine.describe(), "rxt5": _package_version()})

        async def http_error(request, exc: HTTPException):
            code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
            return _error_response(code, f"{request.method} {request.url.path}: {exc.detail}", exc.status_code)

        @asynccontextmanager
        async def lifespan(app):
            await asyncio.to_thread(self.start)
            try:
                yield
            finally:
                await asyncio.to_thread(self.stop)

        return Starlette(routes=[Route("/generate", self.generate, methods=["POST"]),
                                 Route("/health", health, methods=["GET"]),
                                 Route("/version", version, methods=["GET"])],
                         exception_handlers={HTTPException: http_error}, lifespan=lifespan)


# ---------------------------------------------------------------------------------------------------------------------
# running it

def serve(service: GenerationService, host: str = "127.0.0.1", port: int = DEFAULT_PORT,
          log_level: str = "info") -> None:
    """Run until SIGINT/SIGTERM (uvicorn's handlers: in-flight requests finish, then the lifespan stops the pool;
    uvicorn then re-raises the signal, so the process's exit status says which one stopped it)."""
    import uvicorn

    uvicorn.run(service.app, host=host, port=port, log_level=log_level, timeout_graceful_shutdown=30)


@dataclass
class RunningServer:
    url: str
    port: int
    server: Any
    thread: threading.Thread

    def stop(self, timeout: float = 30) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)
        if self.thread.is_alive():
            raise RuntimeError(f"the server at {self.url} did not stop within {timeout} s")


def serve_in_thread(service: GenerationService, host: str = "127.0.0.1", port: int = 0,
                    log_level: str = "warning") -> RunningServer:
    """Start the service on (host, port) — port 0: a free one — in a background thread; returns once it listens.
    For tests and benchmarks; `.stop()` shuts it down."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(service.app, log_level=log_level, lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="rxt5-http", daemon=True)
    thread.start()
    started = time.monotonic()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the HTTP server stopped while starting (see the log)")
        if time.monotonic() - started > 120:
            server.should_exit = True
            raise RuntimeError("the HTTP server did not start within 120 s")
        time.sleep(0.02)
    return RunningServer(f"http://{host}:{port}", port, server, thread)
