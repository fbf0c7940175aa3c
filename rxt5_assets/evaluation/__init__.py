"""Evaluation of generated code (pure library code: nothing here imports Dagster).

``metrics.py`` is the facade over the local ``evaluate`` modules in ``metrics/<name>/<name>.py``; ``toolchain.py``
runs the real compilers' checks behind ``compile_success``; ``code_bleu.py`` is the CodeBLEU implementation for both
languages.

``runner.py`` generates greedy and best-of-k on the held-out split and scores it per language and task;
``template.py`` is the trivial floor every model must beat; ``comparison.py`` evaluates a candidate against the active
version (or bare base) and the floor and records it; ``promotion.py`` is the gate and the atomic switch of the active
version and its deployed files; ``report.py`` renders the tables Dagit and ``rxt5 versions`` show."""
