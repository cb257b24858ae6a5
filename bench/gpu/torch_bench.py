"""PyTorch eager baseline for the GPU benchmark (run by run.sh on the GPU machine).

timm inception_v4 / inception_resnet_v2, 299x299, batch 1 and 64, fp32 (TF32 off) and fp16,
channels_last, cudnn.benchmark on, input already on the device; timed with CUDA events.
Writes <work>/results/torch_bench.json.
"""
import json
import os
import sys
import time
import traceback

import torch


def bench(net, x, min_seconds=1.5, min_iters=10):
    with torch.inference_mode():
        for _ in range(10):
            net(x)
        torch.cuda.synchronize()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        iters = 0
        t0 = time.perf_counter()
        start.record()
        while iters < min_iters or time.perf_counter() - t0 < min_seconds:
            net(x)
            iters += 1
        end.record()
        torch.cuda.synchronize()
        return iters, start.elapsed_time(end) / 1000.0


def main():
    work = sys.argv[1]
    import timm

    torch.backends.cudnn.benchmark = True
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    results = []
    for model in ("inception_v4", "inception_resnet_v2"):
        for precision in ("fp32", "fp16"):
            for batch in (1, 64):
                row = {"engine": "pytorch", "model": model, "precision": precision, "batch": batch}
                try:
                    dtype = torch.float16 if precision == "fp16" else torch.float32
                    net = timm.create_model(model, pretrained=False, num_classes=1000).eval().cuda()
                    net = net.to(dtype=dtype, memory_format=torch.channels_last)
                    x = torch.randn(batch, 3, 299, 299, device="cuda", dtype=dtype).to(memory_format=torch.channels_last)
                    iters, seconds = bench(net, x)
                    row.update(imagesPerSecond=iters * batch / seconds, msPerBatch=1000.0 * seconds / iters, iterations=iters)
                    del net, x
                    torch.cuda.empty_cache()
                except Exception as e:
                    traceback.print_exc()
                    row["error"] = repr(e)[:300]
                print(json.dumps(row), flush=True)
                results.append(row)
    os.makedirs(os.path.join(work, "results"), exist_ok=True)
    with open(os.path.join(work, "results", "torch_bench.json"), "w") as f:
        json.dump({"results": results, "torch": torch.__version__, "timm": timm.__version__,
                   "cudnn": torch.backends.cudnn.version(), "device": torch.cuda.get_device_name()}, f, indent=1)


if __name__ == "__main__":
    main()
