"""The embedded mini zoo: small models trained here on bundled data, so an offline machine shows a real
speed/quality trade-off.

* Data: scikit-learn's bundled digits (1,797 images, 8×8, 10 classes) upsampled to 16×16 (``data``).
* ``digits-extractor``: a small CNN classifier; its penultimate features (before the ReLU) define the
  Fréchet distance ``fd_digits``, its predictions ``class_accuracy`` (``metrics``).
* ``digits-small`` / ``digits-large``: class-conditional diffusion UNets (DDPM objective), saved with
  ``save_pretrained`` and loaded through the ordinary loader via their cards
  (``pipeline: harness.zoo.pipeline:ClassConditionalPipeline``).
* ``recipes``: one dataclass per model, for every modality (the video and audio members are in ``av``);
  ``harness zoo train NAME`` rebuilds it bit for bit (``train``: one training loop per kind, ``training``;
  what differs by modality, ``domains``).

Nothing here is imported by ``harness --help``; torch is imported inside functions.
"""

from __future__ import annotations

from harness.core.paths import REPO_ROOT

ZOO_DIR = REPO_ROOT / "model_cards" / "zoo"
EXTRACTOR_DIR = ZOO_DIR / "digits-extractor"
HELDOUT_STATS = ZOO_DIR / "digits_heldout_stats.npz"

__all__ = ["EXTRACTOR_DIR", "HELDOUT_STATS", "ZOO_DIR"]
