"""LPIPS without downloads: its backbone weights come from a local file or not at all.

``lpips.LPIPS`` ships its linear layers but takes its backbone (AlexNet, VGG16, SqueezeNet) from
torchvision's ImageNet weights, which torchvision downloads into ``torch.hub.get_dir()/checkpoints``
the first time. Nothing may be downloaded here, so :func:`load_lpips` only looks for that file
(e.g. ``alexnet-owt-7be5be79.pth``; no network attempt at all) and loads it itself. Without it the
caller gets ``None`` and a status string to show or record (training drops the γ term, evaluation
reports LPIPS as null). Put the file in ``$TORCH_HOME/hub/checkpoints/`` to enable LPIPS.
"""
from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path
from urllib.parse import urlparse

import torch
from torch import nn

log = logging.getLogger("percomp_ui")

# LPIPS network name → (display name, torchvision weights enum, file torchvision downloads).
LPIPS_BACKBONES: dict[str, tuple[str, str, str]] = {
    "alex": ("AlexNet", "AlexNet_Weights", "alexnet-owt-7be5be79.pth"),
    "vgg": ("VGG16", "VGG16_Weights", "vgg16-397923af.pth"),
    "squeeze": ("SqueezeNet 1.1", "SqueezeNet1_1_Weights", "squeezenet1_1-b8a52dc0.pth"),
}


def lpips_backbone_file(net: str = "alex") -> Path:
    """Where torchvision keeps (and would download) the ImageNet weights LPIPS's backbone needs."""
    if net not in LPIPS_BACKBONES:
        raise ValueError(f"unknown LPIPS network {net!r} (one of {', '.join(LPIPS_BACKBONES)})")
    _, enum_name, file_name = LPIPS_BACKBONES[net]
    try:  # the file name torchvision itself uses (no network: only reads the enum's URL)
        from torchvision import models

        file_name = os.path.basename(urlparse(getattr(models, enum_name).IMAGENET1K_V1.url).path)
    except (ImportError, AttributeError):
        pass
    return Path(torch.hub.get_dir()) / "checkpoints" / file_name


def load_lpips(net: str = "alex", device: torch.device | str = "cpu", warn: bool = True
               ) -> tuple[nn.Module | None, str]:
    """(LPIPS module or None, status). Never downloads: without the backbone file the term is skipped.

    The backbone is built randomly initialised (``pnet_rand=True``:
    torchvision fetches nothing), then its weights are copied in from the local file: torchvision's
    ``features.<i>.…`` is LPIPS's ``net.slice<k>.<i>.…`` (a full torchvision checkpoint or a features-only
    one both work). The linear layers come with the ``lpips`` package. The module is frozen (eval mode,
    no gradients to its weights); gradients still flow to the images.
    """
    display = LPIPS_BACKBONES[net][0] if net in LPIPS_BACKBONES else net
    path = lpips_backbone_file(net)
    if not path.is_file():
        reason, detail = f"{display} backbone weights not available offline", f"{path} does not exist"
    else:
        try:
            module = _lpips_from_local_backbone(net, path)
            reason = None
        except Exception as error:  # a damaged or foreign file, a missing package
            reason = f"{display} backbone could not be loaded from {path.name}"
            detail = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
    if reason is not None:
        if warn:
            log.warning("LPIPS skipped: %s (%s)", reason, detail)
        return None, f"skipped: {reason}"
    module = module.eval().requires_grad_(False).to(device)
    return module, f"used: lpips v0.1 net={net} ({display} backbone from {path.name})"


def _lpips_from_local_backbone(net: str, path: Path) -> nn.Module:
    import lpips

    with warnings.catch_warnings():  # torchvision's deprecation notes on lpips's ``pretrained=`` call
        warnings.simplefilter("ignore", UserWarning)
        module = lpips.LPIPS(net=net, version="0.1", pretrained=True, pnet_rand=True, verbose=False)
    trunk = torch.load(path, map_location="cpu", weights_only=True)
    state = module.state_dict()
    for key in state:
        if key.startswith("net.slice"):
            state[key] = trunk["features." + key.split(".", 2)[2]]
    module.load_state_dict(state)
    return module
