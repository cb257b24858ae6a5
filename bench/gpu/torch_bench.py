"""PyTorch reference for the GPU benchmark (stage torch_bench of bench/gpu/run.sh, on the GPU machine).

    python3 torch_bench.py WORK [--budget-s 150] [--timed-s 0.5] [--latency-iters 100]

Rows (the same order as bench/gpu/stage-bench.ts, so a cut-short run keeps the goal rows):
inception_v4 and inception_resnet_v2 (timm, 299x299) fp16 then fp32, then inception_resnet_v1
(facenet_pytorch, 160x160; timm has none: the rows say why when facenet_pytorch does not import);
batches 256, 1, 8, 64 within each model/precision. Settings: eval, channels_last weights and input,
cudnn.benchmark on, TF32 off for fp32 (convolutions and matmuls), input already on the device.

Per row, two modes:
- eager: model(x) under torch.no_grad();
- graphs: torch.cuda.CUDAGraph over model(static_x), captured after 3 warm-up calls on a side
  stream; each iteration is one g.replay() (the input stays in static_x).
Per mode: images/s from CUDA events around N queued iterations (N sized from one synchronised
iteration so the timed part lasts about --timed-s); at batch 1 also p50/p99 latency of
--latency-iters or more iterations each timed on its own (perf_counter, synchronize after each);
memory: torch.cuda.max_memory_allocated / max_memory_reserved (peaks reset at the start of the
mode, after empty_cache; they include the weights) and deviceUsedBytes = cudaMemGetInfo free
bytes before the model was created minus free bytes at the end of the mode (what the process
took from the device: allocator segments, cuDNN/cuBLAS handles and workspaces, graph pools).

Also the dense matmul peak: best TFLOP/s of torch.matmul on n x n x n (fp16, and fp32 with TF32
off), CUDA events, best of several trials.

Writes <WORK>/results/torch_bench.json after every row (a timeout keeps what was measured).
"""
import argparse
import gc
import json
import math
import os
import sys
import time
import traceback

import torch

GROUPS = [
    ("inception_v4", 299, "fp16"),
    ("inception_resnet_v2", 299, "fp16"),
    ("inception_v4", 299, "fp32"),
    ("inception_resnet_v2", 299, "fp32"),
    ("inception_resnet_v1", 160, "fp16"),
    ("inception_resnet_v1", 160, "fp32"),
]
BATCHES = [256, 1, 8, 64]
MAX_QUEUED_ITERS = 2000
MIN_QUEUED_ITERS = 3


def sync():
    torch.cuda.synchronize()


def one_iteration_s(fn):
    sync()
    t0 = time.perf_counter()
    fn()
    sync()
    return time.perf_counter() - t0


def throughput(fn, batch, timed_s):
    """images/s over N queued iterations between two CUDA events (N from one synchronised iteration)."""
    estimate = max(one_iteration_s(fn), 1e-5)
    iters = int(min(MAX_QUEUED_ITERS, max(MIN_QUEUED_ITERS, math.ceil(timed_s / estimate))))
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    sync()
    start.record()
    for _ in range(iters):
        fn()
    end.record()
    sync()
    seconds = start.elapsed_time(end) / 1000.0
    return {"imagesPerSecond": iters * batch / seconds, "msPerBatch": 1000.0 * seconds / iters, "iterations": iters}


def nearest_rank(sorted_values, p):
    rank = max(1, min(len(sorted_values), math.ceil(p / 100.0 * len(sorted_values))))
    return sorted_values[rank - 1]


def latency(fn, timed_s, min_iters):
    """Per-iteration latency (each iteration synchronised), nearest-rank p50/p99 in ms."""
    estimate = max(one_iteration_s(fn), 1e-5)
    iters = int(min(MAX_QUEUED_ITERS, max(min_iters, math.ceil(timed_s / estimate))))
    samples = []
    for _ in range(iters):
        sync()
        t0 = time.perf_counter()
        fn()
        sync()
        samples.append((time.perf_counter() - t0) * 1000.0)
    samples.sort()
    return {"latencyIterations": iters, "p50Ms": nearest_rank(samples, 50), "p99Ms": nearest_rank(samples, 99),
            "minMs": samples[0], "meanMs": sum(samples) / len(samples)}


def free_bytes():
    return torch.cuda.mem_get_info()[0]


def reset_memory():
    gc.collect()
    torch.cuda.empty_cache()
    sync()
    torch.cuda.reset_peak_memory_stats()


def memory(free_before_model):
    sync()
    return {"maxAllocatedBytes": torch.cuda.max_memory_allocated(), "maxReservedBytes": torch.cuda.max_memory_reserved(),
            "deviceUsedBytes": free_before_model - free_bytes()}


def measure(fn, batch, args):
    out = {}
    if batch == 1:
        out.update(latency(fn, args.timed_s, args.latency_iters))
    out.update(throughput(fn, batch, args.timed_s))
    return out


def run_eager(net, x, batch, args, free0):
    reset_memory()
    with torch.no_grad():
        for _ in range(2):  # the first call runs cudnn.benchmark's algorithm search for this shape
            net(x)
        row = measure(lambda: net(x), batch, args)
    row.update(memory(free0))
    return row


def run_graphs(net, x, batch, args, free0):
    reset_memory()
    static_x = x.clone(memory_format=torch.channels_last)
    graph = torch.cuda.CUDAGraph()
    with torch.no_grad():
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(3):
                net(static_x)
        torch.cuda.current_stream().wait_stream(side)
        with torch.cuda.graph(graph):
            static_y = net(static_x)
        graph.replay()
        row = measure(graph.replay, batch, args)
    row.update(memory(free0))
    row["outputShape"] = list(static_y.shape)
    del graph, static_y, static_x
    return row


def make_model(name):
    """The network in eval mode on the CPU, or (None, why) when no PyTorch reference exists here."""
    if name == "inception_resnet_v1":
        try:
            from facenet_pytorch import InceptionResnetV1
        except Exception as e:  # noqa: BLE001 - any import failure means "no reference here"
            return None, f"no PyTorch reference: timm has no inception_resnet_v1 and facenet_pytorch does not import ({type(e).__name__}: {str(e)[:160]})"
        return InceptionResnetV1(pretrained=None, classify=False).eval(), None
    import timm
    return timm.create_model(name, pretrained=False, num_classes=1000).eval(), None


def matmul_peak(dtype, n, reps, trials):
    a = torch.randn(n, n, device="cuda", dtype=dtype)
    b = torch.randn(n, n, device="cuda", dtype=dtype)
    c = torch.empty(n, n, device="cuda", dtype=dtype)
    for _ in range(3):
        torch.matmul(a, b, out=c)
    best = 0.0
    best_ms = float("inf")
    for _ in range(trials):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        sync()
        start.record()
        for _ in range(reps):
            torch.matmul(a, b, out=c)
        end.record()
        sync()
        ms = start.elapsed_time(end) / reps
        best_ms = min(best_ms, ms)
        best = max(best, 2.0 * n * n * n / (ms / 1000.0) / 1e12)
    del a, b, c
    return {"n": n, "tflops": best, "bestMs": best_ms, "repsPerTrial": reps, "trials": trials}


def warm_cudnn():
    """One small convolution per precision, so cuDNN's handle and first kernels (one-time process
    costs) do not land in the first row's deviceUsedBytes (stage-bench.ts does the same for ours)."""
    for dtype in (torch.float16, torch.float32):
        x = torch.randn(2, 3, 64, 64, device="cuda", dtype=dtype).contiguous(memory_format=torch.channels_last)
        w = torch.randn(32, 3, 3, 3, device="cuda", dtype=dtype).contiguous(memory_format=torch.channels_last)
        with torch.no_grad():
            torch.nn.functional.conv2d(x, w, padding=1)
    sync()


class Output:
    def __init__(self, work, budget_s):
        self.path = os.path.join(work, "results", "torch_bench.json")
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        self.started = time.perf_counter()
        self.data = {"results": [], "matmulPeak": {}, "budgetS": budget_s, "device": torch.cuda.get_device_name(),
                     "torch": torch.__version__, "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version(),
                     "settings": "eval, channels_last, cudnn.benchmark on, TF32 off for fp32, no_grad, input on the device"}
        try:
            import timm
            self.data["timm"] = timm.__version__
        except Exception as e:  # noqa: BLE001
            self.data["timm"] = f"not importable: {e}"

    def elapsed(self):
        return time.perf_counter() - self.started

    def save(self):
        self.data["elapsedS"] = self.elapsed()
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.data, f, indent=1)
        os.replace(tmp, self.path)


def log(out, message):
    print(f"[{out.elapsed():6.1f}s] {message}", flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("work")
    parser.add_argument("--budget-s", type=float, default=150.0, help="start no new row after this many seconds")
    parser.add_argument("--timed-s", type=float, default=0.5, help="timed seconds per mode and row")
    parser.add_argument("--latency-iters", type=int, default=100, help="minimum per-iteration samples at batch 1")
    parser.add_argument("--matmul-n", type=int, default=8192)
    args = parser.parse_args()

    torch.backends.cudnn.benchmark = True
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    out = Output(args.work, args.budget_s)
    torch.cuda.init()

    for key, dtype, reps, trials in (("fp16", torch.float16, 20, 5), ("fp32", torch.float32, 5, 3)):
        try:
            out.data["matmulPeak"][key] = matmul_peak(dtype, args.matmul_n, reps, trials)
        except Exception as e:  # noqa: BLE001
            traceback.print_exc()
            out.data["matmulPeak"][key] = {"error": repr(e)[:300]}
        log(out, f"matmul peak {key}: {json.dumps(out.data['matmulPeak'][key])}")
        reset_memory()
        out.save()

    try:
        warm_cudnn()
    except Exception:  # noqa: BLE001 - the rows will report what fails
        traceback.print_exc()
    reset_memory()

    wanted = [p for p in os.environ.get("INCEPTION_PERF_PRECISIONS", "").split(",") if p]
    for model_name, size, precision in GROUPS:
        if wanted and precision not in wanted:
            continue  # INCEPTION_PERF_PRECISIONS: a short device slot measures these precisions only
        dtype = torch.float16 if precision == "fp16" else torch.float32
        base = {"engine": "pytorch", "model": model_name, "size": size, "precision": precision}
        if out.elapsed() > args.budget_s:
            for batch in BATCHES:
                out.data["results"].append({**base, "batch": batch, "skipped": f"time budget ({args.budget_s:g} s) spent"})
            out.save()
            continue
        net = None
        try:
            reset_memory()
            free0 = free_bytes()
            cpu_net, why = make_model(model_name)
            if cpu_net is None:
                for batch in BATCHES:
                    out.data["results"].append({**base, "batch": batch, "skipped": why})
                log(out, f"{model_name} {precision}: skipped: {why}")
                out.save()
                continue
            net = cpu_net.to(device="cuda", dtype=dtype, memory_format=torch.channels_last)
            del cpu_net
        except Exception as e:  # noqa: BLE001
            traceback.print_exc()
            for batch in BATCHES:
                out.data["results"].append({**base, "batch": batch, "error": f"model: {repr(e)[:300]}"})
            out.save()
            continue
        for batch in BATCHES:
            row = {**base, "batch": batch}
            if out.elapsed() > args.budget_s:
                row["skipped"] = f"time budget ({args.budget_s:g} s) spent"
            else:
                x = torch.randn(batch, 3, size, size, device="cuda", dtype=dtype).contiguous(memory_format=torch.channels_last)
                for mode, fn in (("eager", run_eager), ("graphs", run_graphs)):
                    try:
                        row[mode] = fn(net, x, batch, args, free0)
                    except Exception as e:  # noqa: BLE001
                        traceback.print_exc()
                        row[mode] = {"error": repr(e)[:300]}
                    reset_memory()
                del x
            log(out, json.dumps(row))
            out.data["results"].append(row)
            out.save()
        del net
        reset_memory()
    out.save()
    log(out, f"done in {out.elapsed():.1f} s")


if __name__ == "__main__":
    sys.exit(main())
