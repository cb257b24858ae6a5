"""torch.compile (inductor, default mode) as a third PyTorch column (stage torch_compile of run.sh).

    python3 torch_compile.py WORK [--budget-s S] [--min-s 150] [--timed-s 0.5] [--rows inception_v4:fp16:256] [--cpu-dry-run]

One process, after the torch_bench stage, so its compile workers and caches touch nothing else.
Per row (default: inception_v4, fp16, batch 256; timm, eval, channels_last, cudnn.benchmark on,
TF32 off, input on the device): torch.compile(model) in the default mode; the first call
compiles, and its wall time (synchronised) is the compile time reported. Then two warm-up calls
and images/s from CUDA events over queued calls (torch_bench.py's throughput), and the device
memory the same way as torch_bench's rows (deviceUsedBytes, max allocated / reserved).

Gated by the time left: a row starts only while at least --min-s seconds of --budget-s remain
(run.sh passes the stage's own timeout), since a compile cut off by the stage timeout measures
nothing; the row then says why it was skipped. The result file is written before the compile
starts, so a compile killed by the timeout still leaves a row saying so.

Writes <WORK>/results/torch_compile.json.
"""
import argparse
import os
import sys
import time
import traceback

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_bench as tb  # noqa: E402


def parse_rows(text):
    rows = []
    for item in text.split(","):
        model, precision, batch = item.split(":")
        if model not in tb.NETWORK_SIZES or precision not in ("fp16", "fp32"):
            raise SystemExit(f"--rows: '{item}' is not MODEL:fp16|fp32:BATCH with MODEL one of {sorted(tb.NETWORK_SIZES)}")
        rows.append((model, tb.NETWORK_SIZES[model], precision, int(batch)))
    return rows


def compile_row(dev, models, out, args, model_name, size, precision, batch):
    row = {"engine": "pytorch-compile", "mode": "inductor, default", "model": model_name, "size": size, "precision": precision, "batch": batch}
    left = args.budget_s - out.elapsed()
    if left < args.min_s:
        row["skipped"] = f"time budget: {left:.0f} s left of {args.budget_s:g} s, a compile needs at least {args.min_s:g} s here"
        return row
    prepared = tb.prepare_row(dev, models, row)
    if prepared is None:
        return row
    cpu_net, dtype, batch = prepared
    net = compiled = x = None
    try:
        dev.reset_memory()
        free0 = dev.free_bytes()
        net, x = tb.on_device(dev, cpu_net, dtype, batch, size)
        if not hasattr(torch, "compile"):
            raise RuntimeError(f"torch {torch.__version__} has no torch.compile (PyTorch 2.0 or later)")
        compiled = torch.compile(net)
        row["status"] = "compiling"
        out.data["results"].append(row)
        out.save()
        with torch.no_grad():
            t0 = time.perf_counter()
            compiled(x)
            dev.sync()
            row["compileS"] = time.perf_counter() - t0
            tb.log(out, f"{model_name} {precision} batch {batch}: compiled in {row['compileS']:.1f} s")
            for _ in range(2):
                compiled(x)
            row["compiled"] = tb.measure(dev, lambda: compiled(x), batch, args)
        row["compiled"].update(dev.memory(free0))
        row["status"] = "done"
    except Exception as e:  # noqa: BLE001
        traceback.print_exc()
        row["error"] = repr(e)[:400]
        row["status"] = "failed"
    del net, compiled, x
    dev.reset_memory()
    return row


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("work")
    parser.add_argument("--budget-s", type=float, default=200.0, help="this stage's time limit in seconds")
    parser.add_argument("--min-s", type=float, default=float(os.environ.get("INCEPTION_COMPILE_MIN_S", "150")),
                        help="start a row only while this many seconds are left (env INCEPTION_COMPILE_MIN_S)")
    parser.add_argument("--timed-s", type=float, default=0.5)
    parser.add_argument("--latency-iters", type=int, default=100)
    parser.add_argument("--rows", default="inception_v4:fp16:256", help="MODEL:PRECISION:BATCH, comma-separated")
    parser.add_argument("--cpu-dry-run", action="store_true", help="check the harness on the CPU (batch <= 2, fp32)")
    args = parser.parse_args()
    rows = parse_rows(args.rows)

    tb.set_precision_flags()
    dev = tb.CpuDryRun() if args.cpu_dry_run else tb.CudaDevice()
    out = tb.Output(args.work, args.budget_s, dev, name="torch_compile")
    out.data["minS"] = args.min_s
    models = tb.CpuModels()
    for model_name, size, precision, batch in rows:
        row = compile_row(dev, models, out, args, model_name, size, precision, batch)
        if row not in out.data["results"]:
            out.data["results"].append(row)
        tb.log(out, str(row))
        out.save()
    out.save()
    tb.log(out, f"done in {out.elapsed():.1f} s")


if __name__ == "__main__":
    sys.exit(main())
