"""Capture how a pipeline calls its components, and stand-ins that run an exported graph in their place.

A diffusers pipeline calls its denoiser, decoder and text encoder with a mix of tensors, numbers, flags and
Nones. We run one generation with hooks to record each component's first call, flatten it into a list of
tensors plus a fixed "spec" (everything else, kept as constants), export a module taking only those tensors,
and swap in a stand-in module that flattens each later call the same way and runs the exported graph.
The pipeline itself runs unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

# Which method of each component the pipeline calls.
METHODS = {"denoiser": "forward", "vae_decoder": "decode", "text_encoder": "forward"}


class CallMismatch(RuntimeError):
    """A later call does not have the structure of the exported one."""


def _is_tensor(x: Any) -> bool:
    import torch

    return isinstance(x, torch.Tensor)


def flatten(obj: Any, tensors: list[Any], numbers_as_tensors: bool) -> Any:
    """Replace tensors (and, for denoisers, timestep numbers) by ("T", index) placeholders."""
    import torch

    if _is_tensor(obj):
        tensors.append(obj)
        return ("__T__", len(tensors) - 1)
    if numbers_as_tensors and isinstance(obj, (int, float)) and not isinstance(obj, bool):
        # A Python timestep would be baked into the graph as a constant: pass it as a tensor.
        tensors.append(torch.tensor(obj, dtype=torch.float32))
        return ("__N__", len(tensors) - 1, type(obj).__name__)
    if isinstance(obj, (list, tuple)):
        return (type(obj).__name__, [flatten(o, tensors, numbers_as_tensors) for o in obj])
    if isinstance(obj, dict):
        return ("dict", {k: flatten(v, tensors, numbers_as_tensors) for k, v in obj.items()})
    return ("__C__", obj)


def unflatten(spec: Any, tensors: list[Any] | tuple[Any, ...]) -> Any:
    tag = spec[0]
    if tag == "__T__":
        return tensors[spec[1]]
    if tag == "__N__":
        return tensors[spec[1]]
    if tag in ("list", "tuple"):
        items = [unflatten(s, tensors) for s in spec[1]]
        return items if tag == "list" else tuple(items)
    if tag == "dict":
        return {k: unflatten(v, tensors) for k, v in spec[1].items()}
    return spec[1]


def same_structure(a: Any, b: Any) -> str | None:
    """None when two specs match (tensor positions, constants); else what differs."""
    if a[0] != b[0]:
        return f"{a[0]} vs {b[0]}"
    if a[0] == "__C__":
        x, y = a[1], b[1]
        primitive = (type(None), bool, int, float, str)
        if isinstance(x, primitive) and isinstance(y, primitive):
            return None if x == y else f"constant {x!r} vs {y!r}"
        # Objects such as torch.Generator are new at each call: only their type must agree.
        return None if type(x) is type(y) else f"{type(x).__name__} vs {type(y).__name__}"
    if a[0] in ("list", "tuple"):
        if len(a[1]) != len(b[1]):
            return "length"
        for x, y in zip(a[1], b[1]):
            diff = same_structure(x, y)
            if diff:
                return diff
        return None
    if a[0] == "dict":
        if set(a[1]) != set(b[1]):
            return f"keys {sorted(set(a[1]) ^ set(b[1]))}"
        for k in a[1]:
            diff = same_structure(a[1][k], b[1][k])
            if diff:
                return f"{k}: {diff}"
    return None


@dataclass
class CapturedCall:
    role: str
    method: str
    spec: Any  # flatten((args, kwargs))
    example: list[Any]  # the tensors of the first call, cloned
    output_kind: str  # "tuple", "modeloutput", "tensor"
    output_type: Any
    output_keys: list[str]
    # flatten(the output's values): where each returned tensor goes back, nested tuples included (a text
    # encoder called with output_hidden_states returns a tuple of every layer's states in one field). None:
    # one flat tensor per value.
    output_spec: Any = None


def flat_outputs(out: Any) -> tuple[list[Any], Any]:
    """The tensors an exported graph returns for ``out`` (a tensor, a tuple or a ModelOutput, nested tuples
    flattened) and the spec that puts them back."""
    _, _, _, values = _output_layout(out)
    tensors: list[Any] = []
    spec = flatten(values, tensors, numbers_as_tensors=False)
    return tensors, spec


def _output_layout(out: Any) -> tuple[str, Any, list[str], list[Any]]:
    if _is_tensor(out):
        return "tensor", None, [], [out]
    if hasattr(out, "to_tuple") and hasattr(out, "keys"):
        keys = list(out.keys())
        return "modeloutput", type(out), keys, list(out.to_tuple())
    if isinstance(out, (tuple, list)):
        return "tuple", type(out), [], list(out)
    raise CallMismatch(f"unsupported output type {type(out).__name__}")


def capture_calls(generator: Any, run: Callable[[], Any], roles: list[str]) -> dict[str, CapturedCall]:
    """Run ``run()`` once, recording the first call of each component role."""
    import torch

    comps = generator.components()
    captured: dict[str, CapturedCall] = {}
    undo = []
    for role in roles:
        module = comps.get(role)
        if module is None:
            continue
        method = METHODS[role if role in METHODS else "text_encoder"]
        original = getattr(module, method)

        def hooked(*args, __role=role, __method=method, __orig=original, **kwargs):
            out = __orig(*args, **kwargs)
            if __role not in captured:
                tensors: list[Any] = []
                spec = flatten((list(args), kwargs), tensors, numbers_as_tensors=__role == "denoiser")
                kind, otype, keys, _ = _output_layout(out)
                captured[__role] = CapturedCall(
                    role=__role,
                    method=__method,
                    spec=spec,
                    example=[t.detach().clone() for t in tensors],
                    output_kind=kind,
                    output_type=otype,
                    output_keys=keys,
                    output_spec=flat_outputs(out)[1],
                )
            return out

        setattr(module, method, hooked)
        undo.append((module, method))
    try:
        with torch.no_grad():
            run()
    finally:
        for module, method in undo:
            if method in vars(module):
                delattr(module, method)
    # Cloned outside inference mode: torch.export cannot trace inference tensors.
    for call in captured.values():
        call.example = [t.clone() for t in call.example]
    return captured


def export_module(module: Any, call: CapturedCall) -> Any:
    """An nn.Module whose forward takes the flat tensors of ``call`` and returns a tuple of tensors."""
    import torch

    class FlatCall(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = module

        def forward(self, *tensors):
            args, kwargs = unflatten(call.spec, tensors)
            out = getattr(self.inner, call.method)(*args, **kwargs)
            return tuple(flat_outputs(out)[0])

    return FlatCall().eval()


def rebuild_output(call: CapturedCall, outs: list[Any]) -> Any:
    values = unflatten(call.output_spec, outs) if call.output_spec is not None else outs
    if call.output_kind == "tensor":
        return values[0]
    if call.output_kind == "modeloutput":
        return call.output_type(**dict(zip(call.output_keys, values)))
    return call.output_type(values) if call.output_type is not tuple else tuple(values)


def make_standin(
    original: Any, call: CapturedCall, runner: Callable[[list[Any]], list[Any]], device: Any = None
) -> Any:
    """A module that stands in for ``original``: same config, dtype and device; runs ``runner`` instead.

    Attributes it does not have are read from the original module, which is kept (off the graph; with its
    weights released to the meta device, ``device`` gives the device the pipeline runs on).
    """
    import torch

    class StandIn(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            object.__setattr__(self, "_original", original)
            object.__setattr__(self, "_dtype", getattr(original, "dtype", torch.float32))
            where = device if device is not None else getattr(original, "device", torch.device("cpu"))
            object.__setattr__(self, "_device", torch.device(where))
            self.config = getattr(original, "config", None)
            self.calls = 0

        @property
        def dtype(self):
            return self._dtype

        @property
        def device(self):
            return self._device

        def __getattr__(self, name: str) -> Any:
            try:
                return super().__getattr__(name)
            except AttributeError:
                return getattr(object.__getattribute__(self, "_original"), name)

        def _run(self, *args, **kwargs):
            tensors: list[Any] = []
            spec = flatten((list(args), kwargs), tensors, numbers_as_tensors=call.role == "denoiser")
            diff = same_structure(call.spec, spec)
            if diff:
                raise CallMismatch(
                    f"{call.role}: the pipeline called it differently from the exported call ({diff})"
                )
            self.calls += 1
            return rebuild_output(call, runner(tensors))

        def forward(self, *args, **kwargs):
            return self._run(*args, **kwargs)

    standin = StandIn()
    if call.method != "forward":
        object.__setattr__(standin, call.method, standin._run)
    return standin


def call_signature(call: CapturedCall) -> Any:
    """What an export bakes in besides its weights and input shapes: the method, where each tensor goes, every
    constant argument (flags, scales, Nones; other objects by type, as :func:`same_structure` compares them)
    and the output's layout. Part of the cache key: a call with ``output_hidden_states=True`` is another graph.
    """

    def plain(spec: Any) -> Any:
        tag = spec[0]
        if tag in ("__T__", "__N__"):
            return list(spec)
        if tag in ("list", "tuple"):
            return [tag, [plain(s) for s in spec[1]]]
        if tag == "dict":
            return ["dict", {str(k): plain(v) for k, v in spec[1].items()}]
        value = spec[1]
        if isinstance(value, (type(None), bool, int, float, str)):
            return ["__C__", value]
        return ["__C__", {"type": f"{type(value).__module__}.{type(value).__qualname__}"}]

    out_type = call.output_type
    return {
        "method": call.method,
        "spec": plain(call.spec),
        "output": [call.output_kind, f"{out_type.__module__}.{out_type.__qualname__}" if out_type else None],
        "output_keys": list(call.output_keys),
    }


def shapes_of(tensors: list[Any]) -> list[list[int]]:
    return [list(t.shape) for t in tensors]


def dtypes_of(tensors: list[Any]) -> list[str]:
    return [str(t.dtype).replace("torch.", "") for t in tensors]


def component_roles(components: Mapping[str, Any], wanted: list[str]) -> list[str]:
    return [r for r in wanted if r in components]
