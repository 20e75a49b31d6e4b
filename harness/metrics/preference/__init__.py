"""Human-preference and aesthetic scores of each image (or video frame) with its prompt.

* ``image_reward``: ImageReward v1.0 through the authors' package ``image-reward`` (``image_reward.py``);
* ``hps_v21``: HPS v2.1, hpsv2's scoring on ``open-clip-torch`` (hpsv2 itself does not install; ``hps.py``);
* ``pickscore``: PickScore v1, the authors' model-card snippet on transformers' ``CLIPModel`` (``pickscore.py``);
* ``aesthetic``: LAION's improved aesthetic predictor v2 on OpenAI CLIP ViT-L/14 from the ``clip`` package
  (``aesthetic.py``).

Each is per sample (a video: the mean over its frames), higher is better, with the mean, ``n``, the standard
deviation and a bootstrap 95% interval in the record (``base.py``). Weights are pinned in ``harness.metrics.weights``;
absent ones skip the metric with the ``harness weights fetch`` command. Torch and the scoring packages are
imported only when a metric first scores.
"""

from __future__ import annotations

from harness.metrics.preference.aesthetic import Aesthetic
from harness.metrics.preference.base import PreferenceMetric, PreferenceOptions
from harness.metrics.preference.hps import HPSv21
from harness.metrics.preference.image_reward import ImageRewardScore
from harness.metrics.preference.pickscore import PickScore

__all__ = ["Aesthetic", "HPSv21", "ImageRewardScore", "PickScore", "PreferenceMetric", "PreferenceOptions"]
