"""Eager PyTorch: the reference every other backend is compared with."""

from __future__ import annotations

from harness.backends.base import Backend, MemoryFactor, Prepared
from harness.config.backends import EagerOptions


class EagerBackend(Backend):
    name = "eager"
    options_model = EagerOptions
    # Measured here (#24 item 4): sd15-arch, fp32, 256², batch 1, 2 steps, 1 thread, on the 2-core CPU VM
    # (torch 2.14.1), each job in its own process, two runs: peak RSS 4,976 and 4,986 MiB from 513 MiB before
    # the load; weights 1,066,235,307 × 4 bytes = 4,067 MiB, so (4,986 - 513) / 4,067 = 1.10.
    memory_factor = MemoryFactor(
        1.10, "sd15-arch fp32 256² batch 1 on the CPU: peak RSS grew 4,473 MiB for 4,067 MiB of weights"
    )

    def prepare(self, generator, job) -> Prepared:
        import torch

        opts = job.backend_options
        notes = []
        comps = generator.components()
        if opts.channels_last:
            for role in ("denoiser", "vae_decoder"):
                if role in comps:
                    comps[role].to(memory_format=torch.channels_last)
            notes.append("channels_last")
        if opts.attention is not None:
            from diffusers.models.attention_processor import AttnProcessor, AttnProcessor2_0

            proc = AttnProcessor2_0 if opts.attention == "sdpa" else AttnProcessor
            for role in ("denoiser", "vae_decoder"):
                module = comps.get(role)
                if module is not None and hasattr(module, "set_attn_processor"):
                    try:
                        module.set_attn_processor(proc())
                    except Exception as exc:  # some models have processors of their own
                        notes.append(f"attention={opts.attention} not applied to {role}: {exc}")
        return Prepared(generator=generator, precision=job.dtype, notes=notes)
