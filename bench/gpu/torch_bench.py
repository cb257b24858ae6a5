"""PyTorch reference for the GPU benchmark (stage torch_bench of bench/gpu/run.sh, on the GPU machine).

    python3 torch_bench.py WORK [--budget-s 150] [--timed-s 0.5] [--latency-iters 100] [--ours BENCH_JSON] [--cpu-dry-run]

Rows: PERF_ROWS below, the same list and order as bench/gpu/perf-rows.ts (goal rows first:
fp16 batch 256, then batch 1 of every network, then fp32 batch 256 and 1, then batches 8 and 64
and Inception-ResNet-v1's batch 256), so a cut-short run keeps the goal rows. inception_v4 and
inception_resnet_v2 are timm's (299x299); inception_resnet_v1 (160x160) is facenet_pytorch's
when it imports, else our own PyTorch definition of the same network (torch_ir_v1.py; timm has
none). Each row builds its model on the device from a CPU copy made once per network, so only
that row's model is on the device while it is measured. Settings: eval, channels_last weights
and input, cudnn.benchmark on, TF32 off for fp32 (convolutions and matmuls), input already on
the device.

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
off), CUDA events, best of several trials; and the memory-bandwidth roof: a device-to-device copy
of --copy-mib MiB, bytes read plus bytes written over the best trial's time.

--ours BENCH_JSON: rows our bench stage skipped (its time budget) are skipped here too, so the
PyTorch time goes to rows with a ratio to make.

--cpu-dry-run (no GPU needed): the same loop on the CPU at batch <= 2, fp32 arithmetic for every
row (labels kept), host timers, no CUDA graphs and no memory figures; checks the harness only.

Writes <WORK>/results/torch_bench.json after every row (a timeout keeps what was measured).
"""
import argparse
import copy
import gc
import json
import math
import os
import sys
import time
import traceback

import torch

# (model, input size, precision, batch), goal rows first: the same list as PERF_ROWS in perf-rows.ts.
NETWORK_SIZES = {"inception_v4": 299, "inception_resnet_v2": 299, "inception_resnet_v1": 160}
PERF_ROWS = [(m, NETWORK_SIZES[m], p, b) for (m, p, b) in [
    ("inception_v4", "fp16", 256), ("inception_resnet_v2", "fp16", 256),
    ("inception_v4", "fp16", 1), ("inception_resnet_v2", "fp16", 1), ("inception_resnet_v1", "fp16", 1),
    ("inception_v4", "fp32", 256), ("inception_resnet_v2", "fp32", 256),
    ("inception_v4", "fp32", 1), ("inception_resnet_v2", "fp32", 1), ("inception_resnet_v1", "fp32", 1),
    ("inception_v4", "fp16", 8), ("inception_v4", "fp16", 64), ("inception_resnet_v2", "fp16", 8), ("inception_resnet_v2", "fp16", 64),
    ("inception_resnet_v1", "fp16", 256), ("inception_resnet_v1", "fp16", 8), ("inception_resnet_v1", "fp16", 64),
    ("inception_v4", "fp32", 8), ("inception_v4", "fp32", 64), ("inception_resnet_v2", "fp32", 8), ("inception_resnet_v2", "fp32", 64),
    ("inception_resnet_v1", "fp32", 256), ("inception_resnet_v1", "fp32", 8), ("inception_resnet_v1", "fp32", 64),
]]
MAX_QUEUED_ITERS = 2000
MIN_QUEUED_ITERS = 3
DRY_RUN_MAX_BATCH = 2


class CudaDevice:
    """Timing, memory and graphs on the GPU (the real benchmark)."""
    name = "cuda"
    graphs = True

    def sync(self):
        torch.cuda.synchronize()

    def timed_seconds(self, fn, iters):
        """Seconds for `iters` queued calls of fn between two CUDA events."""
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        self.sync()
        start.record()
        for _ in range(iters):
            fn()
        end.record()
        self.sync()
        return start.elapsed_time(end) / 1000.0

    def free_bytes(self):
        return torch.cuda.mem_get_info()[0]

    def reset_memory(self):
        gc.collect()
        torch.cuda.empty_cache()
        self.sync()
        torch.cuda.reset_peak_memory_stats()

    def memory(self, free_before_model):
        self.sync()
        return {"maxAllocatedBytes": torch.cuda.max_memory_allocated(), "maxReservedBytes": torch.cuda.max_memory_reserved(),
                "deviceUsedBytes": free_before_model - self.free_bytes()}

    def describe(self):
        return torch.cuda.get_device_name()


class CpuDryRun:
    """--cpu-dry-run: the harness on the CPU, to check it without a GPU (no number from it means anything)."""
    name = "cpu"
    graphs = False

    def sync(self):
        pass

    def timed_seconds(self, fn, iters):
        t0 = time.perf_counter()
        for _ in range(iters):
            fn()
        return time.perf_counter() - t0

    def free_bytes(self):
        return 0

    def reset_memory(self):
        gc.collect()

    def memory(self, free_before_model):
        return {}

    def describe(self):
        return "CPU dry run (no GPU numbers)"


def one_iteration_s(dev, fn):
    dev.sync()
    t0 = time.perf_counter()
    fn()
    dev.sync()
    return time.perf_counter() - t0


def throughput(dev, fn, batch, timed_s):
    """images/s over N queued iterations (N from one synchronised iteration)."""
    estimate = max(one_iteration_s(dev, fn), 1e-5)
    iters = int(min(MAX_QUEUED_ITERS, max(MIN_QUEUED_ITERS, math.ceil(timed_s / estimate))))
    seconds = dev.timed_seconds(fn, iters)
    return {"imagesPerSecond": iters * batch / seconds, "msPerBatch": 1000.0 * seconds / iters, "iterations": iters}


def nearest_rank(sorted_values, p):
    rank = max(1, min(len(sorted_values), math.ceil(p / 100.0 * len(sorted_values))))
    return sorted_values[rank - 1]


def latency(dev, fn, timed_s, min_iters):
    """Per-iteration latency (each iteration synchronised), nearest-rank p50/p99 in ms."""
    estimate = max(one_iteration_s(dev, fn), 1e-5)
    iters = int(min(MAX_QUEUED_ITERS, max(min_iters, math.ceil(timed_s / estimate))))
    samples = []
    for _ in range(iters):
        dev.sync()
        t0 = time.perf_counter()
        fn()
        dev.sync()
        samples.append((time.perf_counter() - t0) * 1000.0)
    samples.sort()
    return {"latencyIterations": iters, "p50Ms": nearest_rank(samples, 50), "p99Ms": nearest_rank(samples, 99),
            "minMs": samples[0], "meanMs": sum(samples) / len(samples)}


def measure(dev, fn, batch, args):
    out = {}
    if batch == 1:
        out.update(latency(dev, fn, args.timed_s, args.latency_iters))
    out.update(throughput(dev, fn, batch, args.timed_s))
    return out


def run_eager(dev, net, x, batch, args, free0):
    dev.reset_memory()
    with torch.no_grad():
        for _ in range(2):  # the first call runs cudnn.benchmark's algorithm search for this shape
            net(x)
        row = measure(dev, lambda: net(x), batch, args)
    row.update(dev.memory(free0))
    return row


def run_graphs(dev, net, x, batch, args, free0):
    if not dev.graphs:
        return {"error": "CUDA graphs need a GPU (--cpu-dry-run)"}
    dev.reset_memory()
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
        row = measure(dev, graph.replay, batch, args)
    row.update(dev.memory(free0))
    row["outputShape"] = list(static_y.shape)
    del graph, static_y, static_x
    return row


def make_model(name):
    """(the network in eval mode on the CPU, where it comes from), or raises when it cannot be built here."""
    if name == "inception_resnet_v1":
        try:
            from facenet_pytorch import InceptionResnetV1
            return InceptionResnetV1(pretrained=None, classify=False).eval(), "facenet_pytorch"
        except Exception:  # noqa: BLE001 - any import failure: use our own definition of the same network
            sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
            from torch_ir_v1 import InceptionResnetV1 as OwnIrV1
            return OwnIrV1().eval(), "torch_ir_v1.py (facenet_pytorch not importable; same layers and parameter count)"
    import timm
    return timm.create_model(name, pretrained=False, num_classes=1000).eval(), f"timm {timm.__version__}"


class CpuModels:
    """One CPU copy of each network, made on first use; each row moves a deep copy to the device."""

    def __init__(self):
        self.models = {}

    def get(self, name):
        if name not in self.models:
            try:
                self.models[name] = make_model(name)
            except Exception as e:  # noqa: BLE001
                traceback.print_exc()
                self.models[name] = (None, f"model: {repr(e)[:300]}")
        return self.models[name]


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
        torch.cuda.synchronize()
        start.record()
        for _ in range(reps):
            torch.matmul(a, b, out=c)
        end.record()
        torch.cuda.synchronize()
        ms = start.elapsed_time(end) / reps
        best_ms = min(best_ms, ms)
        best = max(best, 2.0 * n * n * n / (ms / 1000.0) / 1e12)
    del a, b, c
    return {"n": n, "tflops": best, "bestMs": best_ms, "repsPerTrial": reps, "trials": trials}


def copy_roof(mib, reps, trials):
    """Device-to-device copy bandwidth: (bytes read + bytes written) / time, best trial, random data."""
    count = mib * (1 << 20) // 4
    src = torch.rand(count, device="cuda", dtype=torch.float32)
    dst = torch.empty_like(src)
    for _ in range(2):
        dst.copy_(src)
    best_ms = float("inf")
    for _ in range(trials):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        torch.cuda.synchronize()
        start.record()
        for _ in range(reps):
            dst.copy_(src)
        end.record()
        torch.cuda.synchronize()
        best_ms = min(best_ms, start.elapsed_time(end) / reps)
    if not torch.equal(dst, src):
        raise RuntimeError("the copy's destination differs from its source")
    moved = 2 * count * 4
    del src, dst
    return {"bytesPerCopy": moved, "bestMs": best_ms, "gbPerS": moved / (best_ms / 1000.0) / 1e9, "repsPerTrial": reps, "trials": trials}


def warm_cudnn():
    """One small convolution per precision, so cuDNN's handle and first kernels (one-time process
    costs) do not land in the first row's deviceUsedBytes (stage-bench.ts does the same for ours)."""
    for dtype in (torch.float16, torch.float32):
        x = torch.randn(2, 3, 64, 64, device="cuda", dtype=dtype).contiguous(memory_format=torch.channels_last)
        w = torch.randn(32, 3, 3, 3, device="cuda", dtype=dtype).contiguous(memory_format=torch.channels_last)
        with torch.no_grad():
            torch.nn.functional.conv2d(x, w, padding=1)
    torch.cuda.synchronize()


class Output:
    def __init__(self, work, budget_s, dev, name="torch_bench"):
        self.path = os.path.join(work, "results", name + ".json")
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        self.started = time.perf_counter()
        self.data = {"results": [], "matmulPeak": {}, "budgetS": budget_s, "device": dev.describe(),
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


def set_precision_flags():
    torch.backends.cudnn.benchmark = True
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")


def measure_roofs(out, args):
    for key, dtype, reps, trials in (("fp16", torch.float16, 20, 5), ("fp32", torch.float32, 5, 3)):
        try:
            out.data["matmulPeak"][key] = matmul_peak(dtype, args.matmul_n, reps, trials)
        except Exception as e:  # noqa: BLE001
            traceback.print_exc()
            out.data["matmulPeak"][key] = {"error": repr(e)[:300]}
        log(out, f"matmul peak {key}: {json.dumps(out.data['matmulPeak'][key])}")
        torch.cuda.empty_cache()
        out.save()
    try:
        out.data["copyRoof"] = copy_roof(args.copy_mib, 10, 5)
    except Exception as e:  # noqa: BLE001
        traceback.print_exc()
        out.data["copyRoof"] = {"error": repr(e)[:300]}
    log(out, f"device-to-device copy: {json.dumps(out.data['copyRoof'])}")
    torch.cuda.empty_cache()
    out.save()


def prepare_row(dev, models, row):
    """The CPU copy of row's network, its dtype and the batch to run (capped in a CPU dry run, noted
    as dryRunBatch); None, with row["error"] set, when the network is not available."""
    cpu_net, source = models.get(row["model"])
    if cpu_net is None:
        row["error"] = source
        return None
    row["source"] = source
    dtype = torch.float16 if row["precision"] == "fp16" and dev.name == "cuda" else torch.float32
    batch = row["batch"]
    run_batch = batch if dev.name == "cuda" else min(batch, DRY_RUN_MAX_BATCH)
    if run_batch != batch:
        row["dryRunBatch"] = run_batch
    return cpu_net, dtype, run_batch


def on_device(dev, cpu_net, dtype, batch, size):
    """A channels-last copy of the network on the device and a random channels-last input batch."""
    net = copy.deepcopy(cpu_net).to(device=dev.name, dtype=dtype, memory_format=torch.channels_last)
    x = torch.randn(batch, 3, size, size, device=dev.name, dtype=dtype).contiguous(memory_format=torch.channels_last)
    return net, x


def run_row(dev, models, out, args, model_name, size, precision, batch):
    row = {"engine": "pytorch", "model": model_name, "size": size, "precision": precision, "batch": batch}
    if out.elapsed() > args.budget_s:
        row["skipped"] = f"time budget ({args.budget_s:g} s) spent"
        return row
    prepared = prepare_row(dev, models, row)
    if prepared is None:
        return row
    cpu_net, dtype, run_batch = prepared
    net = x = None
    try:
        dev.reset_memory()
        free0 = dev.free_bytes()
        net, x = on_device(dev, cpu_net, dtype, run_batch, size)
        for mode, fn in (("eager", run_eager), ("graphs", run_graphs)):
            try:
                row[mode] = fn(dev, net, x, run_batch, args, free0)
            except Exception as e:  # noqa: BLE001
                traceback.print_exc()
                row[mode] = {"error": repr(e)[:300]}
            dev.reset_memory()
    except Exception as e:  # noqa: BLE001
        traceback.print_exc()
        row["error"] = f"model on {dev.name}: {repr(e)[:300]}"
    del net, x
    dev.reset_memory()
    return row


def rows_ours_skipped(path):
    """{(model, precision, batch): why} for the rows our bench stage did not measure (its time budget
    ran out), read from its bench.json; {} when the file is absent or unreadable."""
    try:
        with open(path) as f:
            ours = json.load(f).get("results", [])
    except (OSError, ValueError):
        return {}
    return {(r["model"], r["precision"], r["batch"]): r["skipped"] for r in ours if r.get("skipped")}


def selected_rows(env_value):
    wanted = [p for p in (env_value or "").split(",") if p]
    for p in wanted:
        if p not in ("fp16", "fp32"):
            raise SystemExit(f"INCEPTION_PERF_PRECISIONS lists '{p}'; expected fp16 and/or fp32, comma-separated")
    return [r for r in PERF_ROWS if not wanted or r[2] in wanted]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("work")
    parser.add_argument("--budget-s", type=float, default=150.0, help="start no new row after this many seconds")
    parser.add_argument("--timed-s", type=float, default=0.5, help="timed seconds per mode and row")
    parser.add_argument("--latency-iters", type=int, default=100, help="minimum per-iteration samples at batch 1")
    parser.add_argument("--matmul-n", type=int, default=8192)
    parser.add_argument("--copy-mib", type=int, default=1024, help="MiB per device-to-device copy (the bandwidth roof)")
    parser.add_argument("--cpu-dry-run", action="store_true", help="check the harness on the CPU (batch <= 2, fp32 arithmetic, no graphs)")
    parser.add_argument("--ours", default="", help="our bench stage's bench.json: skip the rows it skipped (no ratio to make)")
    args = parser.parse_args()
    ours_skipped = rows_ours_skipped(args.ours) if args.ours else {}

    set_precision_flags()
    dev = CpuDryRun() if args.cpu_dry_run else CudaDevice()
    out = Output(args.work, args.budget_s, dev)
    if dev.name == "cuda":
        torch.cuda.init()
        measure_roofs(out, args)
        try:
            warm_cudnn()
        except Exception:  # noqa: BLE001 - the rows will report what fails
            traceback.print_exc()
    dev.reset_memory()

    models = CpuModels()
    for model_name, size, precision, batch in selected_rows(os.environ.get("INCEPTION_PERF_PRECISIONS")):
        why = ours_skipped.get((model_name, precision, batch))
        if why is not None:
            row = {"engine": "pytorch", "model": model_name, "size": size, "precision": precision, "batch": batch,
                   "skipped": f"ours did not measure this row ({why})"}
        else:
            row = run_row(dev, models, out, args, model_name, size, precision, batch)
        log(out, json.dumps(row))
        out.data["results"].append(row)
        out.save()
    out.save()
    log(out, f"done in {out.elapsed():.1f} s")


if __name__ == "__main__":
    sys.exit(main())
