#!/usr/bin/env python3
"""Rebuild rxt5's shipped demo base (`rxt5_assets/models/demo_base/`) from public, permissively licensed code.

The demo base plays the part CodeT5+ plays in production: it knows Rust and Elixir, and it never saw the organisation's
code (nor rxt5's demo corpus). It is pretrained by running rxt5's own data stage over the public corpus — so the base
learns the same task formats the fine-tune uses (implement, generate, document, write tests, translate) — then training
a byte-level BPE tokenizer and a small T5 on those examples.

The corpus is exactly what this script names, nothing else (other crates and other Elixir projects stay unseen, so the
product can be checked on code nobody trained on):
  * Rust: the crate sources that `apt-get install librust-serde-dev librust-tokio-dev librust-regex-dev
    librust-clap-dev librust-anyhow-dev` puts under /usr/share/cargo/registry (the crates listed in RUST_CRATES;
    MIT and/or Apache-2.0), one repo per crate.
  * Elixir: lib/ of the Elixir 1.14 source (Debian's `elixir-lang` source package, Apache-2.0): elixir, mix, ex_unit,
    iex, logger, eex, one repo each. Get it with a deb-src line and `apt-get source --download-only elixir`.

  python scripts/build_demo_base.py corpus --elixir-src /work/corpus/elixir-1.14.0   # ingest + data stage (minutes)
  python scripts/build_demo_base.py train --minutes 40                               # tokenizer + T5 (CPU)
  python scripts/build_demo_base.py install                                          # copy into the package

Everything goes under --work (default ./.rxt5-demo-base), never into the developer's own RXT5_HOME.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
from dataclasses import replace
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
CARGO_REGISTRY = Path("/usr/share/cargo/registry")
DEBIAN_PACKAGES = ["librust-serde-dev", "librust-tokio-dev", "librust-regex-dev", "librust-clap-dev",
                   "librust-anyhow-dev"]
ELIXIR_APPS = ["elixir", "mix", "ex_unit", "iex", "logger", "eex"]
# What those five packages (and their dependencies) installed on Debian 12; rxt5's demo crates are not among them.
RUST_CRATES = """
addr2line-0.19.0 adler-1.0.2 ahash-0.7.6 aho-corasick-0.7.19 anyhow-1.0.69 arbitrary-1.1.3 atty-0.2.14 autocfg-1.1.0
backtrace-0.3.67 bitflags-1.3.2 bumpalo-3.12.0 bytes-1.2.1 cc-1.0.73 cfg-if-1.0.0 clap-4.0.32 clap_derive-4.0.21
clap_lex-0.3.0 compiler_builtins-0.1.70 const-random-0.1.13 const-random-macro-0.1.13 cpp_demangle-0.4.0
crc32fast-1.3.2 crossbeam-channel-0.5.6 crossbeam-deque-0.8.1 crossbeam-epoch-0.9.13 crossbeam-utils-0.8.12
crunchy-0.2.2 ctor-0.1.26 derive_arbitrary-1.1.3 either-1.6.1 env_logger-0.9.3 erased-serde-0.3.23 errno-0.2.8
fallible-iterator-0.2.0 fixedbitset-0.4.2 flate2-1.0.25 getrandom-0.2.8 gimli-0.27.0 hashbrown-0.12.3 heck-0.4.0
humantime-2.1.0 indexmap-1.9.2 io-lifetimes-0.7.2 itoa-1.0.1 lazy_static-1.4.0 libc-0.2.139 linux-raw-sys-0.0.46
lock_api-0.4.9 log-0.4.17 memchr-2.5.0 memoffset-0.6.5 miniz_oxide-0.6.2 mio-0.8.4 num_cpus-1.14.0 object-0.30.0
once_cell-1.17.0 os_pipe-1.1.1 os_str_bytes-6.0.0 owning_ref-0.4.1 parking_lot-0.12.1 parking_lot_core-0.9.3
petgraph-0.6.2 pin-project-lite-0.2.9 ppv-lite86-0.2.16 print_bytes-0.5.0 proc-macro-error-1.0.3
proc-macro-error-attr-1.0.3 proc-macro-hack-0.5.19 proc-macro2-1.0.47 quickcheck-1.0.3 quote-1.0.21 rand-0.8.5
rand_chacha-0.3.1 rand_core-0.6.3 rayon-1.6.1 rayon-core-1.10.1 regex-1.7.1 regex-syntax-0.6.27 rustc-demangle-0.1.21
rustc-std-workspace-core-1.0.0 rustix-0.35.12 scopeguard-1.1.0 serde-1.0.152 serde_derive-1.0.152 serde_fmt-1.0.1
signal-hook-registry-1.4.0 smallvec-1.9.0 socket2-0.4.4 spin-0.9.5 stable_deref_trait-1.2.0 strsim-0.10.0
sval-1.0.0-alpha.5 syn-1.0.107 syn-mid-0.5.0 termcolor-1.1.2 terminal_size-0.2.1 thread-id-4.0.0 tiny-keccak-2.0.2
tokio-1.24.2 tokio-macros-1.7.0 tracing-0.1.37 tracing-attributes-0.1.23 tracing-core-0.1.30 unicase-2.6.0
unicode-ident-1.0.0 unicode-segmentation-1.9.0 unicode-width-0.1.10 uniquote-3.0.0 valuable-0.1.0
valuable-derive-0.1.0 value-bag-1.0.0-alpha.9 version_check-0.9.4 winapi-0.3.9 winapi-util-0.1.5
""".split()
# crates that are generated bindings, not code anyone writes by hand (they would dominate the corpus)
SKIPPED_CRATES = {"winapi-i686-pc-windows-gnu-0.4.0", "winapi-x86_64-pc-windows-gnu-0.4.0"}

log = logging.getLogger("build_demo_base")


def _database(work: Path):
    from rxt5_assets.db import Database

    return Database(home=work / "home")


def cmd_corpus(args: argparse.Namespace) -> int:
    """Ingest the named public corpus into a private embedded database and run rxt5's data stage over it."""
    from rxt5_assets.data.parallel import default_workers
    from rxt5_assets.data.stages import PrepareConfig, StageFiles, run_data_stage
    from rxt5_assets.ingest import ingest_path

    work = Path(args.work).resolve()
    database = _database(work)
    database.migrate()
    missing = [c for c in RUST_CRATES if not (CARGO_REGISTRY / c).is_dir()]
    if missing:
        sys.exit(f"{len(missing)} crate(s) missing under {CARGO_REGISTRY} (e.g. {missing[:3]}): "
                 f"apt-get install {' '.join(DEBIAN_PACKAGES)}")
    elixir_lib = Path(args.elixir_src) / "lib"
    if not all((elixir_lib / app).is_dir() for app in ELIXIR_APPS):
        sys.exit(f"{elixir_lib} does not hold {ELIXIR_APPS}: pass --elixir-src, the unpacked Elixir 1.14 source")
    sources = [(CARGO_REGISTRY / c, c) for c in RUST_CRATES] + [(elixir_lib / a, f"elixir-{a}") for a in ELIXIR_APPS]
    for path, repo in sources:
        report = ingest_path(database, path, repo, progress=False)
        log.info("%s: %d files, %d new chunks", repo, report.files_ingested, report.chunks_new)
    config = PrepareConfig(name="demo_base_corpus", max_examples=args.max_examples,
                           quality_threshold=args.quality_threshold, eval_fraction=0.03, min_examples=50,
                           workers=default_workers())
    files = StageFiles(work / "stages")
    with database.connect() as conn:
        manifest = run_data_stage(conn, files, work / "dataset", config,
                                  on_stage=lambda name, seconds: log.info("%s done in %.0f s", name, seconds))

    (work / "dataset" / "corpus_config.json").write_text(json.dumps(
        {"quality_threshold": config.quality_threshold, "max_examples": config.max_examples,
         "eval_fraction": config.eval_fraction, "seed": config.seed}))
    texts = files.read_parts(files.chunks, columns=["content"])["content"]  # the parts, not the ledger
    (work / "dataset" / "tokenizer_corpus.txt").write_text("\n\x00\n".join(texts.to_list()))
    log.info("dataset: %d train / %d eval examples, mix %s", manifest["train_examples"], manifest["eval_examples"],
             json.dumps(manifest["mix"]))
    return 0


SPECS = {
    # name: TinyBaseSpec overrides (the README's table compares them at one wall-clock budget)
    "d128-2+2": dict(d_model=128, num_layers=2, num_decoder_layers=2, num_heads=4, d_kv=32, d_ff=512),
    "d192-3+3": dict(d_model=192, num_layers=3, num_decoder_layers=3, num_heads=6, d_kv=32, d_ff=768),
    "d256-4+4": dict(d_model=256, num_layers=4, num_decoder_layers=4, num_heads=4, d_kv=64, d_ff=1024),
}


def _eval_subset(work: Path, rows: int, seed: int = 0) -> Path:
    """A fixed, language-balanced sample of the public eval split (files the base never trains on)."""
    import random

    source = work / "dataset" / "eval.jsonl"
    lines = source.read_text(encoding="utf-8").splitlines()
    by_language: dict[str, list[str]] = {}
    for line in lines:
        by_language.setdefault(json.loads(line)["language"], []).append(line)
    rng = random.Random(seed)
    picked = []
    for language in sorted(by_language):
        group = by_language[language]
        picked.extend(rng.sample(group, min(len(group), rows // len(by_language))))
    out = work / "dataset" / f"eval_subset_{rows}.jsonl"
    out.write_text("\n".join(picked) + "\n", encoding="utf-8")
    return out


def _weight(text: str) -> tuple[str, float]:
    language, sep, weight = text.partition("=")
    try:
        if not sep:
            raise ValueError
        return language, float(weight)
    except ValueError:
        sys.exit(f"--language-weight takes LANGUAGE=WEIGHT, e.g. elixir=2 (got {text!r})")


def cmd_train(args: argparse.Namespace) -> int:
    """Tokenizer on the public corpus's accepted chunks, then the T5 on its example tasks for --minutes."""
    import torch

    from rxt5_assets.training.tiny import DEFAULT_SPEC, build_tiny_base

    work = Path(args.work).resolve()
    torch.set_num_threads(args.threads)
    spec = replace(DEFAULT_SPEC, objective=args.objective, learning_rate=args.learning_rate,
                   **SPECS[args.size])
    texts = (None if args.init_from else
             (work / "dataset" / "tokenizer_corpus.txt").read_text(encoding="utf-8").split("\n\x00\n"))
    out = work / "bases" / (args.name or f"{args.size}-{args.objective}-{args.minutes:g}min")
    extra = {"kind": "rxt5-demo-base", "size_name": args.size, "threads": args.threads, "eval_rows": args.eval_rows,
             "quality_threshold": json.loads((work / "dataset" / "corpus_config.json").read_text())["quality_threshold"],
             "corpus": {
        "rust": f"{len(RUST_CRATES)} crates under {CARGO_REGISTRY} from apt-get install {' '.join(DEBIAN_PACKAGES)}",
        "rust_crates": RUST_CRATES, "elixir": f"Elixir 1.14 source lib/{{{','.join(ELIXIR_APPS)}}}",
        "licenses": "MIT and/or Apache-2.0 (crates), Apache-2.0 (Elixir)",
        "dataset_manifest": json.loads((work / "dataset" / "manifest.json").read_text())["mix"]}}
    build_tiny_base(work / "dataset" / "train.jsonl", out, tokenizer_texts=texts,
                    max_seconds=None if args.steps else args.minutes * 60, max_steps=args.steps,
                    seed=args.seed, spec=spec, eval_file=_eval_subset(work, args.eval_rows),
                    eval_every_steps=args.eval_every, extra_metadata=extra, init_from=args.init_from,
                    fit_item_targets=args.fit_item_targets,
                    language_weights=dict(_weight(w) for w in args.language_weight) or None)
    print(out)
    return 0


MODEL_CARD = """\
---
license: apache-2.0
library_name: transformers
tags: [t5, code, rust, elixir, rxt5]
---
# rxt5 demo base ({size_name})

The base model of rxt5's demo profile. It plays the part CodeT5+ plays in production: a T5 that knows Rust and Elixir
and has never seen the organisation's code — nor rxt5's demo corpus, whose repos are what the demo fine-tune learns.

| | |
|---|---|
| architecture | T5 (relu FFN, tied embeddings): d_model {d_model}, {num_layers}+{num_decoder_layers} layers, {num_heads} heads, d_ff {d_ff} |
| parameters | {parameters:,} |
| tokenizer | byte-level BPE, {vocab_size} tokens, CodeT5's specials `<pad> <s> </s> <unk> <mask>` (pad 0 = decoder start) |
| objective | `{objective}`: rxt5's own example tasks (implement, generate, document, write tests, translate / transfer) built by rxt5's data stage from the corpus below |
| training | {steps:,} steps of batch {batch_size} ({epochs_over_data} pass(es) over {examples:,} examples), {train_minutes:.1f} min on the CPU ({threads} torch thread(s)), AdamW with warmup {warmup_steps} and linear decay, seed {seed}: {phases} |
| loss | train {first_loss:.3f} → {final_loss:.3f}; held-out ({eval_rows} rows from held-out files): {eval_first:.3f} → {eval_last:.3f} |
| fingerprint | `{fingerprint}` (sha256 over the state dict; adapters check it when they reload) |

## Corpus (public, permissively licensed)
* Rust: {rust_crate_count} crate sources that Debian installs under /usr/share/cargo/registry with
  `apt-get install {packages}` (MIT and/or Apache-2.0), one repo per crate.
* Elixir: `lib/` of the Elixir 1.14 source (Debian source package `elixir-lang`, Apache-2.0): {elixir_apps}.
* Examples after rxt5's data stage (quality ≥ {quality_threshold}, split by file, 3 % of files held out): {mix}

Other crates and other Elixir projects were never trained on: they, and the organisation's own code, are how the
product is checked on code nobody trained on.

## Replay set
`replay.jsonl.gz`: {replay_rows:,} of the pretraining examples above (public code only, a seeded sample). A demo
fine-tune mixes `replay_ratio` of them per org training row (rehearsal), so it learns the org's code without
forgetting how to write a whole item.

## Held-out loss during pretraining
| step | minutes | loss |
|---:|---:|---:|
{history}

## Rebuild
```
apt-get install {packages}
# Elixir source: add a deb-src line for bookworm, then
apt-get source --download-only elixir && tar xf elixir-lang_1.14.0.dfsg.orig.tar.xz
python scripts/build_demo_base.py corpus --elixir-src elixir-1.14.0
python scripts/build_demo_base.py train --size {size_name} --minutes 30 --threads {threads} --name first
python scripts/build_demo_base.py train --size {size_name} --minutes 25 --threads {threads} --learning-rate 1e-3 \\
    --init-from .rxt5-demo-base/bases/first --name continued     # the second phase above
python scripts/build_demo_base.py train --size {size_name} --minutes 60 --threads 1 --learning-rate 1e-3 --seed 43 \\
    --init-from .rxt5-demo-base/bases/continued --name third     # the third (targets cut without </s>, below)
python scripts/build_demo_base.py train --size {size_name} --minutes 50 --threads 1 --learning-rate 1e-3 --seed 44 \\
    --fit-item-targets keep --init-from .rxt5-demo-base/bases/third --name p4-keep     # closed item targets
python scripts/build_demo_base.py train --size {size_name} --minutes 50 --threads 1 --learning-rate 1e-3 --seed 45 \\
    --fit-item-targets keep --language-weight elixir=2 --init-from .rxt5-demo-base/bases/p4-keep --name p5-keep-ex2
python scripts/build_demo_base.py install --from .rxt5-demo-base/bases/p5-keep-ex2
```
Wall-clock budgets make the exact weights depend on the machine's speed; `--steps` fixes them for a seed.
The third phase trained with targets longer than 128 tokens cut without an end-of-sequence token (the first two
taught the model to stop in the middle of long items); it ran on a loaded machine, hence fewer steps per minute.
The fourth and fifth phases train on closed item targets, as the fine-tune does: an over-long item target becomes
its longest closed prefix that fits 128 tokens (the others keep their cut); the fifth counts Elixir examples twice.
"""

REPLAY_FILE = "replay.jsonl.gz"  # training.data.REPLAY_FILE
SHIPPED_FILES = ("config.json", "generation_config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json")


def write_replay_set(train_file: Path, out: Path, rows: int, seed: int = 0) -> None:
    """A seeded sample of the base's own pretraining examples (public code only), gzipped and written
    deterministically: the rows a demo fine-tune rehearses (`replay_ratio`) so it keeps what the base knew."""
    import gzip
    import random

    lines = [line for line in train_file.read_text(encoding="utf-8").splitlines() if line.strip()]
    picked = sorted(random.Random(seed).sample(range(len(lines)), min(rows, len(lines))))
    with open(out, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as fh:
        fh.write("".join(lines[i] + "\n" for i in picked).encode("utf-8"))


def cmd_install(args: argparse.Namespace) -> int:
    """Copy a built base into the package (rxt5_assets/models/demo_base) with its model card."""
    from rxt5_assets.training.base_model import DEMO_BASE_DIR
    from rxt5_assets.training.tiny import METADATA_FILE

    source = Path(args.source).resolve()
    meta = json.loads((source / METADATA_FILE).read_text())
    meta["train_file"] = Path(meta["train_file"]).name  # the build machine's path means nothing elsewhere
    history = meta.get("eval_history") or [{"step": 0, "seconds": 0, "eval_loss": float("nan")}]
    spec = meta["spec"]
    card = MODEL_CARD.format(
        size_name=meta.get("size_name", "?"), parameters=meta["parameters"], vocab_size=meta["vocab_size"],
        steps=meta["steps"], epochs_over_data=meta["epochs_over_data"], examples=meta["examples"],
        train_minutes=meta["train_seconds"] / 60, threads=meta.get("threads", "?"), seed=meta["seed"],
        first_loss=meta["first_loss"], final_loss=meta["final_loss"], eval_rows=meta.get("eval_rows", "?"),
        eval_first=history[0]["eval_loss"], eval_last=history[-1]["eval_loss"], fingerprint=meta["fingerprint"],
        rust_crate_count=len(RUST_CRATES), packages=" ".join(DEBIAN_PACKAGES), elixir_apps=", ".join(ELIXIR_APPS),
        quality_threshold=meta.get("quality_threshold", "?"), replay_rows=args.replay_rows,
        mix=json.dumps(meta.get("corpus", {}).get("dataset_manifest", {}).get("available_train", {})),
        phases="; then ".join(f"{ph['steps']:,} steps at peak lr {ph['learning_rate']:g} ({ph['seconds'] / 60:.0f} min)"
                              for ph in meta.get("phases") or [{"steps": meta["steps"], "seconds": meta["train_seconds"],
                                                                 "learning_rate": spec["learning_rate"]}]),
        history="\n".join(f"| {h['step']} | {h['seconds'] / 60:.1f} | {h['eval_loss']:.3f} |" for h in history),
        **{k: spec[k] for k in ("d_model", "num_layers", "num_decoder_layers", "num_heads", "d_ff", "objective",
                                "batch_size", "learning_rate", "warmup_steps")})
    DEMO_BASE_DIR.mkdir(parents=True, exist_ok=True)
    for name in SHIPPED_FILES:
        if (source / name).is_file():
            shutil.copy2(source / name, DEMO_BASE_DIR / name)
    write_replay_set(Path(args.work).resolve() / "dataset" / "train.jsonl", DEMO_BASE_DIR / REPLAY_FILE,
                     args.replay_rows)
    (DEMO_BASE_DIR / METADATA_FILE).write_text(json.dumps(meta, indent=2) + "\n")
    (DEMO_BASE_DIR / "README.md").write_text(card)
    size = sum(f.stat().st_size for f in DEMO_BASE_DIR.iterdir()) / 1e6
    print(f"installed {source.name} into {DEMO_BASE_DIR} ({size:.1f} MB)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", default=str(REPO_ROOT / ".rxt5-demo-base"), help="working folder")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("corpus", help="ingest the public corpus and build pretraining examples with rxt5's data stage")
    p.add_argument("--elixir-src", required=True, help="unpacked Elixir 1.14 source (holds lib/elixir, lib/mix, ...)")
    p.add_argument("--max-examples", type=int, default=400_000)
    p.add_argument("--quality-threshold", type=float, default=0.5)
    p.set_defaults(func=cmd_corpus)
    p = sub.add_parser("train", help="train the tokenizer and the T5 on the corpus's examples")
    p.add_argument("--size", choices=sorted(SPECS), default="d128-2+2")
    p.add_argument("--objective", choices=["task", "mixed", "span"], default="task")
    p.add_argument("--minutes", type=float, default=40.0, help="wall-clock training budget")
    p.add_argument("--steps", type=int, help="a step budget instead of --minutes (deterministic for a seed)")
    p.add_argument("--learning-rate", type=float, default=2e-3)
    p.add_argument("--threads", type=int, default=2, help="torch threads")
    p.add_argument("--eval-rows", type=int, default=400)
    p.add_argument("--eval-every", type=int, default=500, help="steps between eval-loss measurements")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--name", help="folder name under <work>/bases")
    p.add_argument("--init-from", help="continue pretraining this built base (fresh learning-rate schedule)")
    p.add_argument("--fit-item-targets", choices=["off", "keep", "drop"], default="off",
                   help="over-long item targets become their longest closed prefix that fits 128 tokens; those with "
                        "none are kept cut (keep) or left out (drop)")
    p.add_argument("--language-weight", action="append", default=[], metavar="LANGUAGE=W",
                   help="resample the training examples of a language, e.g. elixir=2 (repeatable)")
    p.set_defaults(func=cmd_train)
    p = sub.add_parser("install", help="copy a built base into rxt5_assets/models/demo_base with its model card")
    p.add_argument("--from", dest="source", required=True, help="a folder under <work>/bases")
    p.add_argument("--replay-rows", type=int, default=4000,
                   help="pretraining examples shipped as the base's replay set (replay.jsonl.gz)")
    p.set_defaults(func=cmd_install)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
