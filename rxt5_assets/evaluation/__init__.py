"""Evaluation of generated code (pure library code: nothing here imports Dagster).

``metrics.py`` is the facade over the local ``evaluate`` modules in ``metrics/<name>/<name>.py``; ``toolchain.py``
runs the real compilers' checks behind ``compile_success``; ``code_bleu.py`` is the CodeBLEU implementation for both
languages."""
