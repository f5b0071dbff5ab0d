"""Image-quality metrics on 8-bit RGB images (HxWx3 uint8): pure functions, reference image first.

* :func:`psnr_rgb`: PSNR over all three channels, peak 255; ``inf`` for identical images.
* :func:`ms_ssim_rgb`: five-scale MS-SSIM (``pytorch_msssim``, data range 255); None below
  :data:`MS_SSIM_MIN_SIDE` pixels per side, where the pyramid does not fit.
* :func:`flip` / :func:`flip_map`: NVIDIA's LDR-FLIP (``flip_evaluator``), the images taken as sRGB
  and viewed at FLIP's default 67 pixels per degree (a 0.7 m wide 4K monitor seen from 0.7 m).
  0 = identical, 1 = maximal difference; lower is better.
* :func:`lpips_distance`: LPIPS v0.1 with the AlexNet trunk (the ``lpips`` package); lower is better.
  Its linear layers ship inside the package, but the AlexNet trunk is torchvision's ImageNet weights,
  which torchvision downloads on first use. This module never downloads: it loads the trunk only from
  torch's hub cache (:func:`alexnet_weights_path`) and otherwise returns None, after logging one
  warning per process. Put ``alexnet-owt-7be5be79.pth`` in ``$TORCH_HOME/hub/checkpoints/`` (by
  default ``~/.cache/torch/hub/checkpoints/``) to enable it.
"""
from __future__ import annotations

import logging
import math
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch

log = logging.getLogger(__name__)

MS_SSIM_MIN_SIDE = 161  # five-scale MS-SSIM with an 11-px window needs ≥ 161 px per side
LPIPS_MIN_SIDE = 31  # AlexNet's conv/pool stack up to relu5 needs ≥ 31 px per side
FLIP_PARAMETERS: dict[str, Any] = {}  # FLIP defaults: 67 pixels per degree, sRGB LDR input
ALEXNET_WEIGHTS_FILE = "alexnet-owt-7be5be79.pth"  # torchvision AlexNet_Weights.IMAGENET1K_V1
LPIPS_UNAVAILABLE = ("LPIPS skipped: AlexNet backbone weights are not available offline "
                     "(torchvision would download them); expected {path}")


def _check_pair(a: np.ndarray, b: np.ndarray) -> None:
    for image in (a, b):
        if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"expected HxWx3 uint8 RGB arrays, got shape {getattr(image, 'shape', None)} "
                             f"and dtype {getattr(image, 'dtype', type(image).__name__)}")
    if a.shape != b.shape:
        raise ValueError(f"images differ in size: {a.shape} vs {b.shape}")


def psnr_rgb(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB over R, G and B together (peak 255); ``math.inf`` when the images are identical."""
    _check_pair(a, b)
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


def ms_ssim_rgb(a: np.ndarray, b: np.ndarray) -> float | None:
    """MS-SSIM on RGB in [0, 255]; None for images smaller than the five-scale pyramid allows."""
    from pytorch_msssim import ms_ssim

    _check_pair(a, b)
    if min(a.shape[:2]) < MS_SSIM_MIN_SIDE:
        return None
    to_tensor = lambda im: torch.from_numpy(im).permute(2, 0, 1)[None].double()  # noqa: E731
    return float(ms_ssim(to_tensor(a), to_tensor(b), data_range=255))


def _flip(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, float]:
    import flip_evaluator

    _check_pair(a, b)
    to_float = lambda im: np.ascontiguousarray(im, dtype=np.float32) / np.float32(255)  # noqa: E731
    error_map, mean, _ = flip_evaluator.evaluate(to_float(a), to_float(b), "LDR", inputsRGB=True,
                                                 applyMagma=False, computeMeanError=True,
                                                 parameters=dict(FLIP_PARAMETERS))
    return np.asarray(error_map, dtype=np.float32).reshape(a.shape[:2]), float(mean)


def flip_map(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-pixel LDR-FLIP error of ``b`` against reference ``a``: HxW float32 in [0, 1]."""
    return _flip(a, b)[0]


def flip(a: np.ndarray, b: np.ndarray) -> float:
    """Mean LDR-FLIP error of ``b`` against reference ``a`` (0 = identical; lower is better)."""
    return _flip(a, b)[1]


def alexnet_weights_path() -> Path:
    """Where torchvision caches the AlexNet ImageNet weights (``torch.hub.get_dir()/checkpoints``)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / ALEXNET_WEIGHTS_FILE


@lru_cache(maxsize=4)
def _lpips_model(weights: str) -> torch.nn.Module | None:
    """LPIPS-Alex with its trunk loaded from the local file ``weights``; None (one warning) if absent.

    The trunk is built randomly initialised (``pnet_rand=True``: torchvision downloads nothing), then
    the cached ImageNet weights are copied in: torchvision's ``features.<i>`` is LPIPS's
    ``net.slice<k>.<i>``. The package's own linear layers are loaded by ``lpips`` (``pretrained=True``).
    """
    path = Path(weights)
    if not path.is_file():
        log.warning(LPIPS_UNAVAILABLE.format(path=path))
        return None
    try:
        import lpips

        with warnings.catch_warnings():  # torchvision's deprecation notes on lpips's ``pretrained=`` call
            warnings.simplefilter("ignore", UserWarning)
            model = lpips.LPIPS(net="alex", version="0.1", pretrained=True, pnet_rand=True, verbose=False)
        trunk = torch.load(path, map_location="cpu", weights_only=True)
        state = model.state_dict()
        for key in state:
            if key.startswith("net.slice"):
                _, _, index, param = key.split(".")
                state[key] = trunk[f"features.{index}.{param}"]
        model.load_state_dict(state)
    except Exception as error:  # noqa: BLE001 - an unreadable or foreign file: skip LPIPS, say why
        log.warning(f"LPIPS skipped: cannot load the AlexNet backbone from {path}: {type(error).__name__}: {error}")
        return None
    return model.eval()


def lpips_available() -> bool:
    """Whether :func:`lpips_distance` can run here (warns once, the first time it cannot)."""
    return _lpips_model(str(alexnet_weights_path())) is not None


def lpips_distance(a: np.ndarray, b: np.ndarray) -> float | None:
    """LPIPS (v0.1, AlexNet) between ``a`` and ``b``; None when the AlexNet weights are not cached
    locally (one warning, never a download) or the images are under :data:`LPIPS_MIN_SIDE` px a side."""
    _check_pair(a, b)
    model = _lpips_model(str(alexnet_weights_path()))
    if model is None or min(a.shape[:2]) < LPIPS_MIN_SIDE:
        return None
    to_tensor = lambda im: torch.from_numpy(im).permute(2, 0, 1)[None].float() / 127.5 - 1  # noqa: E731
    with torch.inference_mode():
        return float(model(to_tensor(a), to_tensor(b)).item())
