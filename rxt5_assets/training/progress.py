"""Live training progress: records, sinks, and the Trainer callback that feeds them.

The lead's PostgreSQL sink implements `ProgressSink` (one `t5_training_progress` row per record). On resume, the trainer
calls `sink.resumed(step)` *before* training continues from checkpoint `step`, so a database sink can delete rows logged
after that checkpoint and never hold a step twice.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any, Literal, Protocol, runtime_checkable

from transformers import TrainerCallback

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ProgressRecord:
    kind: Literal["train", "eval"]
    epoch: float
    step: int
    loss: float | None  # training loss averaged over the last logging window ("train"); None for "eval"
    learning_rate: float | None
    training_time_seconds: float  # wall time spent training so far, across resumes
    eval_loss: float | None = None  # "eval" records only; the one at step 0 is the base before training
    # "eval" records: {"eval_loss_by_language": {...}, "eval_loss_by_task": {...}, "eval_tokens": n}
    metrics: dict[str, Any] | None = None

    def as_dict(self) -> dict:
        return asdict(self)


@runtime_checkable
class ProgressSink(Protocol):
    def record(self, rec: ProgressRecord) -> None:
        """Called synchronously from the training loop at every logging step and after every evaluation."""
        ...

    def resumed(self, from_step: int) -> None:
        """Training continues from the checkpoint at `from_step`: forget anything recorded after that step."""
        ...


class MemorySink:
    """Keeps records in a list (thread-safe); `resumed()` drops those after the checkpoint step, like a database would."""

    def __init__(self) -> None:
        self.records: list[ProgressRecord] = []
        self.resumes: list[int] = []
        self._lock = threading.Lock()

    def record(self, rec: ProgressRecord) -> None:
        with self._lock:
            self.records.append(rec)

    def resumed(self, from_step: int) -> None:
        with self._lock:
            self.resumes.append(from_step)
            self.records = [r for r in self.records if r.step <= from_step]

    def of_kind(self, kind: str) -> list[ProgressRecord]:
        with self._lock:
            return [r for r in self.records if r.kind == kind]

    def __len__(self) -> int:
        with self._lock:
            return len(self.records)


class LoggingSink:
    """Writes each record to a `logging` logger (the CLI's default sink)."""

    def __init__(self, logger: logging.Logger | None = None, level: int = logging.INFO) -> None:
        self.logger = logger or log
        self.level = level

    def record(self, rec: ProgressRecord) -> None:
        if rec.kind == "eval":
            by_language = (rec.metrics or {}).get("eval_loss_by_language") or {}
            detail = ", ".join(f"{k} {v:.4f}" for k, v in by_language.items())
            self.logger.log(self.level, "epoch %.2f step %d: %seval_loss %.4f%s (%.0f s)", rec.epoch, rec.step,
                            "base " if rec.step == 0 else "", rec.eval_loss, f" ({detail})" if detail else "",
                            rec.training_time_seconds)
        else:
            self.logger.log(self.level, "epoch %.2f step %d: loss %.4f lr %.2e (%.0f s)", rec.epoch, rec.step,
                            rec.loss if rec.loss is not None else float("nan"), rec.learning_rate or 0.0,
                            rec.training_time_seconds)

    def resumed(self, from_step: int) -> None:
        self.logger.log(self.level, "resuming from the checkpoint at step %d", from_step)


class FanOutSink:
    """Sends every call to several sinks."""

    def __init__(self, *sinks: ProgressSink) -> None:
        self.sinks = [s for s in sinks if s is not None]

    def record(self, rec: ProgressRecord) -> None:
        for s in self.sinks:
            s.record(rec)

    def resumed(self, from_step: int) -> None:
        for s in self.sinks:
            s.resumed(from_step)


_EVAL_DETAIL_KEYS = ("eval_loss_by_language", "eval_loss_by_task", "eval_tokens")


class ProgressCallback(TrainerCallback):
    """Turns the Trainer's `on_log` events into `ProgressRecord`s while training runs.

    `time_offset` is the training time already spent before a resumed checkpoint, so `training_time_seconds` keeps
    counting across resumes. Under DDP every rank logs the same values: only the world's rank 0 records them.
    """

    def __init__(self, sink: ProgressSink, *, time_offset: float = 0.0) -> None:
        self.sink = sink
        self.time_offset = time_offset
        self._start: float | None = None

    def on_train_begin(self, args, state, control, **kwargs):
        self._start = time.perf_counter()

    def elapsed(self) -> float:
        return self.time_offset + (time.perf_counter() - self._start if self._start is not None else 0.0)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not logs or not state.is_world_process_zero:
            return
        epoch = float(logs.get("epoch", state.epoch or 0.0))
        if "eval_loss" in logs:
            metrics = {k: logs[k] for k in _EVAL_DETAIL_KEYS if k in logs}
            rec = ProgressRecord(kind="eval", epoch=epoch, step=state.global_step, loss=None, learning_rate=None,
                                 training_time_seconds=round(self.elapsed(), 3), eval_loss=float(logs["eval_loss"]),
                                 metrics=metrics or None)
        elif "loss" in logs:
            lr = logs.get("learning_rate")
            rec = ProgressRecord(kind="train", epoch=epoch, step=state.global_step, loss=float(logs["loss"]),
                                 learning_rate=float(lr) if lr is not None else None,
                                 training_time_seconds=round(self.elapsed(), 3))
        else:  # the end-of-training summary (train_runtime, train_loss, ...) is returned in TrainResult instead
            return
        self.sink.record(rec)
