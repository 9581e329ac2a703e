"""Device helpers: pick a device, mixed precision on CUDA, channels_last, optional torch.compile."""

from __future__ import annotations

import contextlib

import torch
from torch import nn

__all__ = ["autocast", "prepare_model", "resolve_device"]


def resolve_device(name: str = "auto") -> torch.device:
    """"auto" -> cuda when available, else cpu. A request for cuda without a GPU is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda was asked for but torch sees no GPU "
                           f"(torch {torch.__version__}); install a CUDA build (README, 'GPU') or use --device cpu")
    return device


def autocast(device: torch.device, enabled: bool = True):
    """bf16 autocast on CUDA when the card supports it, else fp16; a no-op context on CPU."""
    if device.type != "cuda" or not enabled:
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.autocast("cuda", dtype=dtype)


def prepare_model(model: nn.Module, device: torch.device, compile: bool = False) -> nn.Module:
    """Move to ``device``; channels_last on CUDA (faster convs with tensor cores); compile if asked."""
    model = model.to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    if compile:
        model = torch.compile(model)
    return model
