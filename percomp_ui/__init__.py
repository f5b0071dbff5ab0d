"""percomp: perceptual, region-of-interest learned image compression.

The codec core (``percomp_ui.codec``, ``.container``, ``.images``, ``.zoo``, ``.nn``) imports without
gradio; the app is one client of it, like the CLI, evaluation and training.
"""
import warnings

# compressai 1.2.8 scripts a helper with torch.jit at import time; torch 2.14 warns about it on every run.
warnings.filterwarnings("ignore", message=r"`torch\.jit\.script` is deprecated", category=FutureWarning)

__version__ = "0.1.0"
