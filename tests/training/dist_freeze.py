"""What torchrun runs in test_distributed_faults: the real `cnnstudio train` CLI, where the rank
named by FREEZE_RANK writes its PID to PID_FILE and stops itself (SIGSTOP) at the end of its
first epoch — a frozen process, as a debugger or a swapped-out machine leaves it.

Not a test module (no test_ prefix): a helper the test launches.
"""

from __future__ import annotations

import os
import signal
import sys

from cnnstudio.cli import main
from cnnstudio.training.fit import distributed

if os.environ.get("RANK") == os.environ["FREEZE_RANK"]:
    def _freeze(self: object, name: str) -> object:
        if name == "append_metrics":  # the end of an epoch, on a rank that writes nothing
            def stop(*_args: object, **_kwargs: object) -> None:
                with open(os.environ["PID_FILE"], "w") as handle:
                    handle.write(str(os.getpid()))
                os.kill(os.getpid(), signal.SIGSTOP)
            return stop
        return lambda *args, **kwargs: None

    distributed.NullRunWriter.__getattr__ = _freeze  # type: ignore[method-assign]

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
