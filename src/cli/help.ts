/** Usage text of every command. */

const SESSION_HELP = `  -m, --model NAME        inception_v4 | inception_resnet_v2 | inception_resnet_v1
  -w, --weights W         pretrained (the model's released checkpoint, downloaded once into the
                          cache and verified; see 'inception-cudnn weights list'), a tag such as
                          inception_resnet_v2.tf_ens_adv_in1k, an https:// URL, a .safetensors or
                          PyTorch .pt/.pth file, or 'synthetic' ('synthetic:dcfree',
                          'synthetic:plain'): fixture weights, outputs are meaningless
      --weights-sha256 H  with --weights URL: the sha256 the download must have
  -d, --device D          cpu (default) | cuda | cuda:N
      --precision P       fp32 (default) | tf32 | fp16 (cuda only) | bf16 (cpu only, on CPUs
                          with AVX512-BF16 or AMX: bf16 weights and activations, fp32 sums)
      --max-batch N       largest batch per run (default 8); bigger inputs are split
      --threads N         cpu threads (default: this process's CPUs, capped by its cgroup CPU quota)
      --convolution A     cpu: auto (default: Winograd for 3x3 stride-1 convs where oneDNN
                          has a kernel; on AVX-512 F(4,7) for 1x7/7x1 and a weight stream
                          for convs on maps of at most 12 output pixels; direct elsewhere)
                          | direct (oneDNN direct everywhere)
      --streams N         cuda: run each block's branches on up to N streams (1..4; default 4 up to --max-batch 16, else 1)
      --no-benchmark      take the library's first choice instead of timing candidates (cuda:
                          cuDNN's heuristic algorithms; cpu: oneDNN's first Winograd kernel)
      --deterministic     every choice by that fixed rule, never timed: bitwise the same
                          outputs in every process on this machine (implies --no-benchmark)
  -v, --verbose           print stacks on errors
  -h, --help              this help`;

export const HELP: Readonly<Record<string, string>> = {
  main: `inception-cudnn: Inception-v4, Inception-ResNet-v2 and Inception-ResNet-v1 inference

usage: inception-cudnn <command> [options]

commands:
  predict   classify images (JSON lines: file and top-k classes)
  embed     face embeddings of images (inception_resnet_v1)
  run       run a preprocessed NCHW float32 .npy batch, write the raw outputs as .npy
  info      package, library and backend versions, devices
  plan      the memory planner's report (arena vs naive vs lower bound) for a model
  export-onnx  write a model and its weights as an ONNX file (checkpoint graph or folded)
  bench     CPU benchmark: ours vs onnxruntime-node (images/s, p50/p90), JSON/Markdown/SVG
  profile   per-layer CPU profile: ms, MACs, GFLOP/s, oneDNN implementation, measured peak
  serve     HTTP inference server (Open Inference Protocol v2, dynamic batching, /metrics)
  weights   known checkpoints and the download cache: list, pull, verify, path, rm, convert

run 'inception-cudnn <command> --help' for the options of a command.
exit codes: 0 ok, 1 error at run time (predict/embed: after the other files' lines),
2 bad command line (an unknown option or command, a wrong or missing value).
`,
  weights: `usage: inception-cudnn weights list [--json]
       inception-cudnn weights pull TAG|URL|pretrained [--model NAME] [--weights-sha256 HEX]
       inception-cudnn weights verify [TAG|URL ...]
       inception-cudnn weights path TAG|URL|pretrained [--model NAME]
       inception-cudnn weights rm TAG|URL ... | --all
       inception-cudnn weights convert IN.pt OUT.safetensors [--model NAME]

list     the known checkpoints (* = what --weights pretrained means), their size, how each is
         verified (pinned sha256, the hub's X-Linked-Etag, or recorded on first download) and
         whether it is cached; also files downloaded by URL
pull     download into the cache (resumes an interrupted download; one process downloads, the
         others wait) and print the file's path; --weights-sha256 HEX: the hash it must have
verify   hash cached files against their records and pinned hashes (default: all cached);
         exit 1 if any is missing or bad
path     print the cached file's path (exit 1 if not cached)
rm       delete cached files, their records and partial downloads
convert  write a PyTorch state_dict (.pt/.pth, read without running any code) as .safetensors;
         with --model, check it loads for that model first

Environment: INCEPTION_CACHE_DIR (default $XDG_CACHE_HOME/inception-cudnn or
~/.cache/inception-cudnn), INCEPTION_OFFLINE=1 or HF_HUB_OFFLINE=1 (cache only),
HF_ENDPOINT (hub mirror), INCEPTION_WEIGHTS_MIRROR (replaces scheme and host of every known
URL), HTTPS_PROXY / NO_PROXY, INCEPTION_WEIGHTS_TABLE (a JSON file replacing sha256/url of
known tags). See docs/weights.md.

  -m, --model NAME        for 'pretrained', and for convert's check
      --weights-sha256 H  pull: the sha256 the file must have
      --all               rm: everything cached
      --json              list: one JSON object
  -h, --help              this help
`,
  predict: `usage: inception-cudnn predict --model NAME --weights W [options] IMAGE...

Decodes each image (JPEG, PNG, WebP), preprocesses it as the model's checkpoint expects
(resize, centre crop, normalise) and prints one JSON line per image:
  {"file":"cat.jpg","top":[{"index":281,"label":"tabby, tabby cat","probability":0.93},...]}
A file that cannot be read or decoded gets {"file":"x.jpg","error":"..."} instead; the other
files are still computed, and the command exits 1 at the end.

${SESSION_HELP}
  -k, --top-k K           classes per image (default 5)
`,
  embed: `usage: inception-cudnn embed --model inception_resnet_v1 --weights W [options] IMAGE...

Decodes each image (an aligned face crop; JPEG, PNG, WebP), resizes it to 160x160 and prints
one JSON line per image: {"file":"a.png","embedding":[...512 numbers...]}; with --output,
writes all embeddings as one float32 .npy [N,512] instead. A file that cannot be read or
decoded gets {"file":"x.png","error":"..."} (with --output: a NaN row and the error on stderr);
the other files are still computed, and the command exits 1 at the end.

${SESSION_HELP}
  -o, --output FILE       write a .npy [N,512] instead of JSON lines
`,
  run: `usage: inception-cudnn run --model NAME --weights W --input X.npy --output Y.npy [options]

Runs a preprocessed batch: X.npy is float32 (float64 is converted, with a notice) of shape
[N,3,H,W] (H, W >= the model's minimum); Y.npy gets the raw outputs [N,K] (logits, or
L2-normalised embeddings for inception_resnet_v1). Batches larger than --max-batch are split.

${SESSION_HELP}
  -i, --input FILE        input .npy
  -o, --output FILE       output .npy
`,
  info: `usage: inception-cudnn info [--json] [--model NAME [--max-batch N] [--input-size S] [--threads N]]

Prints the package, Node.js, sharp/libvips versions, the models, for each backend (cpu: oneDNN,
cuda: cuDNN) whether it loads here, its library versions and devices, and the container's limits:
the CPU threads a session takes by default and why (the CPUs this process may run on, capped by
the cgroup CPU quota), and the cgroup memory limit. With --model, it also builds a CPU session of
that model on synthetic weights and prints what it holds (weights + arena + workspace) beside
the memory limit.

      --json              one JSON object instead of text
  -m, --model NAME        a model whose CPU session to measure
      --max-batch N       its largest batch (default 8)
      --input-size S      its square input size (default the model's)
      --threads N         its threads (default: as printed under container)
  -h, --help              this help
`,
  plan: `usage: inception-cudnn plan --model NAME [--batch 1,8] [--input-size S] [--layout L]

Builds, optimises and plans the model (no weights or backend needed) and prints one JSON line
per batch size: steps, buffers, activation arena bytes, the naive sum of all tensors, the lower
bound (most bytes live at one step) and arena / lower bound.

  -m, --model NAME        inception_v4 | inception_resnet_v2 | inception_resnet_v1
  -b, --batch LIST        batch sizes, comma-separated (default 1,8)
      --input-size S      square input size (default the model's)
      --layout L          cpu-avx2 (default) | cpu-avx512 | cuda-fp32 | cuda-fp16
  -h, --help              this help
`,
  serve: `usage: inception-cudnn serve --model NAME --weights W [options]
       inception-cudnn serve --config models.json [options]

Serves the model (or every model of --config) over HTTP (Open Inference Protocol v2 REST, as
KServe and Triton clients use) and gRPC (inference.GRPCInferenceService, when the optional
packages @grpc/grpc-js and @grpc/proto-loader are installed) until SIGTERM or SIGINT, then
stops accepting, answers every accepted request and exits.
Endpoints: GET /v2, /v2/health/live, /v2/health/ready, /v2/models/NAME, /v2/models/NAME/ready,
POST /v2/models/NAME/infer (JSON or binary tensors), POST /v2/models/NAME/classify (image
bytes in, top-k classes or the embedding out), GET /v2/models/NAME/stats, GET /metrics
(Prometheus); with --model-control explicit, POST /v2/repository/index and
/v2/repository/models/NAME/load and /unload.

${SESSION_HELP}
      --input-size S          square input size (default the model's)
      --host H                address to listen on (default 127.0.0.1; 0.0.0.0 for all)
      --port P                port (default 8000; 0 picks a free one)
      --instances N           sessions behind the queue, one batch each at a time (default 1;
                              cpu instances split the default threads, which the cgroup
                              CPU quota caps, unless --threads is given)
      --max-queue-delay-us U  how long a partial batch waits for more requests (default 0)
      --preferred-batch-sizes LIST  batch sizes run as soon as they can be formed, e.g. 4,8
      --max-queue-size N      queued requests before 429 Too Many Requests (default 1024)
      --request-timeout-ms T  queue + compute limit per request, then 504 (default 30000)
      --max-body-bytes B      largest request body, else 413 (default 67108864)
      --max-input-pixels P    largest image for classify, else 413 (default 100000000)
      --token T               require Authorization: Bearer T on everything but /v2/health/*
                              (or set INCEPTION_SERVE_TOKEN; a flag is visible in ps)
      --model-name NAME       the model's name in URLs (default the model)
      --config FILE           the models to serve, each with its own sessions and queue:
                              {"models": [{"name", "session": {"model", "weights", "device",
                              "precision", ...}, "instances", "maxBatch",
                              "maxQueueDelayMicroseconds", "maxQueueSize"}, ...]}
                              (instead of --model, --weights and the other one-model options)
      --grpc-port P           gRPC port (default 8001 when @grpc/grpc-js and @grpc/proto-loader
                              are installed; given without them it is an error)
      --no-grpc               serve HTTP only
      --model-control MODE    none (default) | explicit: load and unload models at run time
      --no-warmup             cuda: skip setting up every run batch size before listening
                              (each size's first requests then wait for its algorithm timing)

Environment: INCEPTION_SERVE_TOKEN (as --token), INCEPTION_SERVE_GC_HEADROOM_MB=N (the server
keeps V8's heap limit about N MiB over its live heap, for fewer full garbage collections under
requests of megabytes; default 48, 0 keeps V8's own growing factor).
`,
  'export-onnx': `usage: inception-cudnn export-onnx --model NAME --weights W --output FILE.onnx [options]

Writes the model with its weights as ONNX (opset 17, IR version 8): input 'input' [N,3,H,W]
float32 with a dynamic batch N, output 'logits' [N,1000] or 'embedding' [N,512]. Without
--fold it is the checkpoint's own graph (BatchNormalization, Mul+Add residuals, initializers
under the state_dict names); with --fold it is our optimised graph (batch norms folded into
the convolutions, scaled residuals folded into the conv weights).

  -m, --model NAME        inception_v4 | inception_resnet_v2 | inception_resnet_v1
  -w, --weights W         pretrained, a tag, an https:// URL, a .safetensors or .pt file, or
                          'synthetic' / 'synthetic:plain'
      --weights-sha256 H  with --weights URL: the sha256 the download must have
  -o, --output FILE       the .onnx file to write
      --fold              export the folded (optimised) graph
      --input-size S      square input size fixed in the model (default the model's)
      --opset N           13..17 (default 17)
  -h, --help              this help
`,
  bench: `usage: inception-cudnn bench --device cpu [options]
       inception-cudnn bench --device cpu --profile --model NAME [--batch B]   (see 'profile --help')

Times ours against onnxruntime-node running our ONNX export of the same synthetic weights
(folded, and unfolded unless --folded-only), runs interleaved per iteration after a warm-up,
with progress on stderr. Prints a Markdown table (images/s at the median latency, p50/p90 ms,
ours/onnxruntime) and writes DIR/cpu-<date>-<time>.json, .md and .svg (a bar chart).

  -d, --device cpu        the CPU (the GPU benchmark is bench/gpu: npm run device-check)
      --models LIST       comma-separated (default all three)
  -b, --batches LIST      batch sizes (default 1,8)
  -n, --iterations N      timed runs per engine and batch (default 10)
      --warmup N          untimed runs per engine and batch first (default 2)
      --threads N         threads for ours and onnxruntime's intra-op pool (default: as for sessions)
      --convolution A     ours: auto (default: Winograd for 3x3 stride-1 convs where oneDNN
                          has a kernel; on AVX-512 F(4,7) for 1x7/7x1 and a weight stream
                          for convs on maps of at most 12 output pixels) | direct
      --precision P       fp32 (default) | bf16: also ours in bf16 (another computation: bf16
                          weights and activations, fp32 sums), next to ours and onnxruntime in fp32
      --input-size S      square input size for every model (default each model's own)
      --settle-ms MS      idle time before every turn, untimed (default 50): lets the other
                          engine's spinning threads go idle so they do not slow this run
      --runs-per-turn N   runs per engine turn (default 1: every timed run follows the idle
                          time, an engine woken from idle). N > 1: one untimed run, then N-1
                          timed runs back to back, the sustained rate of a busy engine
      --folded-only       skip onnxruntime on the unfolded graph
      --out DIR           where results go (default: the current directory; the
                          repository's own results: --out bench/results)
  -h, --help              this help
`,
  profile: `usage: inception-cudnn profile --model NAME [--batch B] [options]

Runs the compiled CPU plan step by step (waiting after each, median of --repeats runs after
a warm-up) and prints the whole network's time, GFLOP/s and fraction of the machine's
measured fp32 peak (a large oneDNN matmul), time per oneDNN implementation, and the slowest
steps with their MACs, GFLOP/s and implementation; oneDNN reference (ref:) kernels are flagged.
With --device cuda[:N], runs the CUDA plan eagerly, timing every step between cudaEvents
(median of --repeats), and prints per-step ms, MACs, TFLOP/s, the conv path (fused, split,
scratch+copy) and cuDNN algorithm, totals per kind, and whole runs (graph replay) for scale.
Synthetic weights; the numbers do not depend on weight values.

  -d, --device D          cpu (default) | cuda | cuda:N
  -m, --model NAME        inception_v4 | inception_resnet_v2 | inception_resnet_v1
  -b, --batch B           batch size (default 1)
  -n, --repeats N         timed runs (default 5 on cpu, 20 on cuda)
      --precision P       cuda: fp32 (default) | tf32 | fp16; cpu: fp32 (default) | bf16
      --streams N         cuda: branch streams 1..4 (default 1)
      --threads N         threads (default: as for sessions)
      --convolution A     auto (default: Winograd for 3x3 stride-1 convs where oneDNN has a
                          kernel; on AVX-512 F(4,7) for 1x7/7x1 and a weight stream for convs
                          on maps of at most 12 output pixels) | direct
      --hot               cpu: also run every step a second time right after its timed run
                          (weights and inputs then in the caches) and show that time: the
                          difference is what reading them from memory costs the step
      --input-size S      square input size (default the model's)
      --top N             how many of the slowest steps to list (default 25)
      --json FILE         also write the full report as JSON
  -h, --help              this help
`,
};
