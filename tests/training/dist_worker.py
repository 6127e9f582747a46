"""What torchrun runs in test_distributed: the real `cnnstudio train` CLI, one or more times
(commands separated by `--then`), each rank saving its final weights as DUMP_DIR/rank{R}_{i}.pt.

Not a test module (no test_ prefix): a helper the test launches.
"""

from __future__ import annotations

import os
import sys

import torch

from cnnstudio.cli import main
from cnnstudio.training.fit import trainer as trainer_module

_real_fit = trainer_module.Trainer.fit
_count = [0]


def _fit_and_dump(self: trainer_module.Trainer) -> object:
    result = _real_fit(self)
    dump = os.path.join(os.environ["DUMP_DIR"], f"rank{os.environ['RANK']}_{_count[0]}.pt")
    torch.save({k: v.detach().cpu() for k, v in self.model.state_dict().items()}, dump)
    _count[0] += 1
    return result


trainer_module.Trainer.fit = _fit_and_dump  # type: ignore[method-assign]

if __name__ == "__main__":
    commands: list[list[str]] = [[]]
    for arg in sys.argv[1:]:
        if arg == "--then":
            commands.append([])
        else:
            commands[-1].append(arg)
    for command in commands:
        code = main(command)
        if code:
            sys.exit(code)
