"""torch.compile of the denoiser and the VAE decoder, with Inductor's caches kept in our artifact cache.

Compilation is lazy in PyTorch: ``prepare`` runs the timed request once so the compilation happens there and
not in the timed loop. That first call's own time is kept (``compile_first_call_s``); ``compile_s`` is its
excess over the median of the timed loop's steady calls (one steady call, as before, made it meaningless under
load: 455 s first call, one 101 s steady call, p50 28.6 s). The worker counts compilations across the timed
loop and the stage profile and reports any recompilation (a shape or guard the warm-up did not cover).
"""

from __future__ import annotations

import time

from harness.backends.base import Backend, MemoryFactor, Prepared
from harness.config.backends import CompileOptions


def _counters() -> tuple[int, int, int]:
    """(graphs compiled, FX graph cache hits, misses) so far in this process."""
    from torch._dynamo.utils import counters

    return (
        int(counters["stats"].get("unique_graphs", 0)),
        int(counters["inductor"].get("fxgraph_cache_hit", 0)),
        int(counters["inductor"].get("fxgraph_cache_miss", 0)),
    )


class CompileBackend(Backend):
    name = "compile"
    options_model = CompileOptions
    # Measured here (#24 item 4), as eager's: sd15-arch, fp32, 256², batch 1, 2 steps, 1 thread, Inductor
    # (suites/real-cpu.yaml, a cold cache): peak RSS 5,340 MiB from 513 MiB before the load, for 4,067 MiB of
    # weights: (5,340 - 513) / 4,067 = 1.19. (Wan 2.1 1.3B in bf16, the same run: 1.05.)
    memory_factor = MemoryFactor(
        1.19,
        "sd15-arch fp32 256² batch 1 on the CPU, cold Inductor cache: peak RSS grew 4,827 MiB for 4,067 MiB",
    )

    def prepare(self, generator, job) -> Prepared:
        # Inductor's on-disk caches live in our cache folder (set before torch loads: see
        # configure_compiler_caches), so `harness cache ls|gc|clear` covers them: one entry, held in use
        # while this process compiles, its size and last use recorded after.
        import torch

        from harness.backends.cache import ArtifactCache

        opts = job.backend_options
        cache_entry = ArtifactCache().compile_entry()
        torch._inductor.config.fx_graph_cache = True
        comps = generator.components()
        t0 = time.perf_counter()
        compiled = []
        for role in opts.components:
            module = comps.get(role)
            if module is None:
                continue
            if opts.channels_last:
                module.to(memory_format=torch.channels_last)
            if role == "vae_decoder":
                # The pipeline calls vae.decode, not forward: compile that bound method.
                module.decode = torch.compile(
                    module.decode,
                    mode=opts.mode,
                    fullgraph=opts.fullgraph,
                    dynamic=opts.dynamic,
                    backend=opts.backend,
                )
            else:
                module.compile(
                    mode=opts.mode, fullgraph=opts.fullgraph, dynamic=opts.dynamic, backend=opts.backend
                )
            compiled.append(role)
        graphs0, hits0, misses0 = _counters()
        request = job.timed_request()
        t1 = time.perf_counter()
        generator.generate(request)  # compiles every graph the timed request needs
        first_s = time.perf_counter() - t1
        graphs, hits, misses = _counters()
        hit = (hits - hits0) > 0 and (misses - misses0) == 0
        notes = cache_entry.commit() if cache_entry is not None else []
        return Prepared(
            generator=generator,
            precision=job.dtype,
            compile_s=t1 - t0,  # the worker adds the first call's excess over the steady median
            first_call_s=first_s,
            cache_hit=hit,
            notes=notes,
            details={
                "compiled": compiled,
                "graphs": graphs - graphs0,
                "fx_cache_hits": hits - hits0,
                "fx_cache_misses": misses - misses0,
                "mode": opts.mode,
                "setup_s": t1 - t0,
            },
            recompiles=lambda: _counters()[0],
            restore=lambda: uncompile(comps, compiled),
        )


def uncompile(comps: dict, roles: list[str]) -> None:
    """Undo ``prepare``: the modules run eagerly again and Dynamo forgets what it traced, so the next variant's
    compilation starts as it would in a fresh process (traced anew; Inductor's on-disk FX graph cache may hit)."""
    import torch

    for role in roles:
        module = comps[role]
        if role == "vae_decoder":
            vars(module).pop("decode", None)  # the instance attribute that shadowed the class's decode
        else:
            module._compiled_call_impl = None  # what nn.Module.compile set
    torch._dynamo.reset()
