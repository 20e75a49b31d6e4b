"""pytorch-fid's FID Inception-v3 as a feature extractor, with clean-fid's three resizes.

* ``inception-v3-fid``: pytorch-fid's ``InceptionV3`` (``use_fid_inception=True``, pool3, 2048-d) with the
  weights loaded from OUR located, verified ``pt_inception-2015-12-05-6726825d.pth`` (never via its URL).
  ``resize`` takes clean-fid's three names (the choice alone moves FID by several points on identical images).
  Every mode first quantises the [0, 1] images to 8 bits (``quantize``: ``rint(255 x)``), because the tools
  they reproduce read 8-bit image files (pytorch-fid, clean-fid, TTUR, torch-fidelity); a float image off that
  grid would differ by up to half a level (#23 item 7). ``legacy_pytorch`` (default) is pytorch-fid's protocol:
  ``u8 / 255`` (torchvision's ``ToTensor``), ``F.interpolate`` bilinear to 299 (``align_corners=False``) inside
  the network, then ``2x − 1``; ``clean`` is clean-fid's: PIL bicubic per channel in float mode to 299 × 299,
  clip to [0, 255]; ``legacy_tensorflow`` is the original TTUR / TensorFlow FID's: TF1 ``resize_bilinear``
  (``align_corners=False``, no half-pixel centres: source = destination × in / out) of the [0, 255] image
  (``tf1_resize_bilinear``). After ``clean`` and ``legacy_tensorflow`` the network runs without its own resize
  on ``(x − 128) / 128``, the TensorFlow graph's input scaling (clean-fid feeds its TF-ported Inception so in
  both modes).
* ``inception-v3-fid-logits``: the same network's 1008 logits without the fc bias (``logits_unbiased``, what
  torch-fidelity / torchmetrics' InceptionScore use), for the Inception Score.

Torch is imported only when the extractor is built.
"""

from __future__ import annotations

import os
import threading
from typing import Any, ClassVar

import numpy as np

from harness.metrics import weights as W
from harness.metrics.extractors import FeatureExtractor, quantize
from harness.metrics.loading import cached_model, load_network

__all__ = [
    "FID_RESIZES",
    "RENAMED_RESIZES",
    "InceptionFID",
    "build_fid_inception",
    "check_fid_resize",
    "clean_resize",
    "tf1_resize_bilinear",
]

_PATCH_LOCK = threading.Lock()


def _fid_inception_architecture() -> Any:
    """pytorch-fid's ``fid_inception_v3()`` without its download: the same modules, uninitialised weights."""
    import pytorch_fid.inception as pi

    inc = pi._inception_v3(num_classes=1008, aux_logits=False, weights=None)
    inc.Mixed_5b = pi.FIDInceptionA(192, pool_features=32)
    inc.Mixed_5c = pi.FIDInceptionA(256, pool_features=64)
    inc.Mixed_5d = pi.FIDInceptionA(288, pool_features=64)
    inc.Mixed_6b = pi.FIDInceptionC(768, channels_7x7=128)
    inc.Mixed_6c = pi.FIDInceptionC(768, channels_7x7=160)
    inc.Mixed_6d = pi.FIDInceptionC(768, channels_7x7=160)
    inc.Mixed_6e = pi.FIDInceptionC(768, channels_7x7=192)
    inc.Mixed_7b = pi.FIDInceptionE_1(1280)
    inc.Mixed_7c = pi.FIDInceptionE_2(2048)
    return inc


def build_fid_inception(pt_path: os.PathLike[str] | str, *, resize_input: bool) -> Any:
    """pytorch-fid's ``InceptionV3([3], use_fid_inception=True)`` with the state dict read from ``pt_path``.

    Returns:
        ``(net, fc)``: the wrapper (pool3 output) and the 1008-class fc layer (for logits).
    """
    import pytorch_fid.inception as pi

    inc = load_network(_fid_inception_architecture, pt_path)
    # InceptionV3.__init__ calls pytorch_fid.inception.fid_inception_v3(), which downloads; hand it ours.
    with _PATCH_LOCK:
        original = pi.fid_inception_v3
        pi.fid_inception_v3 = lambda: inc
        try:
            net = pi.InceptionV3(
                output_blocks=[pi.InceptionV3.BLOCK_INDEX_BY_DIM[2048]],
                resize_input=resize_input,
                normalize_input=True,
                requires_grad=False,
                use_fid_inception=True,
            )
        finally:
            pi.fid_inception_v3 = original
    return net.eval(), inc.fc


def clean_resize(images_u8: np.ndarray, size: int = 299) -> np.ndarray:
    """clean-fid's "clean" resize: PIL bicubic on each channel as float ('F' mode), clipped to [0, 255].

    Args:
        images_u8: (B, H, W, 3) uint8.

    Returns:
        (B, size, size, 3) float32 in [0, 255].
    """
    from PIL import Image

    out = np.empty((len(images_u8), size, size, 3), dtype=np.float32)
    for i, img in enumerate(images_u8):
        for c in range(3):
            ch = Image.fromarray(img[:, :, c].astype(np.float32), mode="F")
            out[i, :, :, c] = np.asarray(ch.resize((size, size), resample=Image.BICUBIC)).clip(0, 255)
    return out


def _tf1_taps(in_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    # TF1's legacy scaler in float32: source s = i * (in / out); lower floor(s), upper min(ceil(s), in - 1).
    scale = np.float32(in_size) / np.float32(out_size)
    s = np.arange(out_size, dtype=np.float32) * scale
    floor = np.floor(s)
    lower = np.maximum(floor.astype(np.int64), 0)
    upper = np.minimum(np.ceil(s).astype(np.int64), in_size - 1)
    return lower, upper, (s - floor).astype(np.float32)


def tf1_resize_bilinear(images: Any, size: int = 299) -> Any:
    """TensorFlow 1's ``tf.image.resize_bilinear`` (``align_corners=False``, no half-pixel centres), in torch.

    The resize of the original TTUR / TensorFlow FID: output pixel ``i`` samples the input at
    ``s = i · in / out`` with ``lower = floor(s)``, ``upper = min(ceil(s), in − 1)`` and weight ``s − floor(s)``;
    rows are blended as ``top + (bottom − top) · wy`` after ``left + (right − left) · wx`` along x, in float32.

    Args:
        images: (B, C, H, W) float tensor (FID feeds it the [0, 255] image).
        size: The output height and width.

    Returns:
        (B, C, size, size) float32 tensor on the input's device.
    """
    import torch

    x = images.float()
    y0, y1, wy = (torch.from_numpy(a).to(x.device) for a in _tf1_taps(x.shape[-2], size))
    x0, x1, wx = (torch.from_numpy(a).to(x.device) for a in _tf1_taps(x.shape[-1], size))
    top, bottom = x[..., y0, :], x[..., y1, :]
    top = top[..., x0] + (top[..., x1] - top[..., x0]) * wx
    bottom = bottom[..., x0] + (bottom[..., x1] - bottom[..., x0]) * wx
    return top + (bottom - top) * wy[:, None]


# The resize modes of the FID Inception, named as clean-fid names them; the detail goes into the fingerprint.
FID_RESIZES: dict[str, str] = {
    "legacy_pytorch": "uint8 (as pytorch-fid reads image files), /255, bilinear to 299 inside the network "
    "(F.interpolate, align_corners=False), then 2x - 1, as pytorch-fid",
    "clean": "uint8, PIL bicubic per channel in float mode to 299, clip [0, 255], then (x - 128) / 128, "
    "as clean-fid",
    "legacy_tensorflow": "uint8 (as TTUR reads image files) as [0, 255], TF1 resize_bilinear to 299 "
    "(align_corners=False, no half-pixel centres), then (x - 128) / 128, as the TTUR / TensorFlow FID",
}
RENAMED_RESIZES: dict[str, str] = {"bilinear": "legacy_pytorch"}


def check_fid_resize(resize: Any) -> str:
    """``resize`` if it is one of ``FID_RESIZES``; a one-line ValueError otherwise (naming renamed modes)."""
    if resize in RENAMED_RESIZES:
        raise ValueError(
            f"resize {resize!r} is now called {RENAMED_RESIZES[resize]!r} (the same resize, clean-fid's name; "
            f"allowed: {', '.join(FID_RESIZES)})"
        )
    if resize not in FID_RESIZES:
        raise ValueError(f"resize must be one of {', '.join(FID_RESIZES)}, got {resize!r}")
    return resize


class InceptionFID(FeatureExtractor):
    """pytorch-fid's FID Inception-v3 on our verified weights file (see the module docstring)."""

    RESIZES: ClassVar[tuple[str, ...]] = tuple(FID_RESIZES)
    OUTPUTS: ClassVar[dict[str, int]] = {"pool": 2048, "logits": 1008}
    packages = (*FeatureExtractor.packages, "torchvision", "pytorch-fid", "pillow")

    def __init__(
        self,
        *,
        device: str = "cpu",
        weights_dir: str | os.PathLike[str] | None = None,
        batch_size: int = 50,
        resize: str = "legacy_pytorch",
        output: str = "pool",
    ) -> None:
        super().__init__(batch_size)
        check_fid_resize(resize)
        if output not in self.OUTPUTS:
            raise ValueError(f"output must be one of {', '.join(self.OUTPUTS)}, got {output!r}")
        import torch

        self.located = W.locate("pytorch-fid-inception", weights_dir)
        self.resize, self.output, self.device = resize, output, device
        self.dim = self.OUTPUTS[output]
        sha = self.located.sha256[self.located.path.name]
        resize_input = resize == "legacy_pytorch"

        def load() -> tuple[Any, Any]:
            net, fc = build_fid_inception(self.located.path, resize_input=resize_input)
            return net.to(device), fc.weight.detach().to(device)

        self._net, self._fc_weight = cached_model(("inception-fid", sha, resize_input, device), load)
        self._torch = torch

    def protocol(self) -> dict[str, Any]:
        return {
            **super().protocol(),
            "network": "pytorch-fid InceptionV3 (use_fid_inception=True)",
            "weights": self.located.details(),
            "resize": self.resize,
            "resize_detail": FID_RESIZES[self.resize],
            "input": "RGB in [0, 1]",
            "output": "pool3 (2048)" if self.output == "pool" else "logits without bias (1008)",
            "dtype": "float32 network, float64 features",
        }

    def network_input(self, batch: np.ndarray) -> Any:
        """(B, H, W, 3) in [0, 1] → the (B, 3, h, w) float32 tensor the wrapped network is given.

        Every mode starts from the 8-bit image, as the reference tools read it from a file. The network scales
        its input by ``2x − 1``: ``legacy_pytorch`` hands it ``u8 / 255`` (its own resize runs first); the other
        modes hand it the resized [0, 255] image / 256, so that it sees ``(x − 128) / 128``.
        """
        torch = self._torch
        u8 = quantize(batch)
        if self.resize == "clean":
            x = torch.from_numpy(clean_resize(u8).transpose(0, 3, 1, 2))
            return x.to(self.device) / 256.0
        x = torch.from_numpy(np.ascontiguousarray(u8.transpose(0, 3, 1, 2))).to(self.device).float()
        if self.resize == "legacy_tensorflow":
            return tf1_resize_bilinear(x) / 256.0
        return x / 255.0

    def _forward(self, batch: np.ndarray) -> Any:
        torch = self._torch
        with torch.inference_mode():
            pool = self._net(self.network_input(batch))[0].flatten(1)
            if self.output == "logits":
                return pool @ self._fc_weight.T
            return pool
