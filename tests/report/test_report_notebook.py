"""notebooks/pareto_explorer.ipynb runs top to bottom on the demo run, so it never rots."""

from __future__ import annotations

import pytest

from tests.helpers import ROOT

NOTEBOOK = ROOT / "notebooks" / "pareto_explorer.ipynb"


@pytest.mark.slow
def test_notebook_executes(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat", reason="needs the dev extra (nbformat, nbclient, ipykernel)")
    nbclient = pytest.importorskip("nbclient", reason="needs the dev extra (nbformat, nbclient, ipykernel)")
    pytest.importorskip("ipykernel", reason="needs the dev extra (nbformat, nbclient, ipykernel)")

    monkeypatch.delenv("HARNESS_RUNS", raising=False)
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # the demo run the notebook fabricates lands here
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), (
        "commit the notebook without outputs"
    )
    # "python3" is ipykernel's own spec: this interpreter, so the kernel imports the harness under test.
    nbclient.NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()

    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if o.output_type == "display_data" and "image/png" in o.get("data", {})]
    assert len(images) == 3  # one figure per pair of the demo's three objectives
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "knee: tiny-sd / steps-4 / eager / fp32" in text
    assert "tied with the front: tiny-sd / steps-3-ddim / eager / fp32" in text
    assert "infeasible: tiny-sd / steps-1 / eager / fp32 (psnr 14 < 18)" in text
    assert list(tmp_path.glob("harness-demo-*/demo-run/run.json"))
