"""A training checkpoint's model as an ONNX file, checked against PyTorch with onnxruntime.

The graph takes ``images``, a float32 ``(N, 3, S, S)`` batch of RGB crops normalised as in
training (pixels / 255, minus ``mean``, over ``std``), and returns ``logits``, ``(N, C)``.
Everything a consumer needs to prepare those inputs and name the outputs travels in the
model's ``metadata_props`` (onnxruntime: ``session.get_modelmeta().custom_metadata_map``),
named as timm's ``pretrained_cfg`` names them, JSON-encoded where not a plain string:

- ``classes``: the wnids, in output order (a JSON list);
- ``mean``, ``std``: channel statistics on the 0-1 scale (JSON lists);
- ``input_size``: ``[3, S, S]``; ``crop_pct`` and ``interpolation``: the evaluation resize
  (short side to ``round(S / crop_pct)``, antialiased) before the centre crop;
- ``architecture``, ``weights`` (``ema`` or ``model``), ``dataset_version`` (when known) and
  ``synsetlab_version``.

The exporter is torch's TorchScript one (``dynamo=False``): the dynamo exporter would need
the ``onnxscript`` package, and the TorchScript one exports timm's and torchvision's CNNs
exactly.
"""

from __future__ import annotations

import io
import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch import nn

import synsetlab
from synsetlab.atomic import atomic_file
from synsetlab.errors import UserError
from synsetlab.train.weights import LoadedModel, load_model

#: Opsets the TorchScript exporter writes (torch.onnx._constants: ONNX_MIN_OPSET to
#: ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET); ``None`` picks its default, 20 in torch 2.14.
MIN_OPSET, MAX_OPSET = 9, 20
INPUT_NAME, OUTPUT_NAME = "images", "logits"
#: Random inputs of the check: this many single images, then one batch of this many.
CHECK_INPUTS = 3


class OnnxExportError(UserError, ValueError):
    """A model cannot be exported, or its ONNX outputs differ from PyTorch's."""


@dataclass(frozen=True)
class OnnxReport:
    """What :func:`export_onnx` wrote."""

    path: Path
    size_bytes: int
    opset: int
    #: Largest absolute difference between onnxruntime's and PyTorch's logits over the check
    #: inputs (``None`` when not checked).
    max_abs_diff: float | None
    architecture: str
    num_classes: int
    #: ``S`` of the ``(N, 3, S, S)`` input.
    input_size: int


def export_onnx(
    checkpoint: Path | str,
    out: Path | str,
    *,
    opset: int | None = None,
    dynamic_batch: bool = True,
    check: bool = True,
    atol: float = 1e-4,
) -> OnnxReport:
    """Export the model of a training checkpoint (its EMA weights when kept) to ``out``.

    The input is ``(N, 3, S, S)`` float32 with ``S`` the checkpoint's evaluation size; ``N``
    is dynamic unless ``dynamic_batch=False`` (then 1). With ``check``, onnxruntime (CPU)
    runs the exported graph on random inputs (single images, and a batch when ``N`` is
    dynamic) and its logits must be within ``atol`` of PyTorch's, else
    :class:`OnnxExportError`. ``out`` is written atomically, and only once the export is
    checked: a failure leaves an existing file as it was.
    """
    out = Path(out).expanduser()
    if opset is not None and not MIN_OPSET <= opset <= MAX_OPSET:
        raise OnnxExportError(f"opset {opset} is not supported: give {MIN_OPSET} to {MAX_OPSET}")
    if out.is_dir():
        raise OnnxExportError(f"{out} is a folder: give the path of the .onnx file to write")
    if out.exists() and out.resolve() == Path(checkpoint).expanduser().resolve():
        raise OnnxExportError(f"{out} is the checkpoint itself: write the ONNX file elsewhere")
    if out.suffix.lower() != ".onnx":  # e.g. `export-model best.pt last.pt` would replace a run
        raise OnnxExportError(f"{out}: name the ONNX file *.onnx (e.g. {out.with_suffix('.onnx')})")
    loaded = load_model(checkpoint, device="cpu")
    size = loaded.config.data.eval_size
    proto = _export(loaded.model, size, opset=opset, dynamic_batch=dynamic_batch,
                    name=loaded.config.model)  # fmt: skip
    onnx.helper.set_model_props(proto, model_metadata(loaded))
    proto.doc_string = (
        f"{loaded.config.model} from synsetlab: {INPUT_NAME} (N, 3, {size}, {size}) float32 "
        f"RGB, (pixels / 255 - mean) / std -> {OUTPUT_NAME} (N, {len(loaded.classes)}); "
        "classes and preprocessing in metadata_props"
    )
    data = proto.SerializeToString()
    max_diff = None
    if check:
        max_diff = compare_with_onnxruntime(loaded.model, data, size, dynamic_batch=dynamic_batch)
        if not max_diff < atol:
            raise OnnxExportError(
                f"onnxruntime's logits differ from PyTorch's by up to {max_diff:.3g} "
                f"(tolerance {atol:g}): {out} not written; try another --opset"
            )
    with atomic_file(out) as f:
        f.write(data)
    return OnnxReport(
        path=out,
        size_bytes=len(data),
        opset=_default_opset(proto),
        max_abs_diff=max_diff,
        architecture=loaded.config.model,
        num_classes=len(loaded.classes),
        input_size=size,
    )


def model_metadata(loaded: LoadedModel) -> dict[str, str]:
    """The ``metadata_props`` of an export (see the module docstring)."""
    data = loaded.config.data
    meta = {
        "classes": json.dumps(list(loaded.classes)),
        "mean": json.dumps(list(data.mean)),
        "std": json.dumps(list(data.std)),
        "input_size": json.dumps([3, data.eval_size, data.eval_size]),
        "crop_pct": json.dumps(data.crop_pct),
        "interpolation": "bilinear",  # torchvision's Resize, as create_transform evaluates
        "architecture": loaded.config.model,
        "weights": loaded.weights,
        "synsetlab_version": synsetlab.__version__,
    }
    if loaded.version_id is not None:
        meta["dataset_version"] = loaded.version_id
    return meta


def _export(
    model: nn.Module, size: int, *, opset: int | None, dynamic_batch: bool, name: str
) -> onnx.ModelProto:
    axes = {INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}} if dynamic_batch else None
    buf = io.BytesIO()
    try:
        # torch warns that the TorchScript exporter is deprecated for the dynamo one, which
        # needs onnxscript; the TorchScript one is the one that needs nothing more.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(
                model,
                (torch.zeros(1, 3, size, size),),
                buf,
                dynamo=False,
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_axes=axes,
                opset_version=opset,
                do_constant_folding=True,
            )
        proto = onnx.load_from_string(buf.getvalue())
        onnx.checker.check_model(proto)
    except (RuntimeError, onnx.checker.ValidationError) as e:
        raise OnnxExportError(f"{name} cannot be exported to ONNX: {e}") from e
    return proto


def compare_with_onnxruntime(
    model: nn.Module, onnx_model: bytes, size: int, *, dynamic_batch: bool = True, seed: int = 0
) -> float:
    """Largest absolute difference between the logits of ``model`` (on the CPU, eval mode)
    and of the serialised ONNX model under onnxruntime's CPU provider, over random
    ``(1, 3, size, size)`` inputs and, with ``dynamic_batch``, one ``(3, 3, size, size)``."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()  # share the cores as torch does
    try:
        session = ort.InferenceSession(onnx_model, options, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime's errors (Fail, InvalidGraph, ...) share no base
        raise OnnxExportError(f"onnxruntime cannot load the exported model: {e}") from e
    generator = torch.Generator().manual_seed(seed)
    batches = [torch.randn(1, 3, size, size, generator=generator) for _ in range(CHECK_INPUTS)]
    if dynamic_batch:
        batches.append(torch.randn(CHECK_INPUTS, 3, size, size, generator=generator))
    worst = 0.0
    for x in batches:
        with torch.no_grad():
            expected = model(x).numpy()
        (got,) = session.run([OUTPUT_NAME], {INPUT_NAME: x.numpy()})
        if got.shape != expected.shape:
            raise OnnxExportError(f"onnxruntime returned {got.shape}, PyTorch {expected.shape}")
        worst = max(worst, float(np.abs(got - expected).max()))
    return worst


def _default_opset(proto: onnx.ModelProto) -> int:
    return next(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))


__all__ = ["OnnxExportError", "OnnxReport", "compare_with_onnxruntime", "export_onnx"]
