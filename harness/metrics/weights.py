"""Pinned weights of the quality metrics: where each file comes from, its sha256, and where it is found here.

Nothing is downloaded at run time. A metric asks for a name (``locate("pytorch-fid-inception")``); the file is
looked for, in order, in

1. the ``--weights-dir`` folder (``weights_dir=`` argument), then ``$HARNESS_WEIGHTS_DIR``;
2. torch hub's cache, ``$TORCH_HOME/hub/checkpoints`` (default ``~/.cache/torch/hub/checkpoints``), for files
   published as torch hub checkpoints;
3. the Hugging Face cache (``huggingface_hub.try_to_load_from_cache``, local files only), for files published
   on the Hugging Face Hub: the pinned revision first, then whatever ``main`` points to;

and verified against its pinned sha256 (the full hash; a ``sha256_prefix`` only where the full hash is not known
for certain). A missing file raises ``WeightsNotFoundError`` with one line naming the file, every place looked
and how to provide it; a file with another hash raises ``WeightsMismatchError``. ``fetch`` (``harness weights
fetch``) downloads the files into a folder on a connected machine, laid out as ``HARNESS_WEIGHTS_DIR`` expects:
torch hub files flat (``DIR/<filename>``), Hugging Face bundles in a subfolder (``DIR/<folder>/<filename>``).

Standard library only at import time (no torch): ``harness weights list|path|verify`` start fast.
"""

from __future__ import annotations

import hashlib
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from harness.core.errors import HarnessError, UserInputError, WeightsNotFoundError
from harness.core.paths import hf_hub_cache, torch_hub_dir
from harness.core.registry import did_you_mean

__all__ = [
    "WEIGHTS",
    "Located",
    "WeightsFetchError",
    "WeightsFile",
    "WeightsMismatchError",
    "WeightsSpec",
    "fetch",
    "locate",
    "search_places",
    "sha256_of",
    "spec",
]

ENV_DIR = "HARNESS_WEIGHTS_DIR"


class WeightsMismatchError(HarnessError):
    """A weights file was found but its sha256 is not the pinned one (another or a corrupted file)."""


class WeightsFetchError(HarnessError):
    """``harness weights fetch`` could not download or verify a file (no network, HTTP error, bad hash)."""


@dataclass(frozen=True)
class WeightsFile:
    """One file of a weights entry.

    ``sha256`` is the full hex digest. Where only torch hub's 8-hex prefix (in the file name) is known for certain,
    ``sha256`` is None and ``sha256_prefix`` holds it: the file is then checked against the prefix only.
    """

    filename: str
    sha256: str | None = None
    sha256_prefix: str | None = None
    size: int | None = None
    required: bool = True
    hash_source: str = ""

    @property
    def pin(self) -> str:
        return self.sha256 or f"{self.sha256_prefix}… (prefix)"

    def matches(self, digest: str) -> bool:
        if self.sha256:
            return digest == self.sha256
        if self.sha256_prefix:
            return digest.startswith(self.sha256_prefix)
        return False


@dataclass(frozen=True)
class WeightsSpec:
    """A named set of files: one torch hub checkpoint, or a Hugging Face model folder (a bundle)."""

    name: str
    summary: str
    host: Literal["torch-hub", "hf"]
    files: tuple[WeightsFile, ...]
    license: str
    url: str = ""  # torch hub: the file's URL; hf: the repository page
    repo_id: str | None = None  # hf only
    revision: str | None = None  # hf only: the pinned commit
    folder: str | None = None  # hf only: subfolder of a weights dir holding the bundle
    used_by: tuple[str, ...] = ()

    @property
    def is_bundle(self) -> bool:
        return self.host == "hf"

    def file_url(self, wf: WeightsFile) -> str:
        if self.host == "hf":
            # quoted: a "+" in a file name (sac+logos+ava1-l14-linearMSE.pth) must reach the Hub as %2B
            name = urllib.parse.quote(wf.filename)
            return f"https://huggingface.co/{self.repo_id}/resolve/{self.revision or 'main'}/{name}"
        return self.url

    def file(self, filename: str) -> WeightsFile:
        for wf in self.files:
            if wf.filename == filename:
                return wf
        raise KeyError(filename)

    @property
    def required_files(self) -> tuple[WeightsFile, ...]:
        return tuple(wf for wf in self.files if wf.required)


# Hashes: each full sha256 below was found in several independent public sources (pinning scripts, READMEs,
# download checkers) via code search, and agrees with the 8-hex prefix torch hub puts in the file name; sizes too.
_CODE_SEARCH = "code search of public repositories: several independent pinning scripts agree"
_CLIP_REV = "3d74acf9a28c67741b2f4f2ea7635f0aaf6f0268"
_CLIP_SRC = f"code search: a public pinning manifest of openai/clip-vit-base-patch32@{_CLIP_REV[:8]}"

WEIGHTS: dict[str, WeightsSpec] = {
    s.name: s
    for s in (
        WeightsSpec(
            name="pytorch-fid-inception",
            summary="FID Inception-v3 (TensorFlow 2015-12-05 graph ported by pytorch-fid)",
            host="torch-hub",
            files=(
                WeightsFile(
                    "pt_inception-2015-12-05-6726825d.pth",
                    sha256="6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2",
                    size=95_628_359,
                    hash_source=_CODE_SEARCH + " (e.g. genforce's inception.py _MODEL_URL_SHA256)",
                ),
            ),
            url="https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth",
            license="Apache-2.0 (pytorch-fid; the TensorFlow Inception graph it ports is Apache-2.0)",
            used_by=("inception-v3-fid", "fid", "kid", "inception_score"),
        ),
        WeightsSpec(
            name="torch-fidelity-inception",
            summary="torch-fidelity's FID Inception-v3 (used by torchmetrics' own FID/KID/IS); same bytes as pytorch-fid's",
            host="torch-hub",
            files=(
                WeightsFile(
                    "weights-inception-2015-12-05-6726825d.pth",
                    sha256="6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2",
                    size=95_628_359,
                    hash_source=_CODE_SEARCH,
                ),
            ),
            url="https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth",
            license="Apache-2.0 (torch-fidelity)",
            used_by=(
                "torchmetrics FrechetInceptionDistance / KernelInceptionDistance / InceptionScore defaults",
            ),
        ),
        WeightsSpec(
            name="torchvision-alexnet",
            summary="torchvision AlexNet IMAGENET1K_V1 (LPIPS backbone, net=alex)",
            host="torch-hub",
            files=(
                WeightsFile(
                    "alexnet-owt-7be5be79.pth",
                    sha256="7be5be791159472b1fbf3c69796f7cb30dca7ad8466c2df70058c37116cdee02",
                    size=244_408_911,
                    hash_source=_CODE_SEARCH,
                ),
            ),
            url="https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
            license="BSD-3-Clause (torchvision); trained on ImageNet-1k",
            used_by=("lpips",),
        ),
        WeightsSpec(
            name="torchvision-vgg16",
            summary="torchvision VGG16 IMAGENET1K_V1 (LPIPS backbone, net=vgg)",
            host="torch-hub",
            files=(
                WeightsFile(
                    "vgg16-397923af.pth",
                    sha256="397923af8e79cdbb6a7127f12361acd7a2f83e06b05044ddf496e83de57a5bf0",
                    size=553_433_881,
                    hash_source=_CODE_SEARCH,
                ),
            ),
            url="https://download.pytorch.org/models/vgg16-397923af.pth",
            license="BSD-3-Clause (torchvision); trained on ImageNet-1k",
            used_by=("lpips (net: vgg)",),
        ),
        WeightsSpec(
            name="torchvision-squeezenet1_1",
            summary="torchvision SqueezeNet 1.1 IMAGENET1K_V1 (LPIPS backbone, net=squeeze)",
            host="torch-hub",
            files=(
                WeightsFile(
                    "squeezenet1_1-b8a52dc0.pth",
                    sha256="b8a52dc049b60e4b6ab68ad0df457362afab8b6304b2febdc1650a5dab4d7e7b",
                    size=4_958_839,
                    hash_source=_CODE_SEARCH,
                ),
            ),
            url="https://download.pytorch.org/models/squeezenet1_1-b8a52dc0.pth",
            license="BSD-3-Clause (torchvision); trained on ImageNet-1k",
            used_by=("lpips (net: squeeze)",),
        ),
        WeightsSpec(
            name="clip-vit-base-patch32",
            summary="OpenAI CLIP ViT-B/32 as Hugging Face publishes it (FD-CLIP, clip_score)",
            host="hf",
            repo_id="openai/clip-vit-base-patch32",
            revision=_CLIP_REV,
            folder="clip-vit-base-patch32",
            files=(
                WeightsFile(
                    "config.json",
                    sha256="b575ef3c36f2a057fa19e221650105052d61cc9c1a972ec15019c6261ec98770",
                    size=4_186,
                    hash_source=_CLIP_SRC,
                ),
                WeightsFile(
                    "pytorch_model.bin",
                    sha256="a63082132ba4f97a80bea76823f544493bffa8082296d62d71581a4feff1576f",
                    size=605_247_071,
                    hash_source="code search: several independent pins of this revision's pytorch_model.bin",
                ),
                WeightsFile(
                    "preprocessor_config.json",
                    sha256="910e70b3956ac9879ebc90b22fb3bc8a75b6a0677814500101a4c072bd7857bd",
                    size=316,
                    hash_source=_CLIP_SRC,
                ),
                WeightsFile(
                    "tokenizer_config.json",
                    sha256="34b7336e4bee12e0a9730eaf5189f582ef3c3eea5027f65730e5717256755aad",
                    size=592,
                    hash_source=_CLIP_SRC,
                ),
                WeightsFile(
                    "vocab.json",
                    sha256="5047b556ce86ccaf6aa22b3ffccfc52d391ea4accdab9c2f2407da5b742d4363",
                    size=862_328,
                    hash_source=_CLIP_SRC,
                ),
                WeightsFile(
                    "merges.txt",
                    sha256="f526393189112391ce6f9795d4695f704121ce452c3aad1f5335cc41337eba85",
                    size=524_657,
                    hash_source=_CLIP_SRC,
                ),
                WeightsFile(
                    "tokenizer.json",
                    sha256="b556ac8c99757ffb677208af34bc8c6721572114111a6e0aaf5fa69ff0b8d842",
                    size=2_224_041,
                    required=False,
                    hash_source=_CLIP_SRC,
                ),
                WeightsFile(
                    "special_tokens_map.json",
                    sha256="f8c0d6c39aee3f8431078ef6646567b0aba7f2246e9c54b8b99d55c22b707cbf",
                    size=389,
                    required=False,
                    hash_source=_CLIP_SRC,
                ),
            ),
            url="https://huggingface.co/openai/clip-vit-base-patch32",
            license="MIT (OpenAI CLIP release)",
            used_by=("clip-vit-b-32", "fd_clip-vit-b-32", "clip_score"),
        ),
    )
}


# Video and audio metrics (harness.metrics.video, harness.metrics.audio). Each full sha256 below was found in
# several independent public pinning scripts / lock files via code search; where a file is not published as a
# torch hub checkpoint, its Hugging Face mirror at a pinned revision is the fetch source (same bytes: same hash).
_I3D_SRC = (
    "code search: several independent pins (FVD download scripts, evaluation lock files, an HF mirror download "
    "checker) agree on this sha256 and on the size 51,235,320 bytes"
)
_CLAP_REV = "8fa0f1c6d0433df6e97c127f64b2a1d6c0dcda8a"
_CLAP_SRC = f"code search: several independent lock files of laion/clap-htsat-unfused@{_CLAP_REV[:8]} agree"
WEIGHTS.update(
    {
        s.name: s
        for s in (
            WeightsSpec(
                name="i3d-torchscript",
                summary="I3D Kinetics-400 as TorchScript (StyleGAN-V's FVD detector: the tf.hub i3d-kinetics-400 "
                "weights ported by the StyleGAN-V authors)",
                host="hf",
                repo_id="flateon/FVD-I3D-torchscript",
                revision="1c2d61711c52571ad617a1063e6fa691b212e184",
                folder="i3d-torchscript",
                files=(
                    WeightsFile(
                        "i3d_torchscript.pt",
                        sha256="bec6519f66ea534e953026b4ae2c65553c17bf105611c746d904657e5860a5e2",
                        size=51_235_320,
                        hash_source=_I3D_SRC
                        + "; the original is https://www.dropbox.com/s/ge9e5ujwgetktms/i3d_torchscript.pt?dl=1 "
                        "(universome/stylegan-v src/metrics/frechet_video_distance.py)",
                    ),
                ),
                url="https://huggingface.co/flateon/FVD-I3D-torchscript",
                license="Apache-2.0 (DeepMind kinetics-i3d / tf.hub i3d-kinetics-400 weights); TorchScript port by "
                "the StyleGAN-V authors",
                used_by=("i3d-kinetics-400", "fvd"),
            ),
            WeightsSpec(
                name="torchvision-raft-small",
                summary="torchvision RAFT-small C_T_V2 optical flow (warping_error)",
                host="torch-hub",
                files=(
                    WeightsFile(
                        "raft_small_C_T_V2-01064c6d.pth",
                        sha256="01064c6dba73b0fc9fc8edf772248560a00a3acfd62ac6677e9eeebad9680e27",
                        size=4_006_189,
                        hash_source=_CODE_SEARCH,
                    ),
                ),
                url="https://download.pytorch.org/models/raft_small_C_T_V2-01064c6d.pth",
                license="BSD-3-Clause (torchvision); trained on FlyingChairs + FlyingThings3D",
                used_by=("warping_error",),
            ),
            WeightsSpec(
                name="torchvggish-vggish",
                summary="VGGish (AudioSet) as ported by harritaylor/torchvggish v0.1 (fad, fad_vggish)",
                host="torch-hub",
                files=(
                    WeightsFile(
                        "vggish-10086976.pth",
                        sha256="10086976245803799d9194e9a73d9b6c1549c71d1b80106f5cade5608a561f4b",
                        size=288_567_937,
                        hash_source=_CODE_SEARCH,
                    ),
                ),
                url="https://github.com/harritaylor/torchvggish/releases/download/v0.1/vggish-10086976.pth",
                license="Apache-2.0 (TensorFlow models' VGGish; torchvggish port)",
                used_by=("vggish", "fad", "fad_vggish"),
            ),
            WeightsSpec(
                name="clap-htsat-unfused",
                summary="LAION CLAP HTSAT-unfused as Hugging Face publishes it (fad_clap, clap_score)",
                host="hf",
                repo_id="laion/clap-htsat-unfused",
                revision=_CLAP_REV,
                folder="clap-htsat-unfused",
                files=(
                    WeightsFile(
                        "config.json",
                        sha256="9efb9557bc804f2ca6e394486af2e45dfed0b18554909735a99c6220b84e4288",
                        size=5_390,
                        hash_source=_CLAP_SRC,
                    ),
                    WeightsFile(
                        "pytorch_model.bin",
                        sha256="1cd3c601bc4afe0fa87be3de4c13dd2cfadd249fac1e29acf74a9b296c3219bb",
                        size=614_525_833,
                        hash_source=_CLAP_SRC,
                    ),
                    WeightsFile(
                        "preprocessor_config.json",
                        sha256="9739f58296aa6f9ac18008fd0150fb2649bc554985fbde86d0a4041c882ac753",
                        size=541,
                        hash_source=_CLAP_SRC,
                    ),
                    WeightsFile(
                        "vocab.json",
                        sha256="ed19656ea1707df69134c4af35c8ceda2cc9860bf2c3495026153a133670ab5e",
                        size=798_293,
                        hash_source=_CLAP_SRC,
                    ),
                    WeightsFile(
                        "merges.txt",
                        sha256="fe36cab26d4f4421ed725e10a2e9ddb7f799449c603a96e7f29b5a3c82a95862",
                        size=456_356,
                        hash_source=_CLAP_SRC,
                    ),
                    WeightsFile(
                        "tokenizer_config.json",
                        sha256="377f91458f7729a4574a84c77bdce67dbc3c58c1a345a29bbf8c4eb1307948a3",
                        size=384,
                        hash_source=_CLAP_SRC,
                    ),
                    WeightsFile(
                        "special_tokens_map.json",
                        sha256="06e405a36dfe4b9604f484f6a1e619af1a7f7d09e34a8555eb0b77b66318067f",
                        size=280,
                        required=False,
                        hash_source=_CLAP_SRC,
                    ),
                    WeightsFile(
                        # Optional: the slow tokenizer (vocab.json + merges.txt) gives the same ids; one public
                        # pin of this file disagrees with the three others, which agree on this hash.
                        "tokenizer.json",
                        sha256="77ef92283d67f0d97e1454909a964afcbfa2019f0fb9f18f8e88d5c25c3ba729",
                        size=2_108_746,
                        required=False,
                        hash_source=_CLAP_SRC + " (3 of 4 pins found; one differs)",
                    ),
                ),
                url="https://huggingface.co/laion/clap-htsat-unfused",
                license="Apache-2.0 (LAION CLAP model card)",
                used_by=("clap-htsat-unfused", "fad_clap", "clap_score"),
            ),
        )
    }
)

# CMMD (harness.metrics.cmmd): only the image tower is used, so no tokenizer files are pinned.
_CLIP_L336_REV = "ce19dc912ca5cd21c8a653c79e251e808ccabcd1"
_CLIP_L336_SRC = (
    f"code search: two public pinning manifests of openai/clip-vit-large-patch14-336@{_CLIP_L336_REV[:8]} "
    "agree on the size and sha256"
)
WEIGHTS["clip-vit-large-patch14-336"] = WeightsSpec(
    name="clip-vit-large-patch14-336",
    summary="OpenAI CLIP ViT-L/14 at 336 px as Hugging Face publishes it (cmmd)",
    host="hf",
    repo_id="openai/clip-vit-large-patch14-336",
    revision=_CLIP_L336_REV,
    folder="clip-vit-large-patch14-336",
    files=(
        WeightsFile(
            "config.json",
            sha256="51b1c14aabcdf639c4a0370eeda1010b773bbe1df78319c7d0f5882c22ac0ac0",
            size=4_757,
            hash_source=_CLIP_L336_SRC,
        ),
        WeightsFile(
            "pytorch_model.bin",
            sha256="c6032c2e0caae3dc2d4fba35535fa6307dbb49df59c7e182b1bc4b3329b81801",
            size=1_711_974_081,
            hash_source=_CLIP_L336_SRC + "; several more independent pins of this file (download checkers, "
            "reproducibility notes) and the blob name of a Hugging Face cache path give the same sha256",
        ),
        WeightsFile(
            # Not read (CMMD's preprocessing is fixed in code); kept for users of the folder with CLIPProcessor.
            "preprocessor_config.json",
            sha256="d253881f65322dc546df59cf925a408e5538b8ecb5a1b496cdd36af9992686d4",
            size=316,
            required=False,
            hash_source=_CLIP_L336_SRC,
        ),
    ),
    url="https://huggingface.co/openai/clip-vit-large-patch14-336",
    license="MIT (OpenAI CLIP release)",
    used_by=("clip-vit-l-14-336", "cmmd"),
)

# VBench's dimensions (harness.metrics.vbench): the files VBench itself downloads (vbench/utils.py
# init_submodules). AMT-S and Tag2Text are missing on purpose: no published sha256 was found for them.
WEIGHTS.update(
    {
        s.name: s
        for s in (
            WeightsSpec(
                name="vbench-dino-vitb16",
                summary="DINO ViT-B/16 self-supervised on ImageNet-1k (VBench subject_consistency)",
                host="torch-hub",
                files=(
                    WeightsFile(
                        "dino_vitbase16_pretrain.pth",
                        sha256="bf34ad0f424b9029b593e8dc3ed553bf26e88bcba0d32bf3e62a6209cb64c85e",
                        size=343_242_485,
                        hash_source="code search: several independent pins (VBench evaluation wrappers, "
                        "checkpoint manifests) agree on this sha256 and the size",
                    ),
                ),
                url="https://dl.fbaipublicfiles.com/dino/dino_vitbase16_pretrain/dino_vitbase16_pretrain.pth",
                license="Apache-2.0 (facebookresearch/dino)",
                used_by=("vbench_subject_consistency", "vbench_mlperf"),
            ),
            WeightsSpec(
                name="vbench-clip-vit-b-32",
                summary="OpenAI CLIP ViT-B/32 as the clip package loads it (VBench background_consistency, "
                "appearance_style)",
                host="torch-hub",
                files=(
                    WeightsFile(
                        "ViT-B-32.pt",
                        sha256="40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af",
                        hash_source="OpenAI's own: the sha256 is the download URL's folder, which the clip "
                        "package checks (clip/clip.py _MODELS); a VBench wrapper pins the same",
                    ),
                ),
                url="https://openaipublic.azureedge.net/clip/models/"
                "40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af/ViT-B-32.pt",
                license="MIT (OpenAI CLIP release)",
                used_by=("vbench_background_consistency", "vbench_appearance_style", "vbench_mlperf"),
            ),
            WeightsSpec(
                name="vbench-raft-things",
                summary="RAFT trained on FlyingChairs + FlyingThings3D, princeton-vl's raft-things.pth "
                "(VBench dynamic_degree)",
                host="torch-hub",
                files=(
                    WeightsFile(
                        "raft-things.pth",
                        sha256="fcfa4125d6418f4de95d84aec20a3c5f4e205101715a79f193243c186ac9a7e1",
                        size=21_108_000,
                        hash_source="code search: many independent pins agree, one noting it is the file of "
                        "the models.zip RAFT's download script fetches (VBench's source)",
                    ),
                ),
                # VBench downloads princeton-vl's models.zip; this single-file copy has the same bytes.
                url="https://github.com/sczhou/ProPainter/releases/download/v0.1.0/raft-things.pth",
                license="BSD-3-Clause (princeton-vl/RAFT)",
                used_by=("vbench_dynamic_degree", "vbench_mlperf"),
            ),
        )
    }
)

# Preference and aesthetic scores (harness.metrics.preference). Large files: the sha256 of the Git LFS pointer on the
# Hugging Face pages of the pinned revision; small ones: public pinning code (one source where so said).
_IR_REV = "9fabc279a94f082f9eb130070cac021569dd16dc"
_HPS_REV = "697403c78157020a1ae59d23f111aa58ced35b0a"
_PICK_REV = "a4e4367c6dfa7288a00c550414478f865b875800"
_LAION_H14_REV = "1c2b8495b28150b8a4922ee1c8edee224c284c0c"
_PICK_SRC = (
    "code search: a public evaluation gate pinning PickScore v1's model.safetensors, config.json and its "
    "processor's tokenizer.json / preprocessor_config.json (one source)"
)
_PICK_PROC_SRC = _PICK_SRC + "; the same bytes as openai/clip-vit-base-patch32's (pinned above)"
WEIGHTS.update(
    {
        s.name: s
        for s in (
            WeightsSpec(
                name="imagereward-v1.0",
                summary="ImageReward v1.0 reward model and its BLIP text-encoder config (image_reward)",
                host="hf",
                repo_id="THUDM/ImageReward",
                revision=_IR_REV,
                folder="imagereward-v1.0",
                files=(
                    WeightsFile(
                        "ImageReward.pt",
                        sha256="d71dc8d4912bc633c06ab8ef1ef6a81e8199d4369f14b47b29baf1d19de561f6",
                        size=1_786_880_927,
                        hash_source="Hugging Face: the Git LFS pointer of THUDM/ImageReward commit 7a9e21f "
                        "('Upload ImageReward.pt'); a public README recording the hashes of its tested files agrees",
                    ),
                    WeightsFile(
                        "med_config.json",
                        sha256="d8b5029cc3c0124313d17009d043f0701bbe497f3721fa4ceb818720fe665326",
                        size=485,
                        hash_source="code search: one public README recording the sha256 of the med_config.json "
                        "it downloaded from THUDM/ImageReward (its ImageReward.pt hash matches the LFS pointer); "
                        "the size is the Hub's",
                    ),
                ),
                url="https://huggingface.co/THUDM/ImageReward",
                license="Apache-2.0 (THUDM/ImageReward model card)",
                used_by=("image_reward",),
            ),
            WeightsSpec(
                name="bert-base-uncased-vocab",
                summary="BERT uncased WordPiece vocabulary (ImageReward's BLIP tokenizer; no model weights)",
                host="hf",
                repo_id="google-bert/bert-base-uncased",
                revision="86b5e0934494bd15c9632b12f734a8a67f723594",
                folder="bert-base-uncased",
                files=(
                    WeightsFile(
                        "vocab.txt",
                        sha256="07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3",
                        size=231_508,
                        hash_source=_CODE_SEARCH + " (build files, download manifests and tests pinning the "
                        "uncased BERT vocab.txt of 30,522 entries)",
                    ),
                ),
                url="https://huggingface.co/google-bert/bert-base-uncased",
                license="Apache-2.0 (google-bert/bert-base-uncased)",
                used_by=("image_reward",),
            ),
            WeightsSpec(
                name="hps-v2.1",
                summary="HPS v2.1: open_clip ViT-H-14 fine-tuned on human preferences (hps_v21)",
                host="hf",
                repo_id="xswu/HPSv2",
                revision=_HPS_REV,
                folder="hps-v2.1",
                files=(
                    WeightsFile(
                        "HPS_v2.1_compressed.pt",
                        sha256="c57a38fb4a2f7e7c15bf00da2ea377cdf165448b4dd1052a484c215a998c9837",
                        size=1_972_490_005,
                        hash_source=f"Hugging Face: the Git LFS pointer of xswu/HPSv2 commit {_HPS_REV[:7]} "
                        "('Upload 2 files')",
                    ),
                ),
                url="https://huggingface.co/xswu/HPSv2",
                license="Apache-2.0 (xswu/HPSv2)",
                used_by=("hps_v21",),
            ),
            WeightsSpec(
                name="pickscore-v1",
                summary="PickScore v1: CLIP ViT-H/14 fine-tuned on Pick-a-Pic preferences (pickscore)",
                host="hf",
                repo_id="yuvalkirstain/PickScore_v1",
                revision=_PICK_REV,
                folder="pickscore-v1",
                files=(
                    WeightsFile(
                        "config.json",
                        sha256="bfa2a8243d3f82ad7c4746a0b62817e895f9f225926e6caecfc9dbb9171647ce",
                        hash_source=_PICK_SRC,
                    ),
                    WeightsFile(
                        "model.safetensors",
                        sha256="ef31ef6fc5ff4d9bb90dd232df4e145887ba62c5a03aa2841415f8c25f18d52e",
                        hash_source=f"Hugging Face: the Git LFS details of model.safetensors at {_PICK_REV[:7]}; "
                        + _PICK_SRC
                        + " agrees",
                    ),
                ),
                url="https://huggingface.co/yuvalkirstain/PickScore_v1",
                license="not tagged on the model page (see the authors' repository yuvalkirstain/PickScore)",
                used_by=("pickscore",),
            ),
            WeightsSpec(
                name="clip-vit-h-14-laion2b-processor",
                summary="The CLIP processor PickScore's model card uses (laion/CLIP-ViT-H-14-laion2B-s32B-b79K; "
                "no model weights)",
                host="hf",
                repo_id="laion/CLIP-ViT-H-14-laion2B-s32B-b79K",
                revision=_LAION_H14_REV,
                folder="clip-vit-h-14-laion2b-processor",
                files=(
                    WeightsFile(
                        "preprocessor_config.json",
                        sha256="910e70b3956ac9879ebc90b22fb3bc8a75b6a0677814500101a4c072bd7857bd",
                        size=316,
                        hash_source=_PICK_PROC_SRC,
                    ),
                    WeightsFile(
                        "tokenizer.json",
                        sha256="b556ac8c99757ffb677208af34bc8c6721572114111a6e0aaf5fa69ff0b8d842",
                        size=2_224_041,
                        hash_source=_PICK_PROC_SRC,
                    ),
                ),
                url="https://huggingface.co/laion/CLIP-ViT-H-14-laion2B-s32B-b79K",
                license="MIT (LAION OpenCLIP release)",
                used_by=("pickscore",),
            ),
            WeightsSpec(
                name="openai-clip-vit-l-14",
                summary="OpenAI CLIP ViT-L/14 as the clip package loads it (ViT-L-14.pt; aesthetic)",
                host="hf",
                repo_id="camenduru/SyncDreamer",
                revision="f28d14c33fce7a5f10e7619554d8932c8b79c4ac",
                folder="openai-clip-vit-l-14",
                files=(
                    WeightsFile(
                        "ViT-L-14.pt",
                        sha256="b8cca3fd41ae0c99ba7e8951adf17d267cdb84cd88be6f7c2e0eca1737a03836",
                        size=932_768_134,
                        hash_source="OpenAI's own: the sha256 is the folder of the download URL, which the clip "
                        "package checks (https://openaipublic.azureedge.net/clip/models/b8cca3fd41ae0c99ba7e8951adf1"
                        "7d267cdb84cd88be6f7c2e0eca1737a03836/ViT-L-14.pt); several Hugging Face mirrors' LFS "
                        "pointers give the same sha256 and size; fetched from one of them (same bytes)",
                    ),
                ),
                url="https://huggingface.co/camenduru/SyncDreamer",
                license="MIT (OpenAI CLIP release)",
                used_by=("aesthetic",),
            ),
            WeightsSpec(
                name="laion-aesthetic-v2-linear",
                summary="LAION improved aesthetic predictor v2 (sac+logos+ava1-l14-linearMSE; aesthetic)",
                host="hf",
                repo_id="haor/aesthetics",
                revision="60617cce14f355d3923a0e320c9b616fc32ad36d",
                folder="laion-aesthetic-v2-linear",
                files=(
                    WeightsFile(
                        "sac+logos+ava1-l14-linearMSE.pth",
                        sha256="21dd590f3ccdc646f0d53120778b296013b096a035a2718c9cb0d511bff0f1e0",
                        size=3_714_759,
                        hash_source="Hugging Face: the Git LFS pointers of three independent mirrors (haor/aesthetics, "
                        "hbyang/Hi3D, a Space) and a public pin of the file agree; the original is "
                        "https://github.com/christophschuhmann/improved-aesthetic-predictor/raw/main/"
                        "sac%2Blogos%2Bava1-l14-linearMSE.pth",
                    ),
                ),
                url="https://huggingface.co/haor/aesthetics",
                license="see christophschuhmann/improved-aesthetic-predictor (no LICENSE file in its tree)",
                used_by=("aesthetic",),
            ),
        )
    }
)


def spec(name: str) -> WeightsSpec:
    """The registry entry ``name``; an unknown name is bad input (with a did-you-mean hint)."""
    if name not in WEIGHTS:
        raise UserInputError(f"unknown weights '{name}' ({did_you_mean(name, WEIGHTS)})")
    return WEIGHTS[name]


# --------------------------------------------------------------------------------------------- hashing

_HASH_MEMO: dict[tuple[str, int, int], str] = {}


def sha256_of(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file, remembered per (path, size, mtime) for this process."""
    p = Path(path).resolve()
    st = p.stat()
    key = (str(p), st.st_size, st.st_mtime_ns)
    if key not in _HASH_MEMO:
        h = hashlib.sha256()
        with open(p, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        _HASH_MEMO[key] = h.hexdigest()
    return _HASH_MEMO[key]


def _check(path: Path, wf: WeightsFile, name: str) -> str:
    digest = sha256_of(path)
    if not wf.matches(digest):
        expected = wf.sha256 or f"a hash starting {wf.sha256_prefix}"
        raise WeightsMismatchError(
            f"weights '{name}': {path}: sha256 mismatch: expected {expected}, got {digest} "
            "(another or a corrupted file: delete it and provide the pinned one, see `harness weights list`)"
        )
    return digest


# --------------------------------------------------------------------------------------------- locating


@dataclass
class Located:
    """Where a weights entry was found: ``root`` is the file (torch hub) or the bundle's folder (hf)."""

    spec: WeightsSpec
    root: Path
    files: dict[str, Path]
    where: str
    sha256: dict[str, str] = field(default_factory=dict)  # filled by verification

    @property
    def path(self) -> Path:
        """The single file of a torch hub entry, or the bundle folder."""
        return self.root

    def details(self) -> dict[str, object]:
        """For metric fingerprints: the entry's name and the verified sha256 of each file."""
        return {"name": self.spec.name, "sha256": dict(self.sha256)}


def search_places(weights_dir: str | os.PathLike[str] | None = None) -> list[tuple[Path, str]]:
    """The weights folders searched first: ``(folder, label)`` for --weights-dir and $HARNESS_WEIGHTS_DIR."""
    places: list[tuple[Path, str]] = []
    if weights_dir:
        places.append((Path(weights_dir).expanduser(), "--weights-dir"))
    env = os.environ.get(ENV_DIR)
    if env:
        p = Path(env).expanduser()
        if not places or places[0][0] != p:
            places.append((p, f"${ENV_DIR}"))
    return places


def _hf_cached(s: WeightsSpec, filename: str, revision: str | None) -> Path | None:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover
        return None
    try:
        hit = try_to_load_from_cache(s.repo_id, filename, revision=revision)
    except Exception:
        return None
    return Path(hit) if isinstance(hit, str) and os.path.isfile(hit) else None


def _find(s: WeightsSpec, weights_dir: str | os.PathLike[str] | None) -> tuple[Located | None, list[str]]:
    """The first place holding every required file of ``s``, and a description of each place looked."""
    looked: list[str] = []

    def in_folder(folder: Path, label: str) -> Located | None:
        present = {wf.filename: folder / wf.filename for wf in s.files if (folder / wf.filename).is_file()}
        missing = [wf.filename for wf in s.required_files if wf.filename not in present]
        if not missing:
            root = folder if s.is_bundle else present[s.files[0].filename]
            return Located(s, root, present, f"{label}: {folder}")
        if s.is_bundle and len(missing) < len(s.required_files):
            looked.append(f"{folder} ({label}; missing {', '.join(missing)})")
        else:
            looked.append(f"{folder} ({label})")
        return None

    places = search_places(weights_dir)
    env_set = bool(os.environ.get(ENV_DIR))
    for folder, label in places:
        hit = in_folder(folder / s.folder if s.is_bundle and s.folder else folder, label)
        if hit:
            return hit, looked
    if not env_set:
        looked.append(f"${ENV_DIR} (unset)")
    if s.host == "torch-hub":
        hit = in_folder(torch_hub_dir(), "torch hub cache")
        if hit:
            return hit, looked
    else:
        revisions = [s.revision, None] if s.revision else [None]
        for rev in revisions:
            found = {wf.filename: _hf_cached(s, wf.filename, rev) for wf in s.files}
            present = {k: v for k, v in found.items() if v is not None}
            parents = {p.parent for p in present.values()}
            if all(wf.filename in present for wf in s.required_files) and len(parents) == 1:
                root = parents.pop()
                label = f"Hugging Face cache ({s.repo_id}@{(rev or 'main')[:12]})"
                return Located(s, root, present, f"{label}: {root}"), looked
        looked.append(
            f"{hf_hub_cache()} (Hugging Face cache, {s.repo_id} at {(s.revision or 'main')[:8]} or main)"
        )
    return None, looked


def _not_found(s: WeightsSpec, looked: list[str]) -> WeightsNotFoundError:
    what = (
        s.files[0].filename
        if not s.is_bundle
        else (f"{s.repo_id} ({', '.join(wf.filename for wf in s.required_files)})")
    )
    layout = f"DIR/{s.folder}/" if s.is_bundle else "DIR/"
    return WeightsNotFoundError(
        f"weights '{s.name}' not found: {what}; looked in: {'; '.join(looked)}; "
        f"to provide it, run `harness weights fetch {s.name} --to DIR` on a connected machine "
        f"(or download {s.url} into {layout}), copy DIR here and set {ENV_DIR}=DIR"
    )


def locate(name: str, weights_dir: str | os.PathLike[str] | None = None, *, verify: bool = True) -> Located:
    """Find the weights ``name`` on this machine (never downloading) and verify their sha256.

    Args:
        name: A key of ``WEIGHTS``.
        weights_dir: A folder searched first (the ``--weights-dir`` flag), before ``$HARNESS_WEIGHTS_DIR``.
        verify: Check every present file against its pinned hash (skip for a cheap listing).

    Raises:
        UserInputError: Unknown name.
        WeightsNotFoundError: Not found anywhere (one line: the file, every place looked, how to provide it).
        WeightsMismatchError: Found, but a file's sha256 is not the pinned one.
    """
    s = spec(name)
    hit, looked = _find(s, weights_dir)
    if hit is None:
        raise _not_found(s, looked)
    if verify:
        for filename, path in hit.files.items():
            hit.sha256[filename] = _check(path, s.file(filename), s.name)
    return hit


def find(name: str, weights_dir: str | os.PathLike[str] | None = None) -> Located | None:
    """Like ``locate`` without verification, or None when absent (for listings)."""
    hit, _ = _find(spec(name), weights_dir)
    return hit


# --------------------------------------------------------------------------------------------- fetching


def _download(url: str, dest: Path, wf: WeightsFile, name: str, timeout: float) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    h = hashlib.sha256()
    try:
        req = urllib.request.Request(url, headers={"User-Agent": "harness-weights-fetch"})
        with urllib.request.urlopen(req, timeout=timeout) as resp, open(part, "wb") as out:
            for chunk in iter(lambda: resp.read(1 << 20), b""):
                h.update(chunk)
                out.write(chunk)
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        part.unlink(missing_ok=True)
        reason = getattr(exc, "reason", None) or exc
        raise WeightsFetchError(
            f"weights '{name}': cannot download {url}: {reason} (no network here? run `harness weights fetch` "
            f"on a connected machine, copy the folder here and set {ENV_DIR})"
        ) from None
    digest = h.hexdigest()
    if not wf.matches(digest):
        part.unlink(missing_ok=True)
        raise WeightsFetchError(
            f"weights '{name}': {url} downloaded with sha256 {digest}, expected {wf.pin}; nothing was kept"
        )
    os.replace(part, dest)


def fetch(
    names: Iterable[str] | None, to: str | os.PathLike[str], *, timeout: float = 20.0, log=None
) -> list[Path]:
    """Download and verify weights into ``to`` (the layout ``HARNESS_WEIGHTS_DIR`` expects).

    Files already in ``to`` with the pinned hash are kept. For a connected machine: here it fails with
    ``WeightsFetchError`` (one line) after at most ``timeout`` seconds per connection.

    Returns:
        The paths written or kept.
    """
    selected = [spec(n) for n in names] if names else list(WEIGHTS.values())
    root = Path(to).expanduser()
    if root.exists() and not root.is_dir():
        raise UserInputError("--to: exists and is not a folder", source=str(root))
    out: list[Path] = []
    for s in selected:
        for wf in s.files:
            dest = root / s.folder / wf.filename if s.is_bundle and s.folder else root / wf.filename
            if dest.is_file() and wf.matches(sha256_of(dest)):
                out.append(dest)
                continue
            if s.is_bundle and os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
                raise WeightsFetchError(
                    f"weights '{s.name}': HF_HUB_OFFLINE is set: refusing to download {s.file_url(wf)}"
                )
            t0 = time.perf_counter()
            if log:
                log(f"fetching {s.file_url(wf)}")
            _download(s.file_url(wf), dest, wf, s.name, timeout)
            if log:
                log(f"  {dest} ({dest.stat().st_size} bytes, {time.perf_counter() - t0:.1f} s, sha256 ok)")
            out.append(dest)
    return out
