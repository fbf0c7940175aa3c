"""The Definitions object that workspace.yaml loads."""

from dagster import Definitions

from rxt5_assets.defs.data_assets import code_chunks
from rxt5_assets.defs.resources import DatabaseResource, DataPreparationResource, WorkspaceResource

defs = Definitions(
    assets=[code_chunks],
    resources={
        "database": DatabaseResource(),
        "data_prep": DataPreparationResource(),
        "workspace": WorkspaceResource(),
    },
)
