"""Subcommands for quality-metric assets: ``weights``, ``refstats``, ``fid``.

``register(sub)`` adds them to the ``harness`` parser (``harness.cli.build_parser``). Thin, like the
rest of the CLI; torch is imported only by the commands that run a network (``refstats build``, ``fid`` on
image folders): ``weights list|path|verify`` and ``fid a.npz b.npz`` never import it.
"""

from __future__ import annotations

import argparse
import json
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.cli.core import EXIT_FAILED, EXIT_OK, Parser, err, output_file, say
from harness.core.errors import HarnessError, UserInputError

if TYPE_CHECKING:
    import numpy as np

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
DEFAULT_EXTRACTOR = "inception-v3-fid"
CMMD_EXTRACTOR = "clip-vit-l-14-336"
# The FID Inception's resize modes (harness.metrics.inception.FID_RESIZES, not imported: the CLI starts
# without numpy; a test checks that the two agree).
FID_RESIZES = ("clean", "legacy_pytorch", "legacy_tensorflow")
RENAMED_RESIZES = {"bilinear": "legacy_pytorch"}

# ------------------------------------------------------------------------------------------- images


def list_images(folder: str | os.PathLike[str]) -> list[Path]:
    """The PNG / JPEG files of a folder (not recursive), sorted; bad input when there are none."""
    p = Path(folder)
    if not p.exists():
        raise UserInputError("no such folder", source=str(p))
    if not p.is_dir():
        raise UserInputError("not a folder of images", source=str(p))
    files = sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise UserInputError(
            f"no images in the folder (looked for {', '.join(IMAGE_SUFFIXES)} files)", source=str(p)
        )
    return files


def check_images(files: list[Path], *, one_size: bool = True) -> list[Path]:
    """``files`` when every one reads as an image (its header, and for PNG every chunk's checksum: no pixel
    is decoded) and, with ``one_size``, has the first one's size; else bad input naming the file. Run before
    any network or weights file is looked for, so the user's file is what an error names."""
    from PIL import Image

    size: tuple[int, int] | None = None
    for f in files:
        try:
            with Image.open(f) as im:
                im.verify()
                this = im.size
        except Exception as exc:  # PIL raises several kinds (OSError, SyntaxError, ...) on a bad file
            raise UserInputError(f"cannot read the image ({exc})", source=str(f)) from None
        size = size or this
        if one_size and this != size:
            raise UserInputError(
                f"image is {this[0]}x{this[1]} px but {files[0].name} is {size[0]}x{size[1]} "
                "(all images of a folder must have one size; resize them first)",
                source=str(f),
            )
    return files


def iter_image_batches(
    files: list[Path], batch_size: int, *, square: int | None = None
) -> Iterator[np.ndarray]:
    """(B, H, W, 3) float32 RGB in [0, 1]; every image must have the size of the first, unless ``square`` is
    given: then each image is centre-cropped and PIL-bicubic resized to square × square as it is read (how
    google-research's CMMD reads its folders)."""
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    from harness.metrics.clip_features import center_crop_resize

    size: tuple[int, int] | None = None
    batch: list[np.ndarray] = []
    for f in files:
        try:
            with Image.open(f) as im:
                rgb = im.convert("RGB")
        except (UnidentifiedImageError, OSError) as exc:
            raise UserInputError(f"cannot read the image ({exc})", source=str(f)) from None
        if square:
            pixels = center_crop_resize(np.asarray(rgb), square)
        else:
            size = size or rgb.size
            if rgb.size != size:
                raise UserInputError(
                    f"image is {rgb.size[0]}x{rgb.size[1]} px but {files[0].name} is {size[0]}x{size[1]} "
                    "(all images of a folder must have one size; resize them first)",
                    source=str(f),
                )
            pixels = np.asarray(rgb)
        batch.append(pixels.astype(np.float32) / 255.0)
        if len(batch) == batch_size:
            yield np.stack(batch)
            batch = []
    if batch:
        yield np.stack(batch)


def folder_stats(folder: str, extractor: Any, *, keep_features: bool = False, log: Any = None) -> Any:
    """Streaming statistics of an image folder's features."""
    from harness.metrics.feature_stats import StreamingStats

    files = list_images(folder)
    stats = StreamingStats(keep_features=keep_features)
    for batch in iter_image_batches(files, extractor.batch_size):
        stats.update(extractor.features(batch))
        if log:
            log(f"{folder}: {stats.n}/{len(files)} images")
    return stats


def _build(name: str, args: argparse.Namespace, resize: str | None) -> Any:
    from harness.measure.env import resolve_device
    from harness.metrics.extractors import build_extractor, extractor_spec

    extractor_spec(name)  # unknown names are bad input before torch starts
    opts = {"resize": resize} if resize else {}
    try:
        return build_extractor(
            name,
            device=resolve_device(args.device),
            weights_dir=args.weights_dir,
            batch_size=args.batch_size,
            **opts,
        )
    except (TypeError, ValueError) as exc:
        raise UserInputError(f"--extractor {name}: {exc}") from None


# ------------------------------------------------------------------------------------------- weights


def _size(n: int | None) -> str:
    if n is None:
        return "size ?"
    return f"{n:,} B" if n < 1_000_000 else f"{n / 1e6:.1f} MB"


def cmd_weights_list(args: argparse.Namespace) -> int:
    from harness.metrics import weights as W

    for s in W.WEIGHTS.values():
        hit = W.find(s.name, args.weights_dir)
        say(f"{s.name}: {'found in ' + hit.where if hit else 'missing'}")
        say(f"  {s.summary}")
        src = f"{s.repo_id}@{s.revision or 'main (revision not pinned)'}" if s.host == "hf" else s.url
        say(f"  source: {src}")
        say(f"  license: {s.license}")
        for wf in s.files:
            opt = "" if wf.required else " (optional)"
            pin = (
                f"sha256 {wf.sha256}"
                if wf.sha256
                else f"sha256 prefix {wf.sha256_prefix} (full hash not pinned)"
                if wf.sha256_prefix
                else "sha256 not pinned (no published hash found; accepted unverified)"
            )
            say(f"  - {wf.filename}{opt}: {_size(wf.size)}, {pin}")
    say(
        f"search order: --weights-dir, ${W.ENV_DIR}, torch hub cache ({W.torch_hub_dir()}), Hugging Face cache"
    )
    return EXIT_OK


def cmd_weights_path(args: argparse.Namespace) -> int:
    from harness.metrics import weights as W

    hit = W.locate(args.name, args.weights_dir, verify=not args.no_verify)
    say(str(hit.path))
    return EXIT_OK


def cmd_weights_verify(args: argparse.Namespace) -> int:
    from harness.metrics import weights as W

    names = [args.name] if args.name else list(W.WEIGHTS)
    if args.name:
        W.spec(args.name)
    bad = unverified = 0
    for name in names:
        try:
            hit = W.locate(name, args.weights_dir)
        except HarnessError as exc:
            if args.name:
                raise
            bad += 1
            say(f"FAIL {name}: {exc}")
            continue
        n = len(hit.sha256)
        loose = hit.unverified
        if loose:
            # not a verified success: nothing to compare the hash with (said, with the hash to pin by hand)
            unverified += 1
            got = ", ".join(f"{f} sha256 {hit.sha256[f]}" for f in loose)
            say(f"UNVERIFIED {name}: {hit.path} (no pinned sha256 for {', '.join(loose)}; found {got})")
            continue
        say(f"ok   {name}: {hit.path} ({n} file{'s' if n > 1 else ''}, sha256 verified)")
    return EXIT_FAILED if bad or unverified else EXIT_OK


def cmd_weights_fetch(args: argparse.Namespace) -> int:
    from harness.metrics import weights as W

    paths = W.fetch(args.names or None, args.to, timeout=args.timeout, log=err)
    for p in paths:
        say(str(p))
    say(f"done: set {W.ENV_DIR}={Path(args.to).expanduser().resolve()} where these files are copied")
    return EXIT_OK


# ------------------------------------------------------------------------------------------- refstats


def cmd_refstats_build(args: argparse.Namespace) -> int:
    from harness.metrics.refstats import stats_meta

    out = output_file(args.output, "-o")
    if out is None or out.suffix.lower() != ".npz":
        raise UserInputError("-o: the statistics file must end in .npz", source=str(args.output))
    if args.purpose == "cmmd" and args.keep_features:
        raise UserInputError(
            "--keep-features is for --for fid: a cmmd reference holds every embedding already"
        )
    # bad folders and unreadable images fail before the network (and its weights) is looked for
    check_images(list_images(args.images), one_size=args.purpose != "cmmd")
    default = CMMD_EXTRACTOR if args.purpose == "cmmd" else DEFAULT_EXTRACTOR
    ext = _build(args.extractor or default, args, args.resize)
    if args.purpose == "cmmd":
        return _write_cmmd_reference(args, ext, out)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stats = folder_stats(args.images, ext, keep_features=args.keep_features)
    if stats.n < 2:
        raise UserInputError(f"only {stats.n} image: statistics need at least 2", source=args.images)
    stats.to_npz(
        out, include_features=args.keep_features, **stats_meta(ext, source=str(Path(args.images).resolve()))
    )
    err(f"{args.images}: {stats.n} images, {ext.name} (d={stats.dim}), fingerprint {ext.fingerprint()}")
    say(str(out))
    return EXIT_OK


def _write_cmmd_reference(args: argparse.Namespace, ext: Any, out: Path) -> int:
    """Every embedding of the folder, images read as CMMD reads them (centre crop, resize to the network's)."""
    import numpy as np

    from harness.metrics.cmmd import write_reference
    from harness.metrics.refstats import stats_meta

    files = list_images(args.images)
    batches = iter_image_batches(files, ext.batch_size, square=getattr(ext, "size", None))
    emb = np.concatenate([ext.features(b) for b in batches])
    write_reference(out, emb, **stats_meta(ext, source=str(Path(args.images).resolve()), purpose="cmmd"))
    err(f"{args.images}: {len(emb)} images, {ext.name} (d={emb.shape[1]}), fingerprint {ext.fingerprint()}")
    say(str(out))
    return EXIT_OK


# ------------------------------------------------------------------------------------------- fid


def _stored_protocol(meta: dict[str, Any]) -> dict[str, Any]:
    try:
        return json.loads(meta.get("protocol") or "{}")
    except (TypeError, ValueError):
        return {}


def cmd_fid(args: argparse.Namespace) -> int:
    from harness.metrics.frechet import FrechetWarning
    from harness.metrics.refstats import read_stats

    sides: list[dict[str, Any]] = []
    for label, path in (("PATH_A", args.path_a), ("PATH_B", args.path_b)):
        p = Path(path)
        if p.is_dir():
            sides.append({"path": path, "kind": "images"})
        elif p.suffix.lower() == ".npz" or p.is_file():
            stats = read_stats(p, what=label)
            sides.append(
                {"path": path, "kind": "npz", "stats": stats, "fingerprint": stats.meta.get("fingerprint")}
            )
        elif not p.exists():
            raise UserInputError(
                "no such file or folder (expected a folder of images or a .npz)", source=path, field=label
            )
    stored = [s for s in sides if s["kind"] == "npz"]
    name, resize = args.extractor, args.resize
    if any(s["kind"] == "images" for s in sides):
        if name is None:  # compare like with like: the protocol an .npz side was made with
            for s in stored:
                if s["stats"].meta.get("extractor"):
                    name = str(s["stats"].meta["extractor"])
                    resize = resize or _stored_protocol(s["stats"].meta).get("resize")
                    break
        for s in sides:  # bad folders and unreadable images fail before the network is built
            if s["kind"] == "images":
                check_images(list_images(s["path"]))
        ext = _build(name or DEFAULT_EXTRACTOR, args, resize)
        for s in sides:
            if s["kind"] == "images":
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    s["stats"] = folder_stats(s["path"], ext)
                s["fingerprint"] = ext.fingerprint()
                s["extractor"] = ext.name
    fps = [s["fingerprint"] for s in sides]
    for s in sides:
        if not s["fingerprint"]:
            err(
                f"warning: {s['path']} has no fingerprint (a pytorch-fid / clean-fid file?): assuming it was made "
                "with the same feature protocol"
            )
    if all(fps) and fps[0] != fps[1]:
        if not args.allow_mismatch:
            raise UserInputError(
                f"the two sides were made with different feature protocols (fingerprints {fps[0]} and {fps[1]}; "
                "another extractor, weights or resize): rebuild one, or pass --allow-mismatch"
            )
        err(f"warning: fingerprints differ ({fps[0]} vs {fps[1]}); compared anyway (--allow-mismatch)")
    a, b = sides[0]["stats"], sides[1]["stats"]
    if a.dim != b.dim:
        raise UserInputError(
            f"feature dimensions differ: {a.dim} ({args.path_a}) and {b.dim} ({args.path_b})"
        )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", FrechetWarning)
        value = a.frechet_distance(b, labels=(args.path_a, args.path_b))
    for msg in sorted({str(w.message) for w in caught}):
        err(f"warning: {msg}")
    if args.json:
        say(
            json.dumps(
                {
                    "fid": value,
                    "method": "Fréchet distance, float64 (harness.metrics.frechet)",
                    "sides": [
                        {
                            "path": s["path"],
                            "kind": s["kind"],
                            "n": s["stats"].n,
                            "dim": s["stats"].dim,
                            "fingerprint": s["fingerprint"],
                            "extractor": s.get("extractor") or s["stats"].meta.get("extractor"),
                        }
                        for s in sides
                    ],
                    "warnings": sorted({str(w.message) for w in caught}),
                },
                indent=2,
                default=str,
            )
        )
    else:
        say(repr(float(value)))
    return EXIT_OK


# ------------------------------------------------------------------------------------------- parsers


def _common_net_flags(p: argparse.ArgumentParser, *, batch_default: int | None) -> None:
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto", help="where the network runs")
    p.add_argument(
        "--weights-dir",
        default=None,
        metavar="DIR",
        help="folder of weights files, searched before $HARNESS_WEIGHTS_DIR and the caches",
    )
    p.add_argument(
        "--batch-size", type=int, default=batch_default, metavar="N", help="images per forward pass"
    )
    p.add_argument(
        "--resize",
        type=_resize_arg,
        choices=FID_RESIZES,
        default=None,
        help="inception-v3-fid only: legacy_pytorch (pytorch-fid, default), clean (clean-fid) or "
        "legacy_tensorflow (TTUR)",
    )


def _resize_arg(value: str) -> str:
    if value in RENAMED_RESIZES:
        raise argparse.ArgumentTypeError(
            f"{value!r} is now called {RENAMED_RESIZES[value]!r} (the same resize)"
        )
    return value


def register(sub: Any) -> None:
    """Register ``weights``, ``refstats`` and ``fid`` on the ``harness`` subparsers action."""
    w = sub.add_parser("weights", help="pinned weights of the quality metrics: list, path, verify, fetch")
    ws = w.add_subparsers(dest="weights_command", required=True, parser_class=Parser, metavar="ACTION")
    wl = ws.add_parser("list", help="every pinned file: source, sha256, size, license, where found here")
    wl.add_argument("--weights-dir", default=None, metavar="DIR")
    wl.set_defaults(fn=cmd_weights_list)
    wp = ws.add_parser("path", help="print where NAME is found here (verified)")
    wp.add_argument("name", metavar="NAME")
    wp.add_argument("--weights-dir", default=None, metavar="DIR")
    wp.add_argument("--no-verify", action="store_true", help="skip the sha256 check")
    wp.set_defaults(fn=cmd_weights_path)
    wv = ws.add_parser(
        "verify", help="check NAME (or every entry) against its pinned sha256; exit 1 on a problem"
    )
    wv.add_argument("name", nargs="?", metavar="NAME")
    wv.add_argument("--weights-dir", default=None, metavar="DIR")
    wv.set_defaults(fn=cmd_weights_verify)
    wf = ws.add_parser(
        "fetch", help="download NAME... (default: all) into DIR and verify (connected machines)"
    )
    wf.add_argument("names", nargs="*", metavar="NAME")
    wf.add_argument(
        "--to", required=True, metavar="DIR", help="folder to fill; then set HARNESS_WEIGHTS_DIR=DIR"
    )
    wf.add_argument(
        "--timeout", type=float, default=20.0, metavar="S", help="seconds per connection (default 20)"
    )
    wf.set_defaults(fn=cmd_weights_fetch)

    r = sub.add_parser(
        "refstats",
        help="reference statistics (.npz with mu, sigma) for FID-family metrics, or CMMD embeddings",
    )
    rs = r.add_subparsers(dest="refstats_command", required=True, parser_class=Parser, metavar="ACTION")
    rb = rs.add_parser("build", help="statistics (or CMMD embeddings) of a folder of PNG/JPEG images")
    rb.add_argument(
        "--images",
        required=True,
        metavar="DIR",
        help="folder of PNG/JPEG images (one size, except --for cmmd)",
    )
    rb.add_argument(
        "--for",
        dest="purpose",
        choices=["fid", "cmmd"],
        default="fid",
        help="fid (default): mu and sigma for fid / fd_* / kid; cmmd: every embedding, images centre-cropped "
        "and resized as google-research's CMMD reads them",
    )
    rb.add_argument(
        "--extractor",
        default=None,
        metavar="NAME",
        help=f"feature extractor (default {DEFAULT_EXTRACTOR}; with --for cmmd {CMMD_EXTRACTOR})",
    )
    rb.add_argument("-o", "--output", required=True, metavar="FILE.npz")
    rb.add_argument("--keep-features", action="store_true", help="also store the features (needed by kid)")
    _common_net_flags(rb, batch_default=None)
    rb.set_defaults(fn=cmd_refstats_build)

    f = sub.add_parser("fid", help="Fréchet distance between two image folders or .npz statistics files")
    f.add_argument("path_a", metavar="PATH_A", help="folder of images or .npz statistics")
    f.add_argument("path_b", metavar="PATH_B", help="folder of images or .npz statistics")
    f.add_argument(
        "--extractor",
        default=None,
        metavar="NAME",
        help=f"for image folders (default: the .npz side's, else {DEFAULT_EXTRACTOR})",
    )
    f.add_argument("--json", action="store_true", help="print the value and details as JSON")
    f.add_argument(
        "--allow-mismatch", action="store_true", help="compare statistics with different fingerprints"
    )
    _common_net_flags(f, batch_default=None)
    f.set_defaults(fn=cmd_fid)
