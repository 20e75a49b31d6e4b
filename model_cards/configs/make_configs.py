"""Regenerate the config-only model folders in this directory (no weights are written).

    python model_cards/configs/make_configs.py            # rewrite all folders
    python model_cards/configs/make_configs.py tiny-sd    # just one

Each folder is laid out like a diffusers ``save_pretrained`` folder minus the weight files:
``model_index.json`` at the top and one sub-folder per component with its ``config.json`` (models),
``scheduler_config.json`` (schedulers) or tokenizer files. ``harness.loaders.from_config`` turns a folder
into a pipeline with random weights drawn from a fixed seed.

The tiny folders are written by building the components, calling ``pipeline.save_pretrained`` into a
temporary folder and copying everything except weight files. ``sd15-arch`` is written by hand from the
configs Stable Diffusion 1.5 publishes, and ``sdxl-arch``, ``wan21-1.3b-arch`` and ``stable-audio-open-arch``
from those SDXL 1.0 base, Wan 2.1 T2V 1.3B and Stable Audio Open 1.0 publish. Tokenizers are built here from
word lists in this file; nothing is downloaded.
"""

from __future__ import annotations

import itertools
import json
import shutil
import sys
import tempfile
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".msgpack", ".h5", ".onnx")

# ---------------------------------------------------------------------------------------------------------
# Word list shared by both tokenizers: common English words plus words that show up in image/video/audio
# prompts. Order matters only for the T5-style scores (earlier = more frequent).
_WORDS_TEXT = """
a the of and to in is it that for on with as was at by be this are from or an have not but all
they one had his her which you we there can were their if been has more when will who would no so
what out up about into than them some could other only then its also time two new first after like
over such our these many may most people made any my way see very well how do make just back good
where through much before long three being both old little same use under take here even last now
day thing down each while because world year great life work part small large big high every place
few between own last right left still man woman men women child children boy girl baby face hand eye
eyes head hair body person friend family dog cat bird horse cow fish lion tiger bear fox wolf rabbit
mouse duck owl deer elephant monkey snake frog butterfly bee tree trees flower flowers grass leaf
leaves forest garden park field mountain mountains hill river lake sea ocean beach sand wave waves
water rain snow ice fire sky cloud clouds sun moon star stars night morning evening sunset sunrise
light dark shadow city town street road bridge building house home room door window wall floor roof
kitchen table chair bed car bus train boat ship plane bicycle book cup glass bottle plate food bread
apple orange banana cake coffee tea music song sound voice noise piano guitar drum drums violin bell
wind thunder bird engine clock phone computer robot machine red green blue yellow orange purple pink
brown black white gray grey gold silver bright colorful round square circle triangle line lines dot
shape pattern picture photo photograph painting drawing image video film scene view portrait
landscape style art oil watercolor sketch cartoon anime realistic detailed beautiful cute happy sad
old young tall short soft hard loud quiet slow fast warm cold hot wet dry clean heavy empty full
open closed front top bottom side middle center near far inside outside above below behind walking
running flying swimming sitting standing playing singing dancing talking reading eating sleeping
looking holding wearing jumping falling moving smiling laughing crying beat rhythm melody ambient
calm gentle background close up wide angle high quality resolution cinematic lighting camera
"""
WORDS = _WORDS_TEXT.split()

# CLIP's byte-level alphabet: 188 printable bytes map to themselves, the rest to code points >= 256.


def bytes_to_unicode() -> dict[int, str]:
    bs = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def learn_clip_merges(words: list[str], num_merges: int) -> list[tuple[str, str]]:
    """Plain BPE over the word list, CLIP-style (last symbol of a word carries ``</w>``).

    Word frequencies follow a Zipf law over the list order so common words merge first.
    """
    byte_encoder = bytes_to_unicode()
    freq: Counter[tuple[str, ...]] = Counter()
    for rank, w in enumerate(dict.fromkeys(words)):
        chars = [byte_encoder[b] for b in w.lower().encode("utf-8")]
        chars[-1] = chars[-1] + "</w>"
        freq[tuple(chars)] += 1000 // (rank + 10) + 1
    merges: list[tuple[str, str]] = []
    for _ in range(num_merges):
        pairs: Counter[tuple[str, str]] = Counter()
        for sym, f in freq.items():
            for a, b in itertools.pairwise(sym):
                pairs[(a, b)] += f
        if not pairs:
            break
        # Deterministic tie-break: highest count, then lexicographic.
        best = max(pairs, key=lambda p: (pairs[p], p))
        merges.append(best)
        new_freq: Counter[tuple[str, ...]] = Counter()
        for sym, f in freq.items():
            out: list[str] = []
            i = 0
            while i < len(sym):
                if i + 1 < len(sym) and (sym[i], sym[i + 1]) == best:
                    out.append(sym[i] + sym[i + 1])
                    i += 2
                else:
                    out.append(sym[i])
                    i += 1
            new_freq[tuple(out)] += f
        freq = new_freq
    return merges


def write_clip_tokenizer(folder: Path, num_merges: int = 400, pad_token: str = "<|endoftext|>") -> int:
    """vocab.json + merges.txt + tokenizer_config.json + special_tokens_map.json; returns the vocab size.
    ``pad_token``: SDXL's second tokenizer (OpenCLIP's) pads with "!"."""
    folder.mkdir(parents=True, exist_ok=True)
    base = list(bytes_to_unicode().values())
    vocab_list = base + [c + "</w>" for c in base]
    merges = learn_clip_merges(WORDS, num_merges)
    for a, b in merges:
        if a + b not in vocab_list:  # two merge paths can spell the same token
            vocab_list.append(a + b)
    vocab_list += ["<|startoftext|>", "<|endoftext|>"]
    vocab = {tok: i for i, tok in enumerate(vocab_list)}
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False) + "\n", encoding="utf-8")
    (folder / "merges.txt").write_text(
        "#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges), encoding="utf-8"
    )
    special = {
        "bos_token": "<|startoftext|>",
        "eos_token": "<|endoftext|>",
        "pad_token": pad_token,
        "unk_token": "<|endoftext|>",
    }
    cfg = {
        "add_prefix_space": False,
        "do_lower_case": True,
        "errors": "replace",
        "model_max_length": 77,
        "tokenizer_class": "CLIPTokenizer",
        **special,
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(cfg, indent=2) + "\n")
    (folder / "special_tokens_map.json").write_text(json.dumps(special, indent=2) + "\n")
    return len(vocab)


def write_t5_tokenizer(folder: Path, model_max_length: int) -> int:
    """A T5-style Unigram tokenizer (``tokenizer.json``) over WORDS plus single characters; returns its size.

    Layout as T5: <pad>=0, </s>=1, <unk>=2, then pieces. No sentinel (<extra_id_N>) tokens.
    """
    from transformers import T5Tokenizer

    pieces: list[tuple[str, float]] = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0)]
    seen = {p for p, _ in pieces}
    for rank, w in enumerate(dict.fromkeys(WORDS)):
        piece = "▁" + w
        if piece not in seen:
            pieces.append((piece, -3.0 - rank / 100.0))
            seen.add(piece)
    chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,!?'\"-:;()/&%+*=#@_"
    for c in chars:
        for piece, score in (("▁" + c, -12.0), (c, -13.0)):
            if piece not in seen:
                pieces.append((piece, score))
                seen.add(piece)
    tok = T5Tokenizer(vocab=pieces, extra_ids=0, model_max_length=model_max_length)
    folder.mkdir(parents=True, exist_ok=True)
    tok.save_pretrained(str(folder))
    special = {"eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>"}
    # transformers 5 keeps these in tokenizer_config.json; the separate file helps older readers.
    (folder / "special_tokens_map.json").write_text(json.dumps(special, indent=2) + "\n")
    return len(tok)


def _copy_without_weights(src: Path, dst: Path, skip: tuple[str, ...] = ()) -> None:
    for path in sorted(src.rglob("*")):
        rel = path.relative_to(src)
        if path.is_dir() or path.name.endswith(WEIGHT_SUFFIXES) or (rel.parts and rel.parts[0] in skip):
            continue
        out = dst / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".json":
            data = json.loads(path.read_text())
            data.pop("_name_or_path", None)  # the temporary folder; meaningless here
            out.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
        else:
            shutil.copyfile(path, out)


def _save(pipe, dst: Path, tokenizer_dirs: dict[str, Path]) -> None:
    """save_pretrained into a temp dir, copy configs only; tokenizer folders come from our own files."""
    if dst.exists():
        shutil.rmtree(dst)
    with tempfile.TemporaryDirectory() as tmp:
        pipe.save_pretrained(tmp, safe_serialization=True)
        _copy_without_weights(Path(tmp), dst, skip=tuple(tokenizer_dirs))
    for name, folder in tokenizer_dirs.items():
        shutil.copytree(folder, dst / name)
    # transformers 5 names its one T5 tokenizer class T5Tokenizer (T5TokenizerFast is an alias); the public
    # Wan / Stable Audio repos say T5TokenizerFast, which also loads tokenizer.json under transformers 4.
    index_path = dst / "model_index.json"
    index = json.loads(index_path.read_text())
    for key, value in index.items():
        if value == ["transformers", "T5Tokenizer"]:
            index[key] = ["transformers", "T5TokenizerFast"]
    index_path.write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")


# ---------------------------------------------------------------------------------------------------------
# SD 1.5 scheduler config (runwayml/stable-diffusion-v1-5 scheduler/scheduler_config.json)
SD15_SCHEDULER = {
    "_class_name": "PNDMScheduler",
    "_diffusers_version": "0.6.0",
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "beta_start": 0.00085,
    "clip_sample": False,
    "num_train_timesteps": 1000,
    "set_alpha_to_one": False,
    "skip_prk_steps": True,
    "steps_offset": 1,
    "trained_betas": None,
}


def make_tiny_sd(dst: Path) -> None:
    import diffusers
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    with tempfile.TemporaryDirectory() as tmp:
        tok_dir = Path(tmp) / "tokenizer"
        vocab_size = write_clip_tokenizer(tok_dir)
        tokenizer = CLIPTokenizer.from_pretrained(str(tok_dir), local_files_only=True)
        unet = diffusers.UNet2DConditionModel(
            sample_size=16,  # latent size; 32 px images with the 2x VAE below
            in_channels=4,
            out_channels=4,
            block_out_channels=(32, 64),
            layers_per_block=1,
            # attention at the 8x8 level only (and in the mid block): half the time of 16x16 attention
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
            cross_attention_dim=32,
            attention_head_dim=4,
            norm_num_groups=16,
        )
        vae = diffusers.AutoencoderKL(
            sample_size=32,
            in_channels=3,
            out_channels=3,
            latent_channels=4,
            block_out_channels=(32, 64),
            down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
            up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
            layers_per_block=1,
            norm_num_groups=16,
        )
        text_encoder = CLIPTextModel(
            CLIPTextConfig(
                vocab_size=vocab_size,
                hidden_size=32,
                intermediate_size=64,
                num_hidden_layers=2,
                num_attention_heads=4,
                max_position_embeddings=77,
                projection_dim=32,
                hidden_act="quick_gelu",
                bos_token_id=tokenizer.bos_token_id,
                eos_token_id=tokenizer.eos_token_id,
                pad_token_id=tokenizer.pad_token_id,
            )
        )
        scheduler = diffusers.PNDMScheduler.from_config(SD15_SCHEDULER)
        pipe = diffusers.StableDiffusionPipeline(
            vae=vae,
            text_encoder=text_encoder,
            tokenizer=tokenizer,
            unet=unet,
            scheduler=scheduler,
            safety_checker=None,
            feature_extractor=None,
            requires_safety_checker=False,
        )
        _save(pipe, dst, {"tokenizer": tok_dir})


# Wan 2.1 T2V scheduler (Wan-AI/Wan2.1-T2V-1.3B-Diffusers scheduler/scheduler_config.json, flow_shift 3.0)
WAN_SCHEDULER = {
    "beta_end": 0.02,
    "beta_schedule": "linear",
    "beta_start": 0.0001,
    "disable_corrector": [],
    "dynamic_thresholding_ratio": 0.995,
    "final_sigmas_type": "zero",
    "flow_shift": 3.0,
    "lower_order_final": True,
    "num_train_timesteps": 1000,
    "predict_x0": True,
    "prediction_type": "flow_prediction",
    "rescale_betas_zero_snr": False,
    "sample_max_value": 1.0,
    "solver_order": 2,
    "solver_p": None,
    "solver_type": "bh2",
    "steps_offset": 0,
    "thresholding": False,
    "timestep_spacing": "linspace",
    "trained_betas": None,
    "use_beta_sigmas": False,
    "use_exponential_sigmas": False,
    "use_flow_sigmas": True,
    "use_karras_sigmas": False,
}


def make_tiny_wan(dst: Path) -> None:
    import diffusers
    from transformers import T5Tokenizer, UMT5Config, UMT5EncoderModel

    with tempfile.TemporaryDirectory() as tmp:
        tok_dir = Path(tmp) / "tokenizer"
        vocab_size = write_t5_tokenizer(tok_dir, model_max_length=512)
        tokenizer = T5Tokenizer.from_pretrained(str(tok_dir), local_files_only=True)
        text_encoder = UMT5EncoderModel(
            UMT5Config(
                vocab_size=vocab_size,
                d_model=32,
                d_kv=8,
                d_ff=64,
                num_layers=2,
                num_heads=4,
                relative_attention_num_buckets=32,
                relative_attention_max_distance=128,
                feed_forward_proj="gated-gelu",
                dropout_rate=0.0,
                pad_token_id=0,
                eos_token_id=1,
                decoder_start_token_id=0,
            )
        )
        transformer = diffusers.WanTransformer3DModel(
            patch_size=(1, 2, 2),
            num_attention_heads=2,
            attention_head_dim=16,
            in_channels=16,
            out_channels=16,
            text_dim=32,
            freq_dim=32,
            ffn_dim=64,
            num_layers=2,
            cross_attn_norm=True,
            qk_norm="rms_norm_across_heads",
            eps=1e-6,
            rope_max_seq_len=32,
        )
        vae = diffusers.AutoencoderKLWan(
            base_dim=8,
            z_dim=16,
            dim_mult=[1, 1, 1, 1],
            num_res_blocks=1,
            temperal_downsample=[False, True, True],
        )
        scheduler = diffusers.UniPCMultistepScheduler.from_config(WAN_SCHEDULER)
        pipe = diffusers.WanPipeline(
            tokenizer=tokenizer,
            text_encoder=text_encoder,
            vae=vae,
            scheduler=scheduler,
            transformer=transformer,
        )
        _save(pipe, dst, {"tokenizer": tok_dir})


# Stable Audio Open 1.0 scheduler (stabilityai/stable-audio-open-1.0 scheduler/scheduler_config.json)
STABLE_AUDIO_SCHEDULER = {
    "euler_at_final": False,
    "final_sigmas_type": "zero",
    "lower_order_final": True,
    "num_train_timesteps": 1000,
    "prediction_type": "v_prediction",
    "rho": 7.0,
    "sigma_data": 1.0,
    "sigma_max": 500.0,
    "sigma_min": 0.3,
    "sigma_schedule": "exponential",
    "solver_order": 2,
    "solver_type": "midpoint",
}


def make_tiny_stable_audio(dst: Path) -> None:
    import diffusers
    from transformers import T5Config, T5EncoderModel, T5Tokenizer

    sampling_rate = 8000
    downsampling_ratios = [2, 4, 8]  # hop length 64 samples
    max_seconds = 2
    latent_len = max_seconds * sampling_rate // 64  # 250 latent frames = 2.0 s
    with tempfile.TemporaryDirectory() as tmp:
        tok_dir = Path(tmp) / "tokenizer"
        vocab_size = write_t5_tokenizer(tok_dir, model_max_length=64)
        tokenizer = T5Tokenizer.from_pretrained(str(tok_dir), local_files_only=True)
        text_encoder = T5EncoderModel(
            T5Config(
                vocab_size=vocab_size,
                d_model=32,
                d_kv=8,
                d_ff=64,
                num_layers=2,
                num_heads=4,
                relative_attention_num_buckets=32,
                relative_attention_max_distance=128,
                feed_forward_proj="relu",
                dropout_rate=0.0,
                pad_token_id=0,
                eos_token_id=1,
                decoder_start_token_id=0,
            )
        )
        projection_model = diffusers.StableAudioProjectionModel(
            text_encoder_dim=32, conditioning_dim=32, min_value=0, max_value=max_seconds
        )
        transformer = diffusers.StableAudioDiTModel(
            sample_size=latent_len,
            in_channels=8,
            out_channels=8,
            num_layers=2,
            attention_head_dim=8,
            num_attention_heads=4,
            num_key_value_attention_heads=2,
            cross_attention_dim=32,
            time_proj_dim=16,
            global_states_input_dim=64,  # start + end second embeddings, 2 x conditioning_dim
            cross_attention_input_dim=32,
        )
        vae = diffusers.AutoencoderOobleck(
            encoder_hidden_size=8,
            downsampling_ratios=downsampling_ratios,
            channel_multiples=[1, 2, 4],
            decoder_channels=8,
            decoder_input_channels=8,
            audio_channels=2,
            sampling_rate=sampling_rate,
        )
        scheduler = diffusers.CosineDPMSolverMultistepScheduler.from_config(STABLE_AUDIO_SCHEDULER)
        pipe = diffusers.StableAudioPipeline(
            vae=vae,
            text_encoder=text_encoder,
            projection_model=projection_model,
            tokenizer=tokenizer,
            transformer=transformer,
            scheduler=scheduler,
        )
        _save(pipe, dst, {"tokenizer": tok_dir})


# ---------------------------------------------------------------------------------------------------------
# Stable Diffusion 1.5 at full size: the configs runwayml/stable-diffusion-v1-5 publishes.
SD15_MODEL_INDEX = {
    "_class_name": "StableDiffusionPipeline",
    "_diffusers_version": "0.6.0",
    "feature_extractor": [None, None],
    "requires_safety_checker": False,
    "safety_checker": [None, None],
    "scheduler": ["diffusers", "PNDMScheduler"],
    "text_encoder": ["transformers", "CLIPTextModel"],
    "tokenizer": ["transformers", "CLIPTokenizer"],
    "unet": ["diffusers", "UNet2DConditionModel"],
    "vae": ["diffusers", "AutoencoderKL"],
}
SD15_UNET = {
    "_class_name": "UNet2DConditionModel",
    "_diffusers_version": "0.6.0",
    "act_fn": "silu",
    "attention_head_dim": 8,
    "block_out_channels": [320, 640, 1280, 1280],
    "center_input_sample": False,
    "cross_attention_dim": 768,
    "down_block_types": [
        "CrossAttnDownBlock2D",
        "CrossAttnDownBlock2D",
        "CrossAttnDownBlock2D",
        "DownBlock2D",
    ],
    "downsample_padding": 1,
    "flip_sin_to_cos": True,
    "freq_shift": 0,
    "in_channels": 4,
    "layers_per_block": 2,
    "mid_block_scale_factor": 1,
    "norm_eps": 1e-05,
    "norm_num_groups": 32,
    "out_channels": 4,
    "sample_size": 64,
    "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
}
SD15_VAE = {
    "_class_name": "AutoencoderKL",
    "_diffusers_version": "0.6.0",
    "act_fn": "silu",
    "block_out_channels": [128, 256, 512, 512],
    "down_block_types": [
        "DownEncoderBlock2D",
        "DownEncoderBlock2D",
        "DownEncoderBlock2D",
        "DownEncoderBlock2D",
    ],
    "in_channels": 3,
    "latent_channels": 4,
    "layers_per_block": 2,
    "norm_num_groups": 32,
    "out_channels": 3,
    "sample_size": 512,
    "up_block_types": ["UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D"],
}
# openai/clip-vit-large-patch14's text tower, as stable-diffusion-v1-5/text_encoder/config.json.
SD15_TEXT_ENCODER = {
    "architectures": ["CLIPTextModel"],
    "attention_dropout": 0.0,
    "bos_token_id": 0,
    "dropout": 0.0,
    "eos_token_id": 2,
    "hidden_act": "quick_gelu",
    "hidden_size": 768,
    "initializer_factor": 1.0,
    "initializer_range": 0.02,
    "intermediate_size": 3072,
    "layer_norm_eps": 1e-05,
    "max_position_embeddings": 77,
    "model_type": "clip_text_model",
    "num_attention_heads": 12,
    "num_hidden_layers": 12,
    "pad_token_id": 1,
    "projection_dim": 768,
    "torch_dtype": "float32",
    "transformers_version": "4.22.0.dev0",
    "vocab_size": 49408,
}


def _write_configs(dst: Path, files: dict[str, dict]) -> None:
    """A config-only folder from published configs: each file as JSON (its tokenizers are written apart)."""
    if dst.exists():
        shutil.rmtree(dst)
    for rel, data in files.items():
        out = dst / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(data, indent=2) + "\n")


def make_sd15_arch(dst: Path) -> None:
    _write_configs(
        dst,
        {
            "model_index.json": SD15_MODEL_INDEX,
            "unet/config.json": SD15_UNET,
            "vae/config.json": SD15_VAE,
            "text_encoder/config.json": SD15_TEXT_ENCODER,
            "scheduler/scheduler_config.json": SD15_SCHEDULER,
        },
    )
    write_clip_tokenizer(dst / "tokenizer")


# ---------------------------------------------------------------------------------------------------------
# SDXL 1.0 base at full size: the configs stabilityai/stable-diffusion-xl-base-1.0 publishes.
SDXL_MODEL_INDEX = {
    "_class_name": "StableDiffusionXLPipeline",
    "_diffusers_version": "0.19.0.dev0",
    "force_zeros_for_empty_prompt": True,
    "add_watermarker": None,
    "scheduler": ["diffusers", "EulerDiscreteScheduler"],
    "text_encoder": ["transformers", "CLIPTextModel"],
    "text_encoder_2": ["transformers", "CLIPTextModelWithProjection"],
    "tokenizer": ["transformers", "CLIPTokenizer"],
    "tokenizer_2": ["transformers", "CLIPTokenizer"],
    "unet": ["diffusers", "UNet2DConditionModel"],
    "vae": ["diffusers", "AutoencoderKL"],
}
SDXL_UNET = {
    "_class_name": "UNet2DConditionModel",
    "_diffusers_version": "0.19.0.dev0",
    "act_fn": "silu",
    "addition_embed_type": "text_time",
    "addition_embed_type_num_heads": 64,
    "addition_time_embed_dim": 256,
    "attention_head_dim": [5, 10, 20],
    "block_out_channels": [320, 640, 1280],
    "center_input_sample": False,
    "class_embed_type": None,
    "class_embeddings_concat": False,
    "conv_in_kernel": 3,
    "conv_out_kernel": 3,
    "cross_attention_dim": 2048,
    "cross_attention_norm": None,
    "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
    "downsample_padding": 1,
    "dual_cross_attention": False,
    "encoder_hid_dim": None,
    "encoder_hid_dim_type": None,
    "flip_sin_to_cos": True,
    "freq_shift": 0,
    "in_channels": 4,
    "layers_per_block": 2,
    "mid_block_only_cross_attention": None,
    "mid_block_scale_factor": 1,
    "mid_block_type": "UNetMidBlock2DCrossAttn",
    "norm_eps": 1e-05,
    "norm_num_groups": 32,
    "num_attention_heads": None,
    "num_class_embeds": None,
    "only_cross_attention": False,
    "out_channels": 4,
    "projection_class_embeddings_input_dim": 2816,
    "resnet_out_scale_factor": 1.0,
    "resnet_skip_time_act": False,
    "resnet_time_scale_shift": "default",
    "sample_size": 128,
    "time_cond_proj_dim": None,
    "time_embedding_act_fn": None,
    "time_embedding_dim": None,
    "time_embedding_type": "positional",
    "timestep_post_act": None,
    "transformer_layers_per_block": [1, 2, 10],
    "up_block_types": ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
    "upcast_attention": None,
    "use_linear_projection": True,
}
SDXL_VAE = {
    **SD15_VAE,
    "_diffusers_version": "0.20.0.dev0",
    "force_upcast": True,
    "sample_size": 1024,
    "scaling_factor": 0.13025,
}
# The first text encoder is CLIP ViT-L/14's text tower (as SD 1.5's); the second OpenCLIP ViT-bigG/14's.
SDXL_TEXT_ENCODER = {**SD15_TEXT_ENCODER, "torch_dtype": "float16", "transformers_version": "4.32.0.dev0"}
SDXL_TEXT_ENCODER_2 = {
    "architectures": ["CLIPTextModelWithProjection"],
    "attention_dropout": 0.0,
    "bos_token_id": 0,
    "dropout": 0.0,
    "eos_token_id": 2,
    "hidden_act": "gelu",
    "hidden_size": 1280,
    "initializer_factor": 1.0,
    "initializer_range": 0.02,
    "intermediate_size": 5120,
    "layer_norm_eps": 1e-05,
    "max_position_embeddings": 77,
    "model_type": "clip_text_model",
    "num_attention_heads": 20,
    "num_hidden_layers": 32,
    "pad_token_id": 1,
    "projection_dim": 1280,
    "torch_dtype": "float16",
    "transformers_version": "4.32.0.dev0",
    "vocab_size": 49408,
}
SDXL_SCHEDULER = {
    "_class_name": "EulerDiscreteScheduler",
    "_diffusers_version": "0.19.0.dev0",
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "beta_start": 0.00085,
    "clip_sample": False,
    "interpolation_type": "linear",
    "num_train_timesteps": 1000,
    "prediction_type": "epsilon",
    "sample_max_value": 1.0,
    "set_alpha_to_one": False,
    "skip_prk_steps": True,
    "steps_offset": 1,
    "timestep_spacing": "leading",
    "trained_betas": None,
    "use_karras_sigmas": False,
}


def make_sdxl_arch(dst: Path) -> None:
    _write_configs(
        dst,
        {
            "model_index.json": SDXL_MODEL_INDEX,
            "unet/config.json": SDXL_UNET,
            "vae/config.json": SDXL_VAE,
            "text_encoder/config.json": SDXL_TEXT_ENCODER,
            "text_encoder_2/config.json": SDXL_TEXT_ENCODER_2,
            "scheduler/scheduler_config.json": SDXL_SCHEDULER,
        },
    )
    write_clip_tokenizer(dst / "tokenizer")
    write_clip_tokenizer(dst / "tokenizer_2", pad_token="!")


# ---------------------------------------------------------------------------------------------------------
# Wan 2.1 T2V 1.3B at full size: the configs Wan-AI/Wan2.1-T2V-1.3B-Diffusers publishes.
WAN21_MODEL_INDEX = {
    "_class_name": "WanPipeline",
    "_diffusers_version": "0.33.0.dev0",
    "scheduler": ["diffusers", "UniPCMultistepScheduler"],
    "text_encoder": ["transformers", "UMT5EncoderModel"],
    "tokenizer": ["transformers", "T5TokenizerFast"],
    "transformer": ["diffusers", "WanTransformer3DModel"],
    "vae": ["diffusers", "AutoencoderKLWan"],
}
WAN21_TRANSFORMER = {
    "_class_name": "WanTransformer3DModel",
    "_diffusers_version": "0.33.0.dev0",
    "added_kv_proj_dim": None,
    "attention_head_dim": 128,
    "cross_attn_norm": True,
    "eps": 1e-06,
    "ffn_dim": 8960,
    "freq_dim": 256,
    "image_dim": None,
    "in_channels": 16,
    "num_attention_heads": 12,
    "num_layers": 30,
    "out_channels": 16,
    "patch_size": [1, 2, 2],
    "qk_norm": "rms_norm_across_heads",
    "rope_max_seq_len": 1024,
    "text_dim": 4096,
}
WAN21_VAE = {
    "_class_name": "AutoencoderKLWan",
    "_diffusers_version": "0.33.0.dev0",
    "attn_scales": [],
    "base_dim": 96,
    "dim_mult": [1, 2, 4, 4],
    "dropout": 0.0,
    "latents_mean": [
        -0.7571, -0.7089, -0.9113, 0.1075, -0.1745, 0.9653, -0.1517, 1.5508,
        0.4134, -0.0715, 0.5517, -0.3632, -0.1922, -0.9497, 0.2503, -0.2921,
    ],  # fmt: skip
    "latents_std": [
        2.8184, 1.4541, 2.3275, 2.6558, 1.2196, 1.7708, 2.6052, 2.0743,
        3.2687, 2.1526, 2.8652, 1.5579, 1.6382, 1.1253, 2.8251, 1.916,
    ],  # fmt: skip
    "num_res_blocks": 2,
    "temperal_downsample": [False, True, True],
    "z_dim": 16,
}
# google/umt5-xxl's encoder (5.7B parameters: the largest part of the pipeline).
WAN21_TEXT_ENCODER = {
    "architectures": ["UMT5EncoderModel"],
    "classifier_dropout": 0.0,
    "d_ff": 10240,
    "d_kv": 64,
    "d_model": 4096,
    "decoder_start_token_id": 0,
    "dense_act_fn": "gelu_new",
    "dropout_rate": 0.1,
    "eos_token_id": 1,
    "feed_forward_proj": "gated-gelu",
    "initializer_factor": 1.0,
    "is_encoder_decoder": True,
    "is_gated_act": True,
    "layer_norm_epsilon": 1e-06,
    "model_type": "umt5",
    "num_decoder_layers": 24,
    "num_heads": 64,
    "num_layers": 24,
    "output_past": True,
    "pad_token_id": 0,
    "relative_attention_max_distance": 128,
    "relative_attention_num_buckets": 32,
    "scalable_attention": True,
    "tie_word_embeddings": False,
    "tokenizer_class": "T5Tokenizer",
    "torch_dtype": "float32",
    "transformers_version": "4.49.0.dev0",
    "use_cache": True,
    "vocab_size": 256384,
}


def make_wan21_arch(dst: Path) -> None:
    _write_configs(
        dst,
        {
            "model_index.json": WAN21_MODEL_INDEX,
            "transformer/config.json": WAN21_TRANSFORMER,
            "vae/config.json": WAN21_VAE,
            "text_encoder/config.json": WAN21_TEXT_ENCODER,
            "scheduler/scheduler_config.json": {
                "_class_name": "UniPCMultistepScheduler",
                "_diffusers_version": "0.33.0.dev0",
                **WAN_SCHEDULER,
            },
        },
    )
    write_t5_tokenizer(dst / "tokenizer", model_max_length=512)


# ---------------------------------------------------------------------------------------------------------
# Stable Audio Open 1.0 at full size: the configs stabilityai/stable-audio-open-1.0 publishes.
STABLE_AUDIO_MODEL_INDEX = {
    "_class_name": "StableAudioPipeline",
    "_diffusers_version": "0.30.0.dev0",
    "projection_model": ["stable_audio", "StableAudioProjectionModel"],
    "scheduler": ["diffusers", "CosineDPMSolverMultistepScheduler"],
    "text_encoder": ["transformers", "T5EncoderModel"],
    "tokenizer": ["transformers", "T5TokenizerFast"],
    "transformer": ["diffusers", "StableAudioDiTModel"],
    "vae": ["diffusers", "AutoencoderOobleck"],
}
STABLE_AUDIO_TRANSFORMER = {
    "_class_name": "StableAudioDiTModel",
    "_diffusers_version": "0.30.0.dev0",
    "attention_head_dim": 64,
    "cross_attention_dim": 768,
    "cross_attention_input_dim": 768,
    "global_states_input_dim": 1536,
    "in_channels": 64,
    "num_attention_heads": 24,
    "num_key_value_attention_heads": 12,
    "num_layers": 24,
    "out_channels": 64,
    "sample_size": 1024,
    "time_proj_dim": 256,
}
STABLE_AUDIO_VAE = {
    "_class_name": "AutoencoderOobleck",
    "_diffusers_version": "0.30.0.dev0",
    "audio_channels": 2,
    "channel_multiples": [1, 2, 4, 8, 16],
    "decoder_channels": 128,
    "decoder_input_channels": 64,
    "downsampling_ratios": [2, 4, 4, 8, 8],
    "encoder_hidden_size": 128,
    "sampling_rate": 44100,
}
# Seconds start/total conditioners over 0-512 s, as the model's stable-audio-tools config.
STABLE_AUDIO_PROJECTION = {
    "_class_name": "StableAudioProjectionModel",
    "_diffusers_version": "0.30.0.dev0",
    "conditioning_dim": 768,
    "max_value": 512,
    "min_value": 0,
    "text_encoder_dim": 768,
}
# t5-base's encoder.
STABLE_AUDIO_TEXT_ENCODER = {
    "architectures": ["T5EncoderModel"],
    "classifier_dropout": 0.0,
    "d_ff": 3072,
    "d_kv": 64,
    "d_model": 768,
    "decoder_start_token_id": 0,
    "dense_act_fn": "relu",
    "dropout_rate": 0.1,
    "eos_token_id": 1,
    "feed_forward_proj": "relu",
    "initializer_factor": 1.0,
    "is_encoder_decoder": True,
    "is_gated_act": False,
    "layer_norm_epsilon": 1e-06,
    "model_type": "t5",
    "n_positions": 512,
    "num_decoder_layers": 12,
    "num_heads": 12,
    "num_layers": 12,
    "output_past": True,
    "pad_token_id": 0,
    "relative_attention_max_distance": 128,
    "relative_attention_num_buckets": 32,
    "torch_dtype": "float16",
    "transformers_version": "4.42.0.dev0",
    "use_cache": True,
    "vocab_size": 32128,
}


def make_stable_audio_open_arch(dst: Path) -> None:
    _write_configs(
        dst,
        {
            "model_index.json": STABLE_AUDIO_MODEL_INDEX,
            "transformer/config.json": STABLE_AUDIO_TRANSFORMER,
            "vae/config.json": STABLE_AUDIO_VAE,
            "projection_model/config.json": STABLE_AUDIO_PROJECTION,
            "text_encoder/config.json": STABLE_AUDIO_TEXT_ENCODER,
            "scheduler/scheduler_config.json": {
                "_class_name": "CosineDPMSolverMultistepScheduler",
                "_diffusers_version": "0.30.0.dev0",
                **STABLE_AUDIO_SCHEDULER,
            },
        },
    )
    # The prompt's T5 context is 128 tokens (stable-audio-tools' conditioner, max_length 128).
    write_t5_tokenizer(dst / "tokenizer", model_max_length=128)


MAKERS = {
    "tiny-sd": make_tiny_sd,
    "tiny-wan": make_tiny_wan,
    "tiny-stable-audio": make_tiny_stable_audio,
    "sd15-arch": make_sd15_arch,
    "sdxl-arch": make_sdxl_arch,
    "wan21-1.3b-arch": make_wan21_arch,
    "stable-audio-open-arch": make_stable_audio_open_arch,
}


def main(argv: list[str]) -> int:
    names = argv or list(MAKERS)
    for name in names:
        if name not in MAKERS:
            print(f"unknown folder {name!r}; choose from {sorted(MAKERS)}", file=sys.stderr)
            return 2
        MAKERS[name](HERE / name)
        print(f"wrote {HERE / name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
