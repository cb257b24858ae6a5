"""Ours vs timm on the same GPU and the same synthetic weights (run by run.sh on the GPU machine).

Reads <work>/<model>_<profile>.safetensors (written by our TS recipe), <work>/input_<case>.npy and
our fp32 outputs <work>/ours_<model>_<profile>_<case>_fp32.npy; runs timm in fp32 with TF32 off;
writes <work>/results/timm.json. IR-v1 needs facenet-pytorch, which is compared only if importable.
"""
import json
import os
import sys
import traceback

import numpy as np
import torch


def rel_l2(a, b):
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300))


def main():
    work, fixtures = sys.argv[1], sys.argv[2]
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    import timm
    from safetensors.torch import load_file

    results = []
    for model in ("inception_v4", "inception_resnet_v2"):
        for profile in ("plain", "dcfree"):
            try:
                net = timm.create_model(model, pretrained=False, num_classes=1000)
                net.load_state_dict(load_file(os.path.join(work, f"{model}_{profile}.safetensors")), strict=True)
                net = net.eval().cuda()
                for case in ("2x299", "1x311"):
                    row = {"model": model, "profile": profile, "case": case}
                    x = torch.from_numpy(np.load(os.path.join(work, f"input_{case}.npy"))).cuda()
                    with torch.no_grad():
                        y = net(x).double().cpu().numpy()
                    ref = np.load(os.path.join(fixtures, profile, f"{model}_{case}_out_f64.npy"))
                    row["timm_vs_f64_rel_l2"] = rel_l2(y, ref)
                    ours_path = os.path.join(work, f"ours_{model}_{profile}_{case}_fp32.npy")
                    if os.path.exists(ours_path):
                        ours = np.load(ours_path)
                        row["ours_vs_timm_rel_l2"] = rel_l2(ours, y)
                        row["ours_vs_f64_rel_l2"] = rel_l2(ours, ref)
                        row["top1_equal"] = bool((ours.argmax(1) == y.argmax(1)).all())
                    else:
                        row["error"] = "our output is missing (networks stage did not produce it)"
                    print(json.dumps(row), flush=True)
                    results.append(row)
            except Exception as e:  # keep going: one model failing must not hide the others
                traceback.print_exc()
                results.append({"model": model, "profile": profile, "case": "-", "error": repr(e)[:300]})
    try:
        import facenet_pytorch  # noqa: F401
        note = "facenet-pytorch is installed but the IR-v1 comparison is not implemented here"
    except ImportError:
        note = "facenet-pytorch not installed: IR-v1 compared only against the float64 fixtures"
    out = {
        "results": results,
        "note": note,
        "torch": torch.__version__,
        "timm": timm.__version__,
        "cudnn": torch.backends.cudnn.version(),
        "device": torch.cuda.get_device_name(),
    }
    os.makedirs(os.path.join(work, "results"), exist_ok=True)
    with open(os.path.join(work, "results", "timm.json"), "w") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
