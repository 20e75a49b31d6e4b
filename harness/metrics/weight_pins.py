"""The pinned weights of the quality metrics, as data: a pure data table (the 500-line limit does not apply).

One row a line; :mod:`harness.metrics.weights` builds its ``WeightsSpec`` entries from these tables and is the
code that locates, verifies and fetches the files. To pin new weights, add a row to ``ENTRIES`` and to ``ABOUT``
and one row per file to ``FILES`` (``harness weights list`` shows the result).

* ``ENTRIES``: name → (host, source, revision, folder, used by). ``host`` is ``torch-hub`` (``source`` is the
  file's URL) or ``hf`` (``source`` is the repository on the Hugging Face Hub, ``revision`` the pinned commit,
  ``folder`` the subfolder of a weights folder that holds the bundle). ``used by``: the extractors and metrics
  that read it.
* ``ABOUT``: name → (summary, licence).
* ``FILES``: (entry, file name, sha256, size in bytes or None where not known, required, where the hash was
  found: a key of ``SOURCES``), in each entry's order. Every sha256 is the full digest.

Where hashes come from: each full sha256 was found in several independent public sources (pinning scripts,
READMEs, download checkers, lock files) via code search, and agrees with the 8-hex prefix torch hub puts in a
checkpoint's file name; sizes too. Video and audio files not published as torch hub checkpoints are fetched from
their Hugging Face mirror at a pinned revision (same bytes: same hash). Preference scores: large files carry the
sha256 of the Git LFS pointer on the Hugging Face pages of the pinned revision, small ones that of public
pinning code (one source where so said). VBench's entries are the files VBench itself downloads
(``vbench/utils.py`` ``init_submodules``); AMT-S and Tag2Text are missing on purpose: no published sha256 was
found for them. DINOv2: the four torch hub checkpoints and the Hugging Face ``facebook/dinov2-*`` config.json and
model.safetensors at their pinned revisions are pinned, except dinov2-giant's config.json (one third-party copy
gave a hash: not enough), whose hash is None (``not-found``): accepted unverified, never under a made-up hash,
and said to be so.
"""

# fmt: off

# Where each pinned hash was found (the last column of FILES).
SOURCES: dict[str, str] = {
    "code-search": "code search of public repositories: several independent pinning scripts agree",
    "code-search-genforce": "code search of public repositories: several independent pinning scripts agree (e.g. genforce's inception.py _MODEL_URL_SHA256)",
    "clip-b32-manifest": "code search: a public pinning manifest of openai/clip-vit-base-patch32@3d74acf9",
    "clip-b32-weights": "code search: several independent pins of this revision's pytorch_model.bin",
    "i3d": "code search: several independent pins (FVD download scripts, evaluation lock files, an HF mirror download checker) agree on this sha256 and on the size 51,235,320 bytes; the original is https://www.dropbox.com/s/ge9e5ujwgetktms/i3d_torchscript.pt?dl=1 (universome/stylegan-v src/metrics/frechet_video_distance.py)",
    "clap-lock-files": "code search: several independent lock files of laion/clap-htsat-unfused@8fa0f1c6 agree",
    "clap-lock-files-3-of-4": "code search: several independent lock files of laion/clap-htsat-unfused@8fa0f1c6 agree (3 of 4 pins found; one differs)",
    "clip-l336-manifests": "code search: two public pinning manifests of openai/clip-vit-large-patch14-336@ce19dc91 agree on the size and sha256",
    "clip-l336-weights": "code search: two public pinning manifests of openai/clip-vit-large-patch14-336@ce19dc91 agree on the size and sha256; several more independent pins of this file (download checkers, reproducibility notes) and the blob name of a Hugging Face cache path give the same sha256",
    "dino": "code search: several independent pins (VBench evaluation wrappers, checkpoint manifests) agree on this sha256 and the size",
    "openai-clip-b32-url": "OpenAI's own: the sha256 is the download URL's folder, which the clip package checks (clip/clip.py _MODELS); a VBench wrapper pins the same",
    "raft-things": "code search: many independent pins agree, one noting it is the file of the models.zip RAFT's download script fetches (VBench's source)",
    "imagereward-lfs": "Hugging Face: the Git LFS pointer of THUDM/ImageReward commit 7a9e21f ('Upload ImageReward.pt'); a public README recording the hashes of its tested files agrees",
    "imagereward-med-config": "code search: one public README recording the sha256 of the med_config.json it downloaded from THUDM/ImageReward (its ImageReward.pt hash matches the LFS pointer); the size is the Hub's",
    "bert-vocab": "code search of public repositories: several independent pinning scripts agree (build files, download manifests and tests pinning the uncased BERT vocab.txt of 30,522 entries)",
    "hps-lfs": "Hugging Face: the Git LFS pointer of xswu/HPSv2 commit 697403c ('Upload 2 files')",
    "pickscore-gate": "code search: a public evaluation gate pinning PickScore v1's model.safetensors, config.json and its processor's tokenizer.json / preprocessor_config.json (one source)",
    "pickscore-lfs": "Hugging Face: the Git LFS details of model.safetensors at a4e4367; code search: a public evaluation gate pinning PickScore v1's model.safetensors, config.json and its processor's tokenizer.json / preprocessor_config.json (one source) agrees",
    "pickscore-processor": "code search: a public evaluation gate pinning PickScore v1's model.safetensors, config.json and its processor's tokenizer.json / preprocessor_config.json (one source); the same bytes as openai/clip-vit-base-patch32's (pinned above)",
    "openai-clip-l14-url": "OpenAI's own: the sha256 is the folder of the download URL, which the clip package checks (https://openaipublic.azureedge.net/clip/models/b8cca3fd41ae0c99ba7e8951adf17d267cdb84cd88be6f7c2e0eca1737a03836/ViT-L-14.pt); several Hugging Face mirrors' LFS pointers give the same sha256 and size; fetched from one of them (same bytes)",
    "dinov2-vitl14": "code search: several independent pins (download manifests and checkers, a weights audit naming facebookresearch/dinov2 at 7764ea0f) agree on this sha256 and on the size 1,217,586,395 bytes (also the Content-Length of the official URL)",
    "dinov2-hub": "code search: many independent pins agree on this sha256 and size (refiners' DINOv2 conversion script, which names the official download URL beside it; download manifests, sha256sum listings and weight audits of other projects)",
    "dinov2-hf": "code search: many independent pins of this file at the pinned revision agree on this sha256 and size (evaluation lock files, download checkers, Hugging Face cache blob paths; two cite the Git LFS pointer)",
    "not-found": "NOT PINNED: no published sha256 of this file was found; the file is accepted, its sha256 is recorded in the metric's fingerprint and `harness weights verify` says it is unverified",
    "aesthetic-lfs": "Hugging Face: the Git LFS pointers of three independent mirrors (haor/aesthetics, hbyang/Hi3D, a Space) and a public pin of the file agree; the original is https://github.com/christophschuhmann/improved-aesthetic-predictor/raw/main/sac%2Blogos%2Bava1-l14-linearMSE.pth",
}

# name: (host, source, revision, folder, used by)
ENTRIES: dict[str, tuple[str, str, str | None, str | None, tuple[str, ...]]] = {
    "pytorch-fid-inception": ("torch-hub", "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth", None, None, ("inception-v3-fid", "fid", "kid", "inception_score")),
    "torch-fidelity-inception": ("torch-hub", "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth", None, None, ("torchmetrics FrechetInceptionDistance / KernelInceptionDistance / InceptionScore defaults",)),
    "torchvision-alexnet": ("torch-hub", "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth", None, None, ("lpips",)),
    "torchvision-vgg16": ("torch-hub", "https://download.pytorch.org/models/vgg16-397923af.pth", None, None, ("lpips (net: vgg)",)),
    "torchvision-squeezenet1_1": ("torch-hub", "https://download.pytorch.org/models/squeezenet1_1-b8a52dc0.pth", None, None, ("lpips (net: squeeze)",)),
    "clip-vit-base-patch32": ("hf", "openai/clip-vit-base-patch32", "3d74acf9a28c67741b2f4f2ea7635f0aaf6f0268", "clip-vit-base-patch32", ("clip-vit-b-32", "fd_clip-vit-b-32", "clip_score")),
    "i3d-torchscript": ("hf", "flateon/FVD-I3D-torchscript", "1c2d61711c52571ad617a1063e6fa691b212e184", "i3d-torchscript", ("i3d-kinetics-400", "fvd")),
    "torchvision-raft-small": ("torch-hub", "https://download.pytorch.org/models/raft_small_C_T_V2-01064c6d.pth", None, None, ("warping_error",)),
    "torchvggish-vggish": ("torch-hub", "https://github.com/harritaylor/torchvggish/releases/download/v0.1/vggish-10086976.pth", None, None, ("vggish", "fad", "fad_vggish")),
    "clap-htsat-unfused": ("hf", "laion/clap-htsat-unfused", "8fa0f1c6d0433df6e97c127f64b2a1d6c0dcda8a", "clap-htsat-unfused", ("clap-htsat-unfused", "fad_clap", "clap_score")),
    "clip-vit-large-patch14-336": ("hf", "openai/clip-vit-large-patch14-336", "ce19dc912ca5cd21c8a653c79e251e808ccabcd1", "clip-vit-large-patch14-336", ("clip-vit-l-14-336", "cmmd")),
    "vbench-dino-vitb16": ("torch-hub", "https://dl.fbaipublicfiles.com/dino/dino_vitbase16_pretrain/dino_vitbase16_pretrain.pth", None, None, ("vbench_subject_consistency", "vbench_mlperf")),
    "vbench-clip-vit-b-32": ("torch-hub", "https://openaipublic.azureedge.net/clip/models/40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af/ViT-B-32.pt", None, None, ("vbench_background_consistency", "vbench_appearance_style", "vbench_mlperf")),
    # VBench downloads princeton-vl's models.zip; this single-file copy has the same bytes.
    "vbench-raft-things": ("torch-hub", "https://github.com/sczhou/ProPainter/releases/download/v0.1.0/raft-things.pth", None, None, ("vbench_dynamic_degree", "vbench_mlperf")),
    "imagereward-v1.0": ("hf", "THUDM/ImageReward", "9fabc279a94f082f9eb130070cac021569dd16dc", "imagereward-v1.0", ("image_reward",)),
    "bert-base-uncased-vocab": ("hf", "google-bert/bert-base-uncased", "86b5e0934494bd15c9632b12f734a8a67f723594", "bert-base-uncased", ("image_reward",)),
    "hps-v2.1": ("hf", "xswu/HPSv2", "697403c78157020a1ae59d23f111aa58ced35b0a", "hps-v2.1", ("hps_v21",)),
    "pickscore-v1": ("hf", "yuvalkirstain/PickScore_v1", "a4e4367c6dfa7288a00c550414478f865b875800", "pickscore-v1", ("pickscore",)),
    "clip-vit-h-14-laion2b-processor": ("hf", "laion/CLIP-ViT-H-14-laion2B-s32B-b79K", "1c2b8495b28150b8a4922ee1c8edee224c284c0c", "clip-vit-h-14-laion2b-processor", ("pickscore",)),
    "openai-clip-vit-l-14": ("hf", "camenduru/SyncDreamer", "f28d14c33fce7a5f10e7619554d8932c8b79c4ac", "openai-clip-vit-l-14", ("aesthetic",)),
    "laion-aesthetic-v2-linear": ("hf", "haor/aesthetics", "60617cce14f355d3923a0e320c9b616fc32ad36d", "laion-aesthetic-v2-linear", ("aesthetic",)),
    # DINOv2 (FD-DINOv2, dgm-eval): the torch hub backbones, or the same networks as Hugging Face publishes them.
    "dinov2-vits14": ("torch-hub", "https://dl.fbaipublicfiles.com/dinov2/dinov2_vits14/dinov2_vits14_pretrain.pth", None, None, ("dinov2-vit-s-14", "fd_dinov2-vit-s-14")),
    "dinov2-vitb14": ("torch-hub", "https://dl.fbaipublicfiles.com/dinov2/dinov2_vitb14/dinov2_vitb14_pretrain.pth", None, None, ("dinov2-vit-b-14", "fd_dinov2-vit-b-14")),
    "dinov2-vitl14": ("torch-hub", "https://dl.fbaipublicfiles.com/dinov2/dinov2_vitl14/dinov2_vitl14_pretrain.pth", None, None, ("dinov2-vit-l-14", "fd_dinov2", "fd_dinov2-vit-l-14")),
    "dinov2-vitg14": ("torch-hub", "https://dl.fbaipublicfiles.com/dinov2/dinov2_vitg14/dinov2_vitg14_pretrain.pth", None, None, ("dinov2-vit-g-14", "fd_dinov2-vit-g-14")),
    "dinov2-small-hf": ("hf", "facebook/dinov2-small", "ed25f3a31f01632728cabb09d1542f84ab7b0056", "dinov2-small", ("dinov2-vit-s-14", "fd_dinov2-vit-s-14")),
    "dinov2-base-hf": ("hf", "facebook/dinov2-base", "f9e44c814b77203eaa57a6bdbbd535f21ede1415", "dinov2-base", ("dinov2-vit-b-14", "fd_dinov2-vit-b-14")),
    "dinov2-large-hf": ("hf", "facebook/dinov2-large", "47b73eefe95e8d44ec3623f8890bd894b6ea2d6c", "dinov2-large", ("dinov2-vit-l-14", "fd_dinov2", "fd_dinov2-vit-l-14")),
    "dinov2-giant-hf": ("hf", "facebook/dinov2-giant", "611a9d42f2335e0f921f1e313ad3c1b7178d206d", "dinov2-giant", ("dinov2-vit-g-14", "fd_dinov2-vit-g-14")),
}

# name: (summary, licence)
ABOUT: dict[str, tuple[str, str]] = {
    "pytorch-fid-inception": ("FID Inception-v3 (TensorFlow 2015-12-05 graph ported by pytorch-fid)", "Apache-2.0 (pytorch-fid; the TensorFlow Inception graph it ports is Apache-2.0)"),
    "torch-fidelity-inception": ("torch-fidelity's FID Inception-v3 (used by torchmetrics' own FID/KID/IS); same bytes as pytorch-fid's", "Apache-2.0 (torch-fidelity)"),
    "torchvision-alexnet": ("torchvision AlexNet IMAGENET1K_V1 (LPIPS backbone, net=alex)", "BSD-3-Clause (torchvision); trained on ImageNet-1k"),
    "torchvision-vgg16": ("torchvision VGG16 IMAGENET1K_V1 (LPIPS backbone, net=vgg)", "BSD-3-Clause (torchvision); trained on ImageNet-1k"),
    "torchvision-squeezenet1_1": ("torchvision SqueezeNet 1.1 IMAGENET1K_V1 (LPIPS backbone, net=squeeze)", "BSD-3-Clause (torchvision); trained on ImageNet-1k"),
    "clip-vit-base-patch32": ("OpenAI CLIP ViT-B/32 as Hugging Face publishes it (FD-CLIP, clip_score)", "MIT (OpenAI CLIP release)"),
    "i3d-torchscript": ("I3D Kinetics-400 as TorchScript (StyleGAN-V's FVD detector: the tf.hub i3d-kinetics-400 weights ported by the StyleGAN-V authors)", "Apache-2.0 (DeepMind kinetics-i3d / tf.hub i3d-kinetics-400 weights); TorchScript port by the StyleGAN-V authors"),
    "torchvision-raft-small": ("torchvision RAFT-small C_T_V2 optical flow (warping_error)", "BSD-3-Clause (torchvision); trained on FlyingChairs + FlyingThings3D"),
    "torchvggish-vggish": ("VGGish (AudioSet) as ported by harritaylor/torchvggish v0.1 (fad, fad_vggish)", "Apache-2.0 (TensorFlow models' VGGish; torchvggish port)"),
    "clap-htsat-unfused": ("LAION CLAP HTSAT-unfused as Hugging Face publishes it (fad_clap, clap_score)", "Apache-2.0 (LAION CLAP model card)"),
    "clip-vit-large-patch14-336": ("OpenAI CLIP ViT-L/14 at 336 px as Hugging Face publishes it (cmmd)", "MIT (OpenAI CLIP release)"),
    "vbench-dino-vitb16": ("DINO ViT-B/16 self-supervised on ImageNet-1k (VBench subject_consistency)", "Apache-2.0 (facebookresearch/dino)"),
    "vbench-clip-vit-b-32": ("OpenAI CLIP ViT-B/32 as the clip package loads it (VBench background_consistency, appearance_style)", "MIT (OpenAI CLIP release)"),
    "vbench-raft-things": ("RAFT trained on FlyingChairs + FlyingThings3D, princeton-vl's raft-things.pth (VBench dynamic_degree)", "BSD-3-Clause (princeton-vl/RAFT)"),
    "imagereward-v1.0": ("ImageReward v1.0 reward model and its BLIP text-encoder config (image_reward)", "Apache-2.0 (THUDM/ImageReward model card)"),
    "bert-base-uncased-vocab": ("BERT uncased WordPiece vocabulary (ImageReward's BLIP tokenizer; no model weights)", "Apache-2.0 (google-bert/bert-base-uncased)"),
    "hps-v2.1": ("HPS v2.1: open_clip ViT-H-14 fine-tuned on human preferences (hps_v21)", "Apache-2.0 (xswu/HPSv2)"),
    "pickscore-v1": ("PickScore v1: CLIP ViT-H/14 fine-tuned on Pick-a-Pic preferences (pickscore)", "not tagged on the model page (see the authors' repository yuvalkirstain/PickScore)"),
    "clip-vit-h-14-laion2b-processor": ("The CLIP processor PickScore's model card uses (laion/CLIP-ViT-H-14-laion2B-s32B-b79K; no model weights)", "MIT (LAION OpenCLIP release)"),
    "openai-clip-vit-l-14": ("OpenAI CLIP ViT-L/14 as the clip package loads it (ViT-L-14.pt; aesthetic)", "MIT (OpenAI CLIP release)"),
    "laion-aesthetic-v2-linear": ("LAION improved aesthetic predictor v2 (sac+logos+ava1-l14-linearMSE; aesthetic)", "see christophschuhmann/improved-aesthetic-predictor (no LICENSE file in its tree)"),
    "dinov2-vits14": ("DINOv2 ViT-S/14 backbone, torch hub checkpoint (facebookresearch/dinov2; FD-DINOv2 at size s)", "Apache-2.0 (facebookresearch/dinov2)"),
    "dinov2-vitb14": ("DINOv2 ViT-B/14 backbone, torch hub checkpoint (facebookresearch/dinov2; FD-DINOv2 at size b)", "Apache-2.0 (facebookresearch/dinov2)"),
    "dinov2-vitl14": ("DINOv2 ViT-L/14 backbone, torch hub checkpoint (facebookresearch/dinov2; fd_dinov2, dgm-eval's default)", "Apache-2.0 (facebookresearch/dinov2)"),
    "dinov2-vitg14": ("DINOv2 ViT-g/14 backbone, torch hub checkpoint (facebookresearch/dinov2; FD-DINOv2 at size g)", "Apache-2.0 (facebookresearch/dinov2)"),
    "dinov2-small-hf": ("DINOv2 ViT-S/14 as Hugging Face publishes it (facebook/dinov2-small)", "Apache-2.0 (facebook/dinov2-small model card)"),
    "dinov2-base-hf": ("DINOv2 ViT-B/14 as Hugging Face publishes it (facebook/dinov2-base)", "Apache-2.0 (facebook/dinov2-base model card)"),
    "dinov2-large-hf": ("DINOv2 ViT-L/14 as Hugging Face publishes it (facebook/dinov2-large)", "Apache-2.0 (facebook/dinov2-large model card)"),
    "dinov2-giant-hf": ("DINOv2 ViT-g/14 as Hugging Face publishes it (facebook/dinov2-giant)", "Apache-2.0 (facebook/dinov2-giant model card)"),
}

# (entry, file name, sha256, size in bytes, required, hash source). Optional files: clap-htsat-unfused's
# tokenizer.json (the slow tokenizer, vocab.json + merges.txt, gives the same ids; one public pin of this file
# disagrees with the three others, which agree on this hash); clip-vit-large-patch14-336's preprocessor_config.json
# (not read: CMMD's preprocessing is fixed in code; kept for users of the folder with CLIPProcessor). CMMD uses only
# the image tower of clip-vit-large-patch14-336, so none of its tokenizer files is pinned.
FILES: tuple[tuple[str, str, str | None, int | None, bool, str], ...] = (
    ("pytorch-fid-inception", "pt_inception-2015-12-05-6726825d.pth", "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2", 95_628_359, True, "code-search-genforce"),
    ("torch-fidelity-inception", "weights-inception-2015-12-05-6726825d.pth", "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2", 95_628_359, True, "code-search"),
    ("torchvision-alexnet", "alexnet-owt-7be5be79.pth", "7be5be791159472b1fbf3c69796f7cb30dca7ad8466c2df70058c37116cdee02", 244_408_911, True, "code-search"),
    ("torchvision-vgg16", "vgg16-397923af.pth", "397923af8e79cdbb6a7127f12361acd7a2f83e06b05044ddf496e83de57a5bf0", 553_433_881, True, "code-search"),
    ("torchvision-squeezenet1_1", "squeezenet1_1-b8a52dc0.pth", "b8a52dc049b60e4b6ab68ad0df457362afab8b6304b2febdc1650a5dab4d7e7b", 4_958_839, True, "code-search"),
    ("clip-vit-base-patch32", "config.json", "b575ef3c36f2a057fa19e221650105052d61cc9c1a972ec15019c6261ec98770", 4_186, True, "clip-b32-manifest"),
    ("clip-vit-base-patch32", "pytorch_model.bin", "a63082132ba4f97a80bea76823f544493bffa8082296d62d71581a4feff1576f", 605_247_071, True, "clip-b32-weights"),
    ("clip-vit-base-patch32", "preprocessor_config.json", "910e70b3956ac9879ebc90b22fb3bc8a75b6a0677814500101a4c072bd7857bd", 316, True, "clip-b32-manifest"),
    ("clip-vit-base-patch32", "tokenizer_config.json", "34b7336e4bee12e0a9730eaf5189f582ef3c3eea5027f65730e5717256755aad", 592, True, "clip-b32-manifest"),
    ("clip-vit-base-patch32", "vocab.json", "5047b556ce86ccaf6aa22b3ffccfc52d391ea4accdab9c2f2407da5b742d4363", 862_328, True, "clip-b32-manifest"),
    ("clip-vit-base-patch32", "merges.txt", "f526393189112391ce6f9795d4695f704121ce452c3aad1f5335cc41337eba85", 524_657, True, "clip-b32-manifest"),
    ("clip-vit-base-patch32", "tokenizer.json", "b556ac8c99757ffb677208af34bc8c6721572114111a6e0aaf5fa69ff0b8d842", 2_224_041, False, "clip-b32-manifest"),
    ("clip-vit-base-patch32", "special_tokens_map.json", "f8c0d6c39aee3f8431078ef6646567b0aba7f2246e9c54b8b99d55c22b707cbf", 389, False, "clip-b32-manifest"),
    ("i3d-torchscript", "i3d_torchscript.pt", "bec6519f66ea534e953026b4ae2c65553c17bf105611c746d904657e5860a5e2", 51_235_320, True, "i3d"),
    ("torchvision-raft-small", "raft_small_C_T_V2-01064c6d.pth", "01064c6dba73b0fc9fc8edf772248560a00a3acfd62ac6677e9eeebad9680e27", 4_006_189, True, "code-search"),
    ("torchvggish-vggish", "vggish-10086976.pth", "10086976245803799d9194e9a73d9b6c1549c71d1b80106f5cade5608a561f4b", 288_567_937, True, "code-search"),
    ("clap-htsat-unfused", "config.json", "9efb9557bc804f2ca6e394486af2e45dfed0b18554909735a99c6220b84e4288", 5_390, True, "clap-lock-files"),
    ("clap-htsat-unfused", "pytorch_model.bin", "1cd3c601bc4afe0fa87be3de4c13dd2cfadd249fac1e29acf74a9b296c3219bb", 614_525_833, True, "clap-lock-files"),
    ("clap-htsat-unfused", "preprocessor_config.json", "9739f58296aa6f9ac18008fd0150fb2649bc554985fbde86d0a4041c882ac753", 541, True, "clap-lock-files"),
    ("clap-htsat-unfused", "vocab.json", "ed19656ea1707df69134c4af35c8ceda2cc9860bf2c3495026153a133670ab5e", 798_293, True, "clap-lock-files"),
    ("clap-htsat-unfused", "merges.txt", "fe36cab26d4f4421ed725e10a2e9ddb7f799449c603a96e7f29b5a3c82a95862", 456_356, True, "clap-lock-files"),
    ("clap-htsat-unfused", "tokenizer_config.json", "377f91458f7729a4574a84c77bdce67dbc3c58c1a345a29bbf8c4eb1307948a3", 384, True, "clap-lock-files"),
    ("clap-htsat-unfused", "special_tokens_map.json", "06e405a36dfe4b9604f484f6a1e619af1a7f7d09e34a8555eb0b77b66318067f", 280, False, "clap-lock-files"),
    ("clap-htsat-unfused", "tokenizer.json", "77ef92283d67f0d97e1454909a964afcbfa2019f0fb9f18f8e88d5c25c3ba729", 2_108_746, False, "clap-lock-files-3-of-4"),
    ("clip-vit-large-patch14-336", "config.json", "51b1c14aabcdf639c4a0370eeda1010b773bbe1df78319c7d0f5882c22ac0ac0", 4_757, True, "clip-l336-manifests"),
    ("clip-vit-large-patch14-336", "pytorch_model.bin", "c6032c2e0caae3dc2d4fba35535fa6307dbb49df59c7e182b1bc4b3329b81801", 1_711_974_081, True, "clip-l336-weights"),
    ("clip-vit-large-patch14-336", "preprocessor_config.json", "d253881f65322dc546df59cf925a408e5538b8ecb5a1b496cdd36af9992686d4", 316, False, "clip-l336-manifests"),
    ("vbench-dino-vitb16", "dino_vitbase16_pretrain.pth", "bf34ad0f424b9029b593e8dc3ed553bf26e88bcba0d32bf3e62a6209cb64c85e", 343_242_485, True, "dino"),
    ("vbench-clip-vit-b-32", "ViT-B-32.pt", "40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af", None, True, "openai-clip-b32-url"),
    ("vbench-raft-things", "raft-things.pth", "fcfa4125d6418f4de95d84aec20a3c5f4e205101715a79f193243c186ac9a7e1", 21_108_000, True, "raft-things"),
    ("imagereward-v1.0", "ImageReward.pt", "d71dc8d4912bc633c06ab8ef1ef6a81e8199d4369f14b47b29baf1d19de561f6", 1_786_880_927, True, "imagereward-lfs"),
    ("imagereward-v1.0", "med_config.json", "d8b5029cc3c0124313d17009d043f0701bbe497f3721fa4ceb818720fe665326", 485, True, "imagereward-med-config"),
    ("bert-base-uncased-vocab", "vocab.txt", "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3", 231_508, True, "bert-vocab"),
    ("hps-v2.1", "HPS_v2.1_compressed.pt", "c57a38fb4a2f7e7c15bf00da2ea377cdf165448b4dd1052a484c215a998c9837", 1_972_490_005, True, "hps-lfs"),
    ("pickscore-v1", "config.json", "bfa2a8243d3f82ad7c4746a0b62817e895f9f225926e6caecfc9dbb9171647ce", None, True, "pickscore-gate"),
    ("pickscore-v1", "model.safetensors", "ef31ef6fc5ff4d9bb90dd232df4e145887ba62c5a03aa2841415f8c25f18d52e", None, True, "pickscore-lfs"),
    ("clip-vit-h-14-laion2b-processor", "preprocessor_config.json", "910e70b3956ac9879ebc90b22fb3bc8a75b6a0677814500101a4c072bd7857bd", 316, True, "pickscore-processor"),
    ("clip-vit-h-14-laion2b-processor", "tokenizer.json", "b556ac8c99757ffb677208af34bc8c6721572114111a6e0aaf5fa69ff0b8d842", 2_224_041, True, "pickscore-processor"),
    ("openai-clip-vit-l-14", "ViT-L-14.pt", "b8cca3fd41ae0c99ba7e8951adf17d267cdb84cd88be6f7c2e0eca1737a03836", 932_768_134, True, "openai-clip-l14-url"),
    ("dinov2-vits14", "dinov2_vits14_pretrain.pth", "b938bf1bc15cd2ec0feacfe3a1bb553fe8ea9ca46a7e1d8d00217f29aef60cd9", 88_283_115, True, "dinov2-hub"),
    ("dinov2-vitb14", "dinov2_vitb14_pretrain.pth", "0b8b82f85de91b424aded121c7e1dcc2b7bc6d0adeea651bf73a13307fad8c73", 346_378_731, True, "dinov2-hub"),
    ("dinov2-vitl14", "dinov2_vitl14_pretrain.pth", "d5383ea8f4877b2472eb973e0fd72d557c7da5d3611bd527ceeb1d7162cbf428", 1_217_586_395, True, "dinov2-vitl14"),
    ("dinov2-vitg14", "dinov2_vitg14_pretrain.pth", "baf8467e50af277596bbbafa06887c177ee899ab46033649c383577d7e9309d3", 4_546_108_579, True, "dinov2-hub"),
    ("dinov2-small-hf", "config.json", "1809f83e3bdb1609a501a610ad4a742f4fd8ae44d72ca4aa0df52d1f2ac8628d", 547, True, "dinov2-hf"),
    ("dinov2-small-hf", "model.safetensors", "ae1e99fcefd534ed978cdeb8326f08030c96e28b7a81ffcbc98a857c84d14be1", 88_249_960, True, "dinov2-hf"),
    ("dinov2-base-hf", "config.json", "f7ff4cfa73d2f70647dbf6950541ad25d73082d54c2e7e9bded160c7656b2a70", 548, True, "dinov2-hf"),
    ("dinov2-base-hf", "model.safetensors", "d73036b56966966d07975d696bde331762f37297e2f095de8cea0040c3aa0841", 346_345_912, True, "dinov2-hf"),
    ("dinov2-large-hf", "config.json", "12df51c069a2dc1305e34ba71ef58bc2407ea553b75f4722a1715c1bce3bbed0", 549, True, "dinov2-hf"),
    ("dinov2-large-hf", "model.safetensors", "399fba97a95f22c36834418bc69373364a99af3a1153da1c0fb31db567c92e23", 1_217_522_888, True, "dinov2-hf"),
    ("dinov2-giant-hf", "config.json", None, None, True, "not-found"),
    ("dinov2-giant-hf", "model.safetensors", "917d3c470db999d32a312f8542149be91c7cbac61ee8fb4b67ae3d82b79ce21f", 4_546_005_432, True, "dinov2-hf"),
    ("laion-aesthetic-v2-linear", "sac+logos+ava1-l14-linearMSE.pth", "21dd590f3ccdc646f0d53120778b296013b096a035a2718c9cb0d511bff0f1e0", 3_714_759, True, "aesthetic-lfs"),
)

# fmt: on
