"""Running the same training code in several processes (torchrun, accelerate launch): who writes, and sums across ranks.

The launcher's environment says a process's rank before any process group exists, so `rxt5 train` can let rank 0 alone
create the session and the database rows before the Trainer initialises the group (transformers does it when the
TrainingArguments first resolve their device: gloo on CPU, nccl on CUDA). Every other rank trains only.
No torch import at module level: `pipeline` asks for the rank before deciding whether to load torch at all.
"""

from __future__ import annotations

import os
import sys
from typing import Sequence

# torchrun and accelerate launch set RANK/WORLD_SIZE; mpirun-style launchers (which accelerate also reads) set these
_RANK_VARS = ("RANK", "PMI_RANK", "OMPI_COMM_WORLD_RANK", "MV2_COMM_WORLD_RANK")
_WORLD_VARS = ("WORLD_SIZE", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE")


def _first_int(names: Sequence[str], default: int) -> int:
    for name in names:
        value = os.environ.get(name)
        if value not in (None, ""):
            return int(value)
    return default


def launch_rank() -> int:
    """This process's global rank as the launcher set it (0 when not launched as several processes)."""
    return _first_int(_RANK_VARS, 0)


def launch_world_size() -> int:
    return _first_int(_WORLD_VARS, 1)


def is_main_process() -> bool:
    """True in a single-process run and on rank 0 of a multi-process one: the process that writes rows and files."""
    return launch_rank() == 0


def sum_across_processes(values: Sequence[float], device=None) -> list[float]:
    """Element-wise sum of `values` over every process of the initialised group (the values themselves when there is
    no group). A collective: every rank must call it at the same point."""
    import torch
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() < 2:
        return [float(v) for v in values]
    # float64 keeps token counts exact far past 2**24; nccl needs the tensor on the rank's GPU
    t = torch.tensor([float(v) for v in values], dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.tolist()


def destroy_process_group() -> None:
    """Leave the process group cleanly at the end of a launched run (torch warns at exit otherwise)."""
    dist = sys.modules.get("torch.distributed")
    if dist is None:  # torch never loaded (a run that failed on its input): no group, and no reason to import it
        return
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
