"""The mini zoo's video and audio members (issue #8), built like the image zoo (``harness.zoo``).

* Video: "moving digits" (``data.moving_digits_split``): a scikit-learn digit (8×8) moving across a 16×16
  canvas over 8 frames. ``moving-digits`` is a class-conditional diffusion model over the clip (a
  UNet2DModel with the 8 frames stacked as channels); ``moving-digits-extractor`` is a small 3-D CNN
  whose pre-ReLU penultimate features define ``fvd_digits``.
* Audio: synthetic notes at 8 kHz (``data.notes_split``): 8 pitches of a C-major scale with random timbre
  (harmonic mix) and ADSR envelope, 2,048 samples (0.256 s). ``notes`` is a class-conditional 1-D
  diffusion UNet of our own (``models.NotesUNet1D``, a diffusers ModelMixin); ``notes-extractor`` is a
  1-D CNN over the log-magnitude STFT whose pre-ReLU features define ``fad_notes``.

Weights and held-out statistics live in ``model_cards/zoo``; ``harness zoo train NAME`` rebuilds them with the
zoo's one training loop (``harness.zoo.train``; their recipes are in ``harness.zoo.recipes``).
"""

from __future__ import annotations

from harness.zoo import ZOO_DIR

VIDEO_EXTRACTOR_DIR = ZOO_DIR / "moving-digits-extractor"
VIDEO_HELDOUT_STATS = ZOO_DIR / "moving_digits_heldout_stats.npz"
AUDIO_EXTRACTOR_DIR = ZOO_DIR / "notes-extractor"
AUDIO_HELDOUT_STATS = ZOO_DIR / "notes_heldout_stats.npz"

__all__ = ["AUDIO_EXTRACTOR_DIR", "AUDIO_HELDOUT_STATS", "VIDEO_EXTRACTOR_DIR", "VIDEO_HELDOUT_STATS"]
