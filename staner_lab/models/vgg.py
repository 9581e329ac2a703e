"""SGAER's front end: "the first 10 layers of VGG-16" = conv1_1 ... conv4_3 with the pools between.

The layers live in ``self.features``, an ``nn.Sequential`` whose indices match torchvision's
``vgg16().features`` (conv1_1 = features.0, ..., conv4_3 = features.21), so an ImageNet
state-dict file saved from torchvision loads with :func:`load_vgg16_weights`, without torchvision
and without any download.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn

from staner_lab.config import FrontEndConfig

__all__ = ["CONV_NAMES", "VGG16_FRONTEND", "VGGFrontEnd", "VGGWeightsError", "load_vgg16_weights"]

# torchvision's cfg "D" cut after conv4_3 (the pool after block 4 is not part of the front end).
VGG16_FRONTEND: list[int | str] = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512]
CONV_NAMES = [f"conv{b}_{i}" for b, n in ((1, 2), (2, 2), (3, 3), (4, 3)) for i in range(1, n + 1)]

# ImageNet statistics averaged over RGB, for grayscale input in [0, 1].
GRAY_MEAN, GRAY_STD = 0.449, 0.226


class VGGWeightsError(ValueError):
    """An ImageNet VGG-16 weights file is missing or does not fit the front end."""


class VGGFrontEnd(nn.Module):
    """conv1_1 ... conv4_3 of VGG-16 (ReLU after each conv, 2x2 max-pool after blocks 1-3).

    Args:
        config: widths, grayscale handling, batch norm.

    Shapes:
        input (B, 1, S, S) grayscale in [0, 1] -> U (B, 512 * width, S / 8, S / 8).

    >>> fe = VGGFrontEnd(FrontEndConfig(width=0.125))
    >>> fe(torch.zeros(2, 1, 64, 64)).shape
    torch.Size([2, 64, 8, 8])
    """

    def __init__(self, config: FrontEndConfig) -> None:
        super().__init__()
        self.config = config
        in_ch = 3 if config.grayscale == "repeat" else 1  # grayscale faces
        layers: list[nn.Module] = []
        self.conv_index: dict[str, int] = {}  # "conv4_3" -> index in self.features
        names = iter(CONV_NAMES)
        for v in VGG16_FRONTEND:
            if v == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
                continue
            out_ch = max(1, round(int(v) * config.width))
            self.conv_index[next(names)] = len(layers)
            layers.append(nn.Conv2d(in_ch, out_ch, kernel_size=3, padding=1))
            if config.batch_norm:
                layers.append(nn.BatchNorm2d(out_ch))
            layers.append(nn.ReLU(inplace=True))
            in_ch = out_ch
        self.features = nn.Sequential(*layers)
        self.out_channels = in_ch
        self.stride = 8
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """He (fan-in) initialisation. PyTorch's default conv init shrinks the signal through ten
        ReLU layers without batch norm until U is ~0 and SGAER cannot start learning; He
        init keeps its scale from layer to layer (fan-in also for the one-channel conv1_1)."""
        for m in self.features:
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        x = (x - GRAY_MEAN) / GRAY_STD
        if self.config.grayscale == "repeat":
            x = x.expand(-1, 3, -1, -1)  # (B, 3, S, S)
        return self.features(x)


def load_vgg16_weights(frontend: VGGFrontEnd, path: str | Path) -> list[str]:
    """Load ImageNet VGG-16 conv weights from a local torchvision state-dict file.

    The file is what ``torch.save(torchvision.models.vgg16(weights="IMAGENET1K_V1").state_dict(), p)``
    writes (or the ``vgg16-397923af.pth`` file from torchvision's cache). It is read with
    ``weights_only=True``. conv1_1's RGB kernels are summed over the colour axis for grayscale input
    (``grayscale="sum"``): for a gray image repeated over RGB the response is the same.

    Args:
        frontend: a front end with ``width=1.0``.
        path: the ``.pth`` file.

    Returns:
        the names of the loaded tensors (e.g. ``features.0.weight``).

    Raises:
        VGGWeightsError: the file is missing, unreadable, or does not match the front end.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise VGGWeightsError(
            f"VGG-16 weights file not found: {path}. staner-lab never downloads weights. On a machine "
            "with torchvision and a network, save them once with: python -c \"import torch, torchvision; "
            "torch.save(torchvision.models.vgg16(weights='IMAGENET1K_V1').state_dict(), 'vgg16.pth')\" "
            "and pass that file's path."
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise VGGWeightsError(f"could not read {path} as a PyTorch state dict ({exc})") from exc
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise VGGWeightsError(f"{path} holds a {type(state).__name__}, not a state dict")
    if frontend.config.batch_norm:
        raise VGGWeightsError("ImageNet VGG-16 weights (torchvision vgg16) have no batch norm; "
                              "use FrontEndConfig(batch_norm=False)")
    own = frontend.state_dict()
    new: dict[str, Tensor] = {}
    for key, target in own.items():
        src_key = key  # features.N.weight has the same name as in torchvision's vgg16
        if src_key not in state:
            raise VGGWeightsError(
                f"{path} has no tensor {src_key!r}; it does not look like a torchvision vgg16 state dict "
                f"(first keys: {list(state)[:4]})"
            )
        w = state[src_key]
        if key == "features.0.weight" and frontend.config.grayscale == "sum" and w.shape[1] == 3:
            w = w.sum(dim=1, keepdim=True)  # (64, 3, 3, 3) -> (64, 1, 3, 3)
        if w.shape != target.shape:
            raise VGGWeightsError(
                f"{path}: {src_key} has shape {tuple(w.shape)} but the front end expects "
                f"{tuple(target.shape)}; ImageNet weights need width=1.0 (the 'paper' preset)"
            )
        new[key] = w.to(target.dtype)
    frontend.load_state_dict(new)
    return sorted(new)
