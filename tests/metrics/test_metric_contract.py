"""The metric contract, checked over every registered metric (in the style of torchmetrics' ``MetricTester``).

For each name of ``METRICS``: the class declares its name, unit, direction, kind and modalities; its ``Options``
(a ``MetricOptions``) has one field per constructor keyword with the constructor's default; bad options (an
unknown or misspelt key, ``true`` for a count, a value out of range, a value outside an enumeration) are refused
with a one-line ``UserInputError`` that names the option; ``build({})`` makes an instance without reading any
weights file, and two such instances have the same fingerprint. Fast on CPU: nothing is downloaded or loaded.
"""

from __future__ import annotations

import inspect
import re
import types
import typing
from typing import Any, Literal

import annotated_types
import pytest

from harness.core.errors import UserInputError
from harness.metrics import METRICS
from harness.metrics.base import Metric, MetricOptions

NAMES = METRICS.names()
KINDS = {"distribution", "pairwise", "per_sample"}
MODALITIES = {"image", "video", "audio"}


def _cls(name: str) -> type[Metric]:
    return METRICS.get(name)


def constructor_params(cls: type) -> dict[str, inspect.Parameter]:
    """The keyword parameters a suite may give ``cls(...)``: every parameter but ``self``, ``device`` and
    ``*args``/``**kw``, following ``**kw`` into the next constructor up the MRO (which ``super().__init__``
    calls) until one takes no ``**kw``."""
    params: dict[str, inspect.Parameter] = {}
    for klass in cls.__mro__:
        if klass is object or "__init__" not in vars(klass):
            continue
        passes_on = False
        for p in list(inspect.signature(vars(klass)["__init__"]).parameters.values())[1:]:
            if p.kind is inspect.Parameter.VAR_KEYWORD:
                passes_on = True
            elif p.kind is not inspect.Parameter.VAR_POSITIONAL and p.name != "device":
                params.setdefault(p.name, p)
        if not passes_on:
            break
    return params


def _members(annotation: Any) -> tuple[Any, ...]:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return typing.get_args(annotation)
    return (annotation,)


def _numeric(annotation: Any) -> type | None:
    """``int`` or ``float`` for a field typed ``int`` / ``int | None`` (``float`` likewise), else None."""
    kinds = {m for m in _members(annotation) if m is not type(None)}
    return kinds.pop() if kinds in ({int}, {float}) else None


def _bounds(field: Any) -> dict[str, float]:
    out: dict[str, float] = {}
    for m in field.metadata:
        for attr in ("ge", "gt", "le", "lt"):
            if isinstance(m, getattr(annotated_types, attr.capitalize())):
                out[attr] = getattr(m, attr)
    return out


def _fields(kind: str) -> list[Any]:
    """``(metric, field)`` params for every numeric (``kind="numeric"``) or Literal (``kind="literal"``) option."""
    out = []
    for name in NAMES:
        for fname, field in _cls(name).Options.model_fields.items():
            if kind == "numeric" and _numeric(field.annotation) is not None:
                out.append(pytest.param(name, fname, id=f"{name}.{fname}"))
            literals = [m for m in _members(field.annotation) if typing.get_origin(m) is Literal]
            if kind == "literal" and literals:
                out.append(pytest.param(name, fname, id=f"{name}.{fname}"))
    return out


class WeightsTouched(AssertionError):
    """Raised by the stand-ins of every weights loader: a constructor (or fingerprint) tried to load weights."""


@pytest.fixture
def no_weights(monkeypatch):
    """Every way a metric reaches a weights file fails loudly: locating pinned weights, building an extractor,
    the model cache, ``torch.load`` / ``torch.jit.load`` and safetensors (the zoo's extractors)."""
    import safetensors.torch
    import torch

    import harness.metrics.extractors as E
    import harness.metrics.loading as L
    import harness.metrics.weights as W

    def refuse(what: str):
        def _refuse(*args: Any, **kw: Any) -> Any:
            raise WeightsTouched(f"{what} called with {args!r}")

        return _refuse

    monkeypatch.setattr(W, "locate", refuse("harness.metrics.weights.locate"))
    monkeypatch.setattr(E, "build_extractor", refuse("build_extractor"))
    monkeypatch.setattr(L, "cached_model", refuse("cached_model"))
    monkeypatch.setattr(torch, "load", refuse("torch.load"))
    monkeypatch.setattr(torch.jit, "load", refuse("torch.jit.load"))
    monkeypatch.setattr(safetensors.torch, "load_file", refuse("safetensors.torch.load_file"))


# ------------------------------------------------------------------------------------------- declarations


@pytest.mark.parametrize("name", NAMES)
def test_declares_name_unit_direction_kind_and_modalities(name):
    cls = _cls(name)
    assert isinstance(cls, type) and issubclass(cls, Metric)
    assert cls.name == name
    assert isinstance(cls.unit, str)
    assert isinstance(cls.higher_is_better, bool)
    assert cls.kind in KINDS
    assert isinstance(cls.modalities, tuple) and cls.modalities
    assert set(cls.modalities) <= MODALITIES, cls.modalities
    assert isinstance(cls.accepts_device, bool) and isinstance(cls.requires_trained_weights, bool)


@pytest.mark.parametrize("name", NAMES)
def test_options_are_the_constructor_keywords_with_its_defaults(name):
    cls = _cls(name)
    assert isinstance(cls.Options, type) and issubclass(cls.Options, MetricOptions)
    fields = cls.Options.model_fields
    params = constructor_params(cls)
    assert set(params) - set(fields) == set(), "constructor keywords without an Options field"
    assert set(fields) - set(params) == set(), "Options fields the constructor does not take"
    for key, p in params.items():
        assert p.default is not inspect.Parameter.empty, f"{key}: a suite cannot omit it"
        assert not fields[key].is_required(), f"{key}: required in Options, defaulted in the constructor"
        default = fields[key].get_default(call_default_factory=True)
        assert default == p.default and type(default) is type(p.default), (key, default, p.default)
    if cls.accepts_device:
        assert "device" in inspect.signature(cls).parameters


@pytest.mark.parametrize("name", NAMES)
def test_no_options_give_the_defaults(name):
    cls = _cls(name)
    defaults = {k: f.get_default(call_default_factory=True) for k, f in cls.Options.model_fields.items()}
    assert cls.parse_options(None).model_dump() == defaults
    assert cls.parse_options({}).model_dump() == defaults
    assert cls.parse_options({}) == cls.Options()


# ------------------------------------------------------------------------------------------- bad options


@pytest.mark.parametrize("name", NAMES)
def test_unknown_and_misspelt_keys_are_refused(name):
    cls = _cls(name)
    with pytest.raises(UserInputError, match=rf"^{re.escape(name)}: bogus_option: unknown key"):
        cls.parse_options({"bogus_option": 1})
    with pytest.raises(UserInputError, match=r"expected a mapping of options, got list"):
        cls.parse_options([("batch_size", 1)])  # type: ignore[arg-type]
    fields = list(cls.Options.model_fields)
    if not fields:
        return
    first = fields[0]
    typo = first + first[-1]
    with pytest.raises(UserInputError, match=rf"{re.escape(typo)}: unknown key \(did you mean '{first}'\?"):
        cls.parse_options({typo: None})


@pytest.mark.parametrize(("name", "key"), _fields("numeric"))
def test_numbers_refuse_booleans_and_values_out_of_range(name, key):
    cls = _cls(name)
    field = cls.Options.model_fields[key]
    kind = _numeric(field.annotation)
    what = "integer" if kind is int else "number"
    with pytest.raises(
        UserInputError, match=rf"^{re.escape(name)}: {key}: Input should be a valid {what}, got True"
    ):
        cls.parse_options({key: True})
    with pytest.raises(UserInputError, match=rf"{key}: Input should be a valid {what}, got '1'"):
        cls.parse_options({key: "1"})
    bounds = _bounds(field)
    assert "ge" in bounds or "gt" in bounds, f"{key}: a count or a scale has a lower bound"
    if "ge" in bounds:
        low, words = bounds["ge"] - 1, "greater than or equal to"
        with pytest.raises(UserInputError, match=rf"{key}: Input should be {words} {bounds['ge']:g}"):
            cls.parse_options({key: kind(low)})
    if "gt" in bounds:
        with pytest.raises(UserInputError, match=rf"{key}: Input should be greater than {bounds['gt']:g}"):
            cls.parse_options({key: kind(bounds["gt"])})
    if "le" in bounds:
        with pytest.raises(
            UserInputError, match=rf"{key}: Input should be less than or equal to {bounds['le']:g}"
        ):
            cls.parse_options({key: kind(bounds["le"] + 1)})


@pytest.mark.parametrize(("name", "key"), _fields("literal"))
def test_enumerations_refuse_other_values(name, key):
    cls = _cls(name)
    with pytest.raises(
        UserInputError, match=rf"^{re.escape(name)}: {key}: 'no-such-mode' is not allowed \(allowed: "
    ):
        cls.parse_options({key: "no-such-mode"})


def test_ranges_the_constructors_and_the_maths_impose():
    """Spot checks of the validators that are not plain bounds (and of one plain bound per family)."""
    ms_ssim, fd_digits, lpips = _cls("ms_ssim"), _cls("fd_digits"), _cls("lpips")
    with pytest.raises(UserInputError, match=r"ms_ssim: kernel_size: must be odd, got 4"):
        ms_ssim.parse_options({"kernel_size": 4})
    with pytest.raises(UserInputError, match=r"ms_ssim: scales: Input should be less than or equal to 5"):
        ms_ssim.parse_options({"scales": 6})
    assert ms_ssim.parse_options({"scales": 3, "kernel_size": 7}).model_dump() == {
        "scales": 3,
        "kernel_size": 7,
    }
    with pytest.raises(UserInputError, match=r"fd_digits: bootstrap: must be 0 \(no interval\) or >= 2"):
        fd_digits.parse_options({"bootstrap": 1})
    with pytest.raises(UserInputError, match=r"fd_digits: ci: bootstrap needs bootstrap >= 2 replicates"):
        fd_digits.parse_options({"ci": "bootstrap", "bootstrap": 0})
    assert fd_digits.parse_options({"ci": "bootstrap"}).bootstrap == 200
    with pytest.raises(
        UserInputError, match=r"lpips: net: 'resnet' is not allowed \(allowed: 'alex', 'vgg' or 'squeeze'\)"
    ):
        lpips.parse_options({"net": "resnet"})
    with pytest.raises(UserInputError, match=r"kid: subset_size: Input should be greater than or equal to 2"):
        _cls("kid").parse_options({"subset_size": 1})
    with pytest.raises(UserInputError, match=r"fad: resize: Input should be None"):
        _cls("fad").parse_options({"resize": "stretch"})
    fvd = _cls("fvd")
    with pytest.raises(UserInputError, match=r"fvd: extractor_options: Input should be a valid dictionary"):
        fvd.parse_options({"extractor_options": ["num_frames", 8]})
    opts = fvd.parse_options(
        {"resize": "center_crop", "extractor_options": {"num_frames": 8}, "num_frames": 8}
    )
    assert opts.extractor_options == {"num_frames": 8} and opts.resize == "center_crop"
    with pytest.raises(UserInputError, match=r"fid: weights_dir: Input should be a valid string, got 3"):
        _cls("fid").parse_options({"weights_dir": 3})


# ------------------------------------------------------------------------------------------- instances


@pytest.mark.parametrize("name", NAMES)
def test_build_makes_an_instance_without_loading_weights(name, no_weights):
    cls = _cls(name)
    metric = cls.build({})
    assert type(metric) is cls
    if cls.accepts_device:
        assert cls.build(None, device="cpu").device == "cpu"
    with pytest.raises(UserInputError, match=rf"^{re.escape(name)}: bogus_option: unknown key"):
        cls.build({"bogus_option": 1})


@pytest.mark.parametrize("name", NAMES)
def test_fingerprint_is_stable_over_fresh_instances(name, no_weights):
    cls = _cls(name)
    a, b = cls.build({}), cls.build({})
    try:
        fa = a.fingerprint()
    except WeightsTouched as exc:
        pytest.skip(f"{name}'s fingerprint needs its weights file ({exc})")
    assert isinstance(fa, str) and fa
    assert fa == b.fingerprint()


def test_a_nan_value_is_recorded_invalid_never_as_a_score():
    """#23 item 7: a metric whose computation came out NaN reported it as an ``ok`` value; the base class records
    it ``invalid`` with the reason and no value (infinity stays a value: identical images have PSNR +inf)."""
    from harness.metrics.base import MetricResult

    class Probe(Metric):
        name = "nan_probe"
        higher_is_better = False
        kind = "per_sample"

        def __init__(self, result: float) -> None:
            self.result = result

        def update(self, samples, reference=None) -> None:
            pass

        def compute(self) -> MetricResult:
            return self.value(self.result, n=3)

    v = Probe(float("nan")).compute()
    assert (v.status, v.value, v.n) == ("invalid", None, 3)
    assert v.reason == "the value came out NaN: a numerical failure, not a score"
    assert v.number is None and v.fingerprint
    assert Probe(float("inf")).compute().status == "ok"
    assert Probe(0.0).invalid("too few samples", n=1).status == "invalid"
