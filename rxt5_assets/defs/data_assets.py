"""Data stage: code_chunks → preprocessed_chunks → scored_examples → cross_language_pairs → training_dataset."""


from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from rxt5_assets.data.chunks import ChunkSelection, selection_counts, table_summary
from rxt5_assets.defs.resources import DatabaseResource, DataPreparationResource


def chunk_selection(data_prep: DataPreparationResource, max_id: int | None = None) -> ChunkSelection:
    return ChunkSelection(
        languages=tuple(data_prep.languages),
        min_length=data_prep.min_length,
        exclude_path_pattern=data_prep.exclude_path_pattern,
        max_id=max_id,
    )


@asset(
    group_name="data",
    kinds={"postgres"},
    description=(
        "Code chunks in PostgreSQL (filled by an indexer or `rxt5 ingest`): the seed's selection per language — "
        "LENGTH(content) >= 50 and no test paths. Migrates the schema first."
    ),
)
def code_chunks(
    context: AssetExecutionContext, database: DatabaseResource, data_prep: DataPreparationResource
) -> MaterializeResult:
    db = database.database()
    applied = db.migrate()
    if applied:
        context.log.info(f"applied schema migrations {applied}")
    with db.connect() as conn:
        summary = table_summary(conn)
        counts = selection_counts(conn, chunk_selection(data_prep))
    per_language = counts.group_by("language").agg(counts["chunks"].sum()).sort("language")
    selected = int(counts["chunks"].sum()) if counts.height else 0
    context.log.info(f"{selected} of {summary['total_rows']} chunks match the seed's selection")
    return MaterializeResult(
        metadata={
            "dagster/row_count": selected,
            "table_rows": summary["total_rows"],
            "max_chunk_id": summary["max_id"],
            **{f"chunks_{row['language']}": row["chunks"] for row in per_language.iter_rows(named=True)},
            "chunks_by_language_and_repo": MetadataValue.md(
                counts.select("language", "repo", "chunks").to_pandas().to_markdown(index=False)
                if counts.height else "_no chunks match the selection: run `rxt5 ingest PATH` or `rxt5 ingest --demo`_"
            ),
        }
    )
