"""Asset metadata helpers: tables, schemas, histograms and plots that Dagit renders."""

import base64
import io
from typing import Mapping

import polars as pl
from dagster import MetadataValue, TableColumn, TableSchema

_POLARS_TO_DAGSTER = {pl.String: "string", pl.Int64: "int", pl.Int32: "int", pl.Float64: "float", pl.Float32: "float",
                      pl.Boolean: "bool"}


def column_schema(frame: pl.DataFrame) -> TableSchema:
    return TableSchema(columns=[
        TableColumn(name, _POLARS_TO_DAGSTER.get(dtype, str(dtype))) for name, dtype in frame.schema.items()
    ])


def _cell(value, width: int) -> str:
    text = str(value).replace("\n", "⏎").replace("|", "\\|")
    return text if len(text) <= width else text[: width - 1] + "…"


def table_md(frame: pl.DataFrame, rows: int = 10, width: int = 80) -> MetadataValue:
    """A markdown preview of the first rows, long cells shortened."""
    if frame.height == 0:
        return MetadataValue.md("_empty_")
    head = frame.head(rows)
    lines = ["| " + " | ".join(head.columns) + " |", "|" + "---|" * len(head.columns)]
    for row in head.iter_rows():
        lines.append("| " + " | ".join(_cell(v, width) for v in row) + " |")
    return MetadataValue.md("\n".join(lines))


def counts_md(counts: Mapping[str, int], key: str = "reason", value: str = "count") -> MetadataValue:
    if not counts:
        return MetadataValue.md("_none_")
    lines = [f"| {key} | {value} |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
    return MetadataValue.md("\n".join(lines))


def png_md(figure, title: str = "") -> MetadataValue:
    """A matplotlib figure embedded as a PNG in markdown (Dagit renders it inline)."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(figure)
    encoded = base64.b64encode(buffer.getvalue()).decode()
    return MetadataValue.md(f"![{title}](data:image/png;base64,{encoded})")


def histogram_md(values: list[float], title: str, bins: int = 20) -> MetadataValue:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 3))
    axis.hist(values, bins=bins, range=(0.0, 1.0), color="#4f46e5")
    axis.set_title(title)
    axis.set_xlabel("quality score")
    axis.set_ylabel("chunks")
    return png_md(figure, title)


def line_plot_md(series: Mapping[str, tuple[list[float], list[float]]], title: str, xlabel: str, ylabel: str) -> MetadataValue:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 3))
    for label, (xs, ys) in series.items():
        axis.plot(xs, ys, marker="o" if len(xs) < 30 else None, label=label)
    axis.set_title(title)
    axis.set_xlabel(xlabel)
    axis.set_ylabel(ylabel)
    axis.legend()
    return png_md(figure, title)
