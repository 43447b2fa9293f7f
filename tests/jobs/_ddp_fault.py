"""A job worker run under torchrun whose rank 1 meets a non-finite loss at epoch 1.

The fault is the one issue 16 describes: the finite-loss check runs per rank,
so one rank raises while the others wait for it inside a collective. The
moment of the fault is written to ``$FAULT_STAMP`` (seconds since the epoch).
Started by tests/jobs/test_jobs_stop.py as ``torchrun ... _ddp_fault.py JOB_ID``.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path


def main() -> int:
    import rehab_core.training.loop as loop
    from rehab_core.jobs import worker

    if os.environ.get("RANK") == "1" and os.environ.get("FAULT_STAMP"):
        real = loop._check_finite

        def check(bad_batch: float, bad_loss: float, epoch: int, lr: float) -> None:
            if epoch == 1:
                Path(os.environ["FAULT_STAMP"]).write_text(repr(time.time()))
                bad_batch, bad_loss = 1.0, float("nan")
            real(bad_batch, bad_loss, epoch, lr)

        loop._check_finite = check
    return worker.main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
