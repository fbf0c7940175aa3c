"""Code generation from the active model: the GeneratorEngine API, its decoding backends and the HTTP service.

Pure library code (no dagster imports). Heavy libraries (torch, transformers, ctranslate2) load when a backend loads.
"""
