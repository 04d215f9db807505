"""Hand-written autograd functions compute in float32, also under mixed precision.

Their backward passes are written for one dtype; under ``torch.autocast``
their inputs may arrive in bf16 or fp16 (the output of an autocast matrix
product, say). ``in_fp32`` turns autocast off around them and gives them
float32 inputs; what follows them is cast by autocast as any fp32 tensor is.
"""

from __future__ import annotations

import functools

import torch


def in_fp32(function):
    @functools.wraps(function)
    def wrapper(*args):
        device = next(a.device.type for a in args if torch.is_tensor(a))
        if not torch.is_autocast_enabled(device):
            return function(*args)
        with torch.autocast(device, enabled=False):
            return function(
                *(a.float() if torch.is_tensor(a) and a.is_floating_point() else a for a in args)
            )

    return wrapper
