"""One order for "auto": the device it resolves to is the first one the window lists."""

from __future__ import annotations

import pytest
import torch

from cnnstudio.choices import DeviceKind
from cnnstudio.training.fit.devices import available_kinds, list_devices, resolve_device


@pytest.mark.parametrize("cuda, mps", [(True, True), (False, True), (False, False)])
def test_auto_is_the_first_listed_device(monkeypatch, cuda, mps):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1 if cuda else 0)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda i: "Test GPU")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
    expected = [kind for kind, there in ((DeviceKind.CUDA, cuda), (DeviceKind.MPS, mps)) if there] + [DeviceKind.CPU]
    assert available_kinds() == expected
    first = list_devices()[0][1]
    assert resolve_device("auto").type == first.split(":")[0] == expected[0].value
