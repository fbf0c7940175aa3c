"""Training data: the seed's chunk selection, preprocessing, quality scoring, cross-language pairs, datasets (polars)."""
