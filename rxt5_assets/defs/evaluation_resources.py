"""The `evaluation` resource: how versions are evaluated and when a candidate is promoted (Dagit's launchpad)."""

from typing import Optional

from dagster import ConfigurableResource
from pydantic import Field


class EvaluationResource(ConfigurableResource):
    """Settings of evaluation_metrics (generation, sample, metrics) and of the gate active_model_version obeys."""

    max_rows: Optional[int] = Field(
        default=400, description="eval rows used, sampled stratified by language and task (None: every row); the "
                                 "sample size and seed are stored with the results")
    seed: int = Field(default=42, description="seed of the row sample and of best-of-k sampling")
    k: int = Field(default=8, description="best-of-k: samples per row; the first strict-valid one is kept")
    temperature: float = Field(default=0.8, description="sampling temperature of best-of-k")
    top_p: float = Field(default=0.95, description="nucleus sampling of best-of-k")
    max_new_tokens: int = Field(default=128, description="tokens generated per row")
    max_source_length: int = Field(default=320, description="input tokens kept per row")
    repetition_penalty: float = Field(default=1.2, description="repetition penalty of greedy and sampled decoding")
    batch_size: int = Field(default=16, description="rows per generate call (best-of-k: × k sequences)")
    backend: str = Field(default="auto", description="what decodes: auto (CTranslate2 fp32 on a CPU, what the service "
                                                     "runs, else transformers), transformers, or ctranslate2")
    compile_timeout_s: float = Field(default=15.0, description="per compile check; a timeout fails that sample only")
    metrics: Optional[list[str]] = Field(default=None, description="metric names (None: all of evaluation.metrics)")
    primary_weights: dict[str, float] = Field(
        default={"strict_validity": 0.5, "code_bleu": 0.5},
        description="the primary metric: weights of <metric>@<primary_decoding> per language, then averaged")
    primary_decoding: str = Field(default="best_of_k", description="best_of_k (what is served) or greedy")
    tolerance: float = Field(default=0.0, description="candidate primary must be ≥ active − tolerance (0: not worse)")
    language_tolerance: float = Field(default=0.05, description="… and ≥ active − this on every gated language")
    min_language_rows: int = Field(default=5, description="languages with fewer sampled rows are reported, not gated")
    require_beat_template: bool = Field(default=False, description="also require a primary above the template floor")
    force: bool = Field(default=False, description="promote even when the gate refuses (recorded as forced)")
    examples_to_show: int = Field(default=6, description="generations shown beside their references in Dagit")

    def settings(self):
        from rxt5_assets.evaluation.runner import EvaluationSettings

        return EvaluationSettings(
            max_rows=self.max_rows, seed=self.seed, k=self.k, temperature=self.temperature, top_p=self.top_p,
            max_new_tokens=self.max_new_tokens, max_source_length=self.max_source_length,
            repetition_penalty=self.repetition_penalty, batch_size=self.batch_size, backend=self.backend,
            compile_timeout_s=self.compile_timeout_s, metrics=tuple(self.metrics) if self.metrics else None)

    def policy(self):
        from rxt5_assets.evaluation.promotion import GatePolicy

        return GatePolicy(weights=dict(self.primary_weights), decoding=self.primary_decoding, tolerance=self.tolerance,
                          language_tolerance=self.language_tolerance, min_language_rows=self.min_language_rows,
                          require_beat_template=self.require_beat_template)
