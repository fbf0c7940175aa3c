"""`rxt5 generate` and `rxt5 serve` (argparse only at import: torch loads when a command runs)."""

from __future__ import annotations

import argparse
import json
import sys

BACKENDS = ("auto", "transformers", "ctranslate2-int8", "ctranslate2-fp32")
EXIT_ERROR, EXIT_REFUSED = 1, 3
DEFAULT_PORT = 8765


def _engine(args: argparse.Namespace, **kwargs):
    from rxt5_assets.db import Database

    if args.threads:
        import os

        import torch

        torch.set_num_threads(args.threads)
        os.environ["RXT5_GENERATION_THREADS"] = str(args.threads)  # the CTranslate2 fast path's threads
    from rxt5_assets.generation.engine import GeneratorEngine

    return GeneratorEngine(args.home, Database(home=args.home), backend=args.backend, device=args.device,
                           params_file=args.params_file, **kwargs)


def _summary(result) -> str:
    if result.error is not None and result.error.code != "quality_below_threshold":
        return f"rxt5 generate: {result.error.code}: {result.error.message}"
    valid = sum(1 for c in result.candidates if c.strict_valid)
    total = sum(c.count for c in result.candidates)
    parts = [f"{result.language} {result.kind or 'item'}", f"{result.model_version} ({result.backend})",
             f"quality {result.quality_score:.2f}" if result.quality_score is not None else "no quality score",
             "strict-valid" if result.strict_valid else "NOT strict-valid",
             f"best of {total} ({valid} distinct strict-valid)",
             f"{len(result.retrieved)} retrieved" if result.use_rag else None,
             f"{result.timings.get('total_s', 0):.2f} s"]
    line = " · ".join(p for p in parts if p)
    if result.error is not None:
        return f"rxt5 generate: REFUSED ({result.quality}): {result.error.message}\n{line}"
    if result.low_quality:
        line += " · LOW QUALITY: " + "; ".join(result.low_quality_reasons)
    return line


def cmd_generate(args: argparse.Namespace) -> int:
    overrides = {name: value for name, value in (("num_candidates", args.candidates),
                                                 ("max_new_tokens", args.max_new_tokens),
                                                 ("temperature", args.temperature)) if value is not None}
    result = _engine(args).code_generate(args.prompt, args.language, repo=args.repo, quality=args.quality,
                                         use_rag=args.rag, kind=args.kind, signature=args.signature,
                                         overrides=overrides or None, seed=args.seed, time_limit_s=args.timeout)
    if args.json:
        print(json.dumps(result.as_dict(), indent=2))
    else:
        if result.code is not None:
            print(result.code)
        print(_summary(result), file=sys.stderr)
    if result.error is None:
        return 0
    return EXIT_REFUSED if result.error.code == "quality_below_threshold" else EXIT_ERROR


def cmd_serve(args: argparse.Namespace) -> int:
    import logging

    from rxt5_assets.generation.service import GenerationService, serve

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    service = GenerationService(_engine(args, time_limit_s=args.timeout), max_queue=args.max_queue,
                                workers=args.workers, timeout_s=args.timeout, poll_s=args.poll)
    print(f"rxt5 serve: http://{args.host}:{args.port} (POST /generate, GET /health, GET /version); "
          f"serving {service.engine.home / 'models' / 'active'}", file=sys.stderr, flush=True)
    serve(service, host=args.host, port=args.port, log_level=args.log_level)
    return 0


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backend", choices=BACKENDS, default="auto",
                        help="decoding backend: auto (the CTranslate2 fast path on CPU when the version has been "
                             "converted, else transformers), or one of them explicitly (default: %(default)s)")
    parser.add_argument("--device", default=None, help="torch device for the transformers backend (default: CPU)")
    parser.add_argument("--threads", type=int, default=None, metavar="N",
                        help="decoding threads, for either backend (default: one per core; on a machine busy "
                             "with other work 1 is much faster — measured 7x for transformers at load 11 on 2 cores)")
    parser.add_argument("--params-file", default=None, metavar="TOML",
                        help="decoding parameters per language and quality level (default: "
                             "$RXT5_HOME/generation.toml when it exists; see rxt5_assets/generation/params.py)")


def add_generation_commands(subparsers) -> None:
    from rxt5_assets.generation.params import QUALITY_LEVELS

    gen = subparsers.add_parser(
        "generate", help="generate code with the active version (scored, gated, optionally retrieval-augmented)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Generate a Rust or Elixir item from a description with the active version ($RXT5_HOME/models/active): "
            "k candidates, each scored by strict validity (a whole item of the requested kind that parses) and the "
            "language's quality score; the best is printed (stdout), then a one-line summary (stderr). Generated "
            "code is only parsed, never compiled or run.\n\n"
            "quality levels: draft (1 greedy), standard (best of 4, flags below 0.5), production (best of 8; below "
            "0.7 or not strict-valid it is refused: exit status 3, the best candidate still printed).\n"
            "exit status: 0 a result, 1 an error (bad input, no model, no chunks for --rag, time limit), 3 refused "
            "by --quality production."),
        epilog='example:\n  rxt5 generate "Create a GenServer for caching with TTL" --language elixir '
               '--repo my-repo --quality production --rag')
    gen.add_argument("prompt", help="what to generate, in words (the model saw item descriptions: first doc "
                                    "paragraphs)")
    gen.add_argument("--language", "-l", required=True, help="rust or elixir")
    gen.add_argument("--repo", default=None, help="the repo the code is for; with --rag, whose chunks to retrieve")
    gen.add_argument("--quality", default="standard", help=f"{' | '.join(QUALITY_LEVELS)} or a level of the params "
                                                           "file (default: %(default)s)")
    gen.add_argument("--rag", action="store_true", help="retrieve similar chunks of --repo into the prompt")
    gen.add_argument("--kind", default=None, help="item kind to ask for (rust: function, struct, enum, trait, ...; "
                                                  "elixir: module, def, defp, ...; default: guessed from the prompt)")
    gen.add_argument("--signature", default=None, help="a signature to implement (the `implement` task: the item "
                                                       "without docs is generated)")
    gen.add_argument("--candidates", "-k", type=int, default=None, help="number of candidates (overrides the level)")
    gen.add_argument("--max-new-tokens", type=int, default=None, help="tokens per candidate (overrides the level)")
    gen.add_argument("--temperature", type=float, default=None, help="sampling temperature (overrides the level)")
    gen.add_argument("--seed", type=int, default=None, help="seed for sampling (reproducible candidates)")
    gen.add_argument("--timeout", type=float, default=None, metavar="S", help="time limit in seconds")
    gen.add_argument("--json", action="store_true", help="print the whole result as JSON (what POST /generate "
                                                         "returns)")
    _common(gen)
    gen.set_defaults(func=cmd_generate)

    srv = subparsers.add_parser(
        "serve", help="serve the active version over HTTP (POST /generate, GET /health, GET /version)",
        description=(
            "An HTTP service on Starlette + uvicorn. POST /generate takes a JSON object with the same fields as "
            "`rxt5 generate` (prompt, language, repo, quality, use_rag, kind, signature, seed, timeout_s, params) "
            "and returns its result JSON; errors are JSON with a status code (400 malformed, 404 repo without "
            "chunks, 422 invalid value or refused by production, 503 queue full / no model, 504 time limit). "
            "Requests run in worker threads behind a bounded queue; a promotion is picked up without a restart "
            "(in-flight requests finish on the old version). Loopback only unless --host says otherwise."))
    srv.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    srv.add_argument("--port", type=int, default=DEFAULT_PORT, help="port (default: %(default)s)")
    srv.add_argument("--max-queue", type=int, default=8, help="requests waiting for a worker before 503 "
                                                              "(default: %(default)s)")
    srv.add_argument("--workers", type=int, default=1, help="generation threads (default: %(default)s — one model "
                                                            "call at a time, all cores to it)")
    srv.add_argument("--timeout", type=float, default=60.0, metavar="S",
                     help="per-request time limit in seconds, 504 past it (default: %(default)s)")
    srv.add_argument("--poll", type=float, default=1.0, metavar="S",
                     help="how often to check models/active for a new version (default: %(default)s)")
    srv.add_argument("--log-level", default="info", choices=("critical", "error", "warning", "info", "debug"))
    _common(srv)
    srv.set_defaults(func=cmd_serve)
