"""The one training step's hooks: what an observer sees, and that gradients reach it unscaled."""

from __future__ import annotations

import torch
from torch import nn

from cnnstudio.training.fit.step import StepOutput, train_step


class _Seen:
    """Records the moments of a step and the first layer's gradient before the optimizer's step."""

    wants_gradients = True

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.moments: list[str] = []
        self.grad: torch.Tensor | None = None

    def after_forward(self) -> None:
        self.moments.append("forward")

    def after_backward(self) -> None:
        self.moments.append("backward")

    def before_optimizer_step(self) -> None:
        self.moments.append("optimizer")
        self.grad = self.model[0].weight.grad.detach().clone()


def _model() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))


def test_an_observer_reads_unscaled_gradients_when_a_scaler_is_on() -> None:
    x, y = torch.randn(12, 8), torch.randint(0, 3, (12,))
    plain_model, scaled_model = _model(), _model()
    plain, scaled = _Seen(plain_model), _Seen(scaled_model)
    train_step(plain_model, x, y, optimizer=torch.optim.SGD(plain_model.parameters(), lr=0.1),
               scaler=torch.amp.GradScaler("cpu", enabled=False), dtype=None, aux_weight=0.3, hooks=plain)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**12)  # fp16's loss scaling, on the CPU
    out = train_step(scaled_model, x, y, optimizer=torch.optim.SGD(scaled_model.parameters(), lr=0.1),
                     scaler=scaler, dtype=None, aux_weight=0.3, hooks=scaled)
    assert scaled.moments == ["forward", "backward", "optimizer"]
    torch.testing.assert_close(scaled.grad, plain.grad)  # not 4096 times larger
    # And the optimizer stepped with those gradients: both models took the same step.
    for a, b in zip(plain_model.parameters(), scaled_model.parameters()):
        torch.testing.assert_close(a, b)
    assert isinstance(out, StepOutput) and out.aux is None and not out.loss.requires_grad


def test_a_step_without_observer_trains_the_same_weights() -> None:
    x, y = torch.randn(12, 8), torch.randint(0, 3, (12,))
    a, b = _model(), _model()
    for model, hooks in ((a, None), (b, _Seen(b))):
        train_step(model, x, y, optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
                   scaler=torch.amp.GradScaler("cpu", enabled=False), dtype=None, aux_weight=0.3, hooks=hooks)
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)
