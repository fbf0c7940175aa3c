"""The evaluation and deployment assets in Dagster, in process: evaluation_metrics → (blocking checks) →
active_model_version, on a dataset folder shaped like training_dataset's and versions registered like lora_adapter's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from dagster import AssetKey, DagsterInstance, materialize

from rxt5_assets.db import Database
from rxt5_assets.db.evaluations import evaluation_results
from rxt5_assets.db.model_versions import active_version
from rxt5_assets.db.sessions import create_session
from rxt5_assets.definitions import defs
from rxt5_assets.defs.evaluation_assets import (
    EVALUATION_ASSETS, EVALUATION_CHECKS, active_model_version, evaluation_metrics, evaluation_results_type,
    results_frame,
)
from rxt5_assets.defs.evaluation_resources import EvaluationResource
from rxt5_assets.defs.resources import DatabaseResource, DataPreparationResource, TrainingResource, WorkspaceResource
from rxt5_assets.evaluation.promotion import read_deployment
from rxt5_assets.pipeline import train_and_register, training_session_for_dataset
from rxt5_assets_tests.evaluation.trained import TEST_METRICS, adapter_config, build_base, one_torch_thread, write_data


def test_definitions_hold_the_evaluation_and_deployment_stages():
    graph = defs.resolve_asset_graph()
    assert AssetKey("lora_adapter") in graph.get(AssetKey("evaluation_metrics")).parent_keys
    assert AssetKey("evaluation_metrics") in graph.get(AssetKey("active_model_version")).parent_keys
    assert graph.get(AssetKey("evaluation_metrics")).group_name == "evaluation"
    assert graph.get(AssetKey("active_model_version")).group_name == "deployment"
    job = defs.resolve_job_def("retrain_job")
    assert {k.to_user_string() for k in job.asset_layer.executable_asset_keys} == \
        {k.to_user_string() for k in graph.get_all_asset_keys()}  # the whole graph


def _resources(database: Database, home: Path, **evaluation) -> dict:
    return {
        "database": DatabaseResource(database_url=database.url),
        "data_prep": DataPreparationResource(),
        "workspace": WorkspaceResource(home=str(home)),
        "training": TrainingResource(base_model="tiny"),
        "evaluation": EvaluationResource(**{"max_rows": 15, "k": 4, "max_new_tokens": 48,
                                            "metrics": list(TEST_METRICS), **evaluation}),
    }


def _run(resources: dict):
    instance = DagsterInstance.ephemeral()
    result = materialize([*EVALUATION_ASSETS, *EVALUATION_CHECKS], resources=resources, instance=instance,
                         raise_on_error=False)
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    return instance, result, checks, materialized


def test_evaluation_gates_promotion_and_force_overrides(database: Database, tmp_path: Path):
    home = tmp_path / "home"
    # what training_dataset leaves behind: the files and a manifest naming the data session
    dataset = home / "datasets" / "rust_elixir_v1"
    train_file, eval_file, garbled = write_data(dataset)
    with database.connect() as conn:
        session_id = create_session(conn, "rust_elixir_v1", ["rust", "elixir"], {}, status="prepared")
    (dataset / "manifest.json").write_text(json.dumps({"session_id": session_id, "train_file": str(train_file),
                                                       "eval_file": str(eval_file)}))
    models = home / "models"
    with one_torch_thread():
        build_base(models, train_file)
        # what lora_adapter does: train on the dataset, register an inactive version in the dataset's session
        good = train_and_register(database, adapter_config(train_file, eval_file, home / "runs" / "good", models),
                                  session_id=training_session_for_dataset(database, session_id))
        resources = _resources(database, home)
        instance, result, checks, materialized = _run(resources)
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    assert all(check.passed for name, check in checks.items() if name != "candidate_beats_template_floor")
    floor = checks["candidate_beats_template_floor"]  # Dagit shows a failed warning as "Failed": it says why
    assert "vs template floor" in floor.description and ("not the gate" in floor.description) != floor.passed
    assert materialized == {"evaluation_metrics", "active_model_version"}
    meta = instance.get_latest_materialization_event(AssetKey("evaluation_metrics")).asset_materialization.metadata
    assert meta["candidate"].value == good.version and meta["active_is_bare_base"].value is True
    assert meta["rows_used"].value == 15 and meta["rows_total"].value == 18 and meta["sample_seed"].value == 42
    assert "| **rust** | (all) |" in meta["comparison"].value and "reference" in meta["generations"].value
    assert meta["seconds"].value > 0
    well_formed = checks["evaluation_results_well_formed"]
    assert well_formed.metadata["rows"].value > 0 and "primary_all" in well_formed.metadata  # summary statistics
    with database.connect() as conn:
        assert active_version(conn)["version"] == good.version
        stored = evaluation_results(conn, meta["evaluation_id"].value)
    assert read_deployment(home)["version"] == good.version
    ids = {role: {r["model_version_id"] for r in stored if r["role"] == role} for role in ("candidate", "active")}
    compared = {role: {r["compared_to_version_id"] for r in stored if r["role"] == role}
                for role in ("candidate", "active", "template")}
    assert ids["candidate"] == {good.model_version_id} and compared["candidate"] == ids["active"]
    assert compared["active"] == compared["template"] == {good.model_version_id}

    # a malformed evaluation fails the frame's type check: an unknown language, an out-of-scale value, a null
    frame = results_frame(stored)
    results_type = evaluation_results_type()
    assert results_type.type_check(None, frame).success
    for column, value in (("language", "cobol"), ("value", 1.5), ("metric", "accuracy")):
        broken = frame.copy()
        row = broken.index[broken["metric"] == "code_bleu@best_of_k"][0]
        broken.loc[row, column] = value
        assert not results_type.type_check(None, broken).success, column
    broken = frame.copy()
    broken.loc[broken.index[0], "value"] = None
    assert not results_type.type_check(None, broken).success

    # a garbage adapter trained next: the blocking gate check fails and the promotion does not run
    with one_torch_thread():
        bad = train_and_register(database, adapter_config(garbled, eval_file, home / "runs" / "bad", models),
                                 session_id=training_session_for_dataset(database, session_id))
        _, result, checks, materialized = _run(resources)
    assert not result.success
    assert not checks["candidate_not_worse_than_active"].passed
    assert checks["evaluation_results_well_formed"].passed
    assert materialized == {"evaluation_metrics"}  # active_model_version did not run
    with database.connect() as conn:
        assert active_version(conn)["version"] == good.version
    assert read_deployment(home)["version"] == good.version

    # force: the check passes as forced and the promotion goes through (all scores reused from the cache)
    with one_torch_thread():
        instance, result, checks, materialized = _run(_resources(database, home, force=True))
    assert result.success
    gate = checks["candidate_not_worse_than_active"]
    assert gate.passed and gate.metadata["forced"].value is True and gate.metadata["gate_passed"].value is False
    meta = instance.get_latest_materialization_event(AssetKey("evaluation_metrics")).asset_materialization.metadata
    assert meta["reused_from_cache"].value == {"candidate": True, "active": True, "template": True}
    promoted = instance.get_latest_materialization_event(AssetKey("active_model_version")).asset_materialization
    assert promoted.metadata["version"].value == bad.version and promoted.metadata["forced"].value is True
    with database.connect() as conn:
        assert active_version(conn)["version"] == bad.version
    assert read_deployment(home)["version"] == bad.version


@pytest.mark.parametrize("asset", [evaluation_metrics, active_model_version])
def test_evaluation_assets_are_in_their_groups(asset):
    assert asset.group_names_by_key[asset.key] == {"evaluation_metrics": "evaluation",
                                                    "active_model_version": "deployment"}[asset.key.path[0]]
