"""Every network exports to ONNX (opset 17, dynamic batch) and ONNX Runtime agrees within 1e-4."""
import io

import numpy as np
import pytest
import torch

from hand3d_ros.models import PosePriorOutput, build_network

onnxruntime = pytest.importorskip("onnxruntime")

# (network, config, input size override, forward argument names, output names)
CASES = [
    ("handsegnet", "lite", (48, 64), ["image"], ["logits"]),
    ("handsegnet", "paper", (32, 40), ["image"], ["logits"]),
    ("posenet", "paper", (32, 32), ["crop"], ["maps_stage0", "maps_stage1", "maps_stage2"]),
    ("posenet", "lite", (64, 64), ["crop"], ["maps_stage0", "maps_stage1", "maps_stage2"]),
    ("poseprior", "paper", None, ["maps", "hand_side"], list(PosePriorOutput._fields)),
    ("poseprior", "lite", None, ["maps", "hand_side"], list(PosePriorOutput._fields)),
    ("gesturenet", "lite", None, ["w_rel"], ["logits"]),
]
TOLERANCE = 1e-4


def _inputs(model, batch, generator):
    cfg = model.config
    size = tuple(cfg["input_size"])
    if cfg["network"] in ("handsegnet", "posenet"):
        return (torch.rand((batch, 3) + size, generator=generator) - 0.5,)
    if cfg["network"] == "poseprior":
        side = torch.nn.functional.one_hot(torch.arange(batch) % 2, 2).float()
        return (torch.rand((batch, 21) + size, generator=generator), side)
    return (torch.randn((batch,) + size, generator=generator),)


@pytest.mark.filterwarnings("ignore")  # the legacy exporter's deprecation and tracer notes
@pytest.mark.parametrize("network,config,size,input_names,output_names", CASES,
                         ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_onnx_export_matches_torch(network, config, size, input_names, output_names):
    generator = torch.Generator().manual_seed(0)
    model = build_network(network, config, input_size=size).eval()
    example = _inputs(model, 1, generator)
    buffer = io.BytesIO()
    torch.onnx.export(model, example, buffer, opset_version=17, dynamo=False,
                      input_names=input_names, output_names=output_names,
                      dynamic_axes={name: {0: "batch"} for name in input_names + output_names})
    session = onnxruntime.InferenceSession(buffer.getvalue(), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == input_names
    assert [o.name for o in session.get_outputs()] == output_names

    batch = _inputs(model, 3, generator)  # another batch size than exported
    results = session.run(None, {name: x.numpy() for name, x in zip(input_names, batch)})
    with torch.no_grad():
        expected = model(*batch)
    expected = tuple(expected) if isinstance(expected, tuple) else (expected,)
    assert len(results) == len(expected)
    for name, got, want in zip(output_names, results, expected):
        assert got.shape == tuple(want.shape), name
        np.testing.assert_allclose(got, want.numpy(), atol=TOLERANCE, rtol=0, err_msg=name)
