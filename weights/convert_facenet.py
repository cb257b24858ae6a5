#!/usr/bin/env python3
"""Convert a facenet-pytorch (or any torch.save'd state_dict) checkpoint to .safetensors.

    python3 weights/convert_facenet.py 20180402-114759-vggface2.pt vggface2.safetensors

Needs torch and safetensors. Keeps every tensor and its name (facenet's `logits.*` included);
inception-cudnn ignores `logits.*` unless asked for head: 'logits'.
"""
import sys

import torch
from safetensors.torch import save_file


def main(argv):
    if len(argv) != 3:
        print(__doc__)
        return 2
    state = torch.load(argv[1], map_location="cpu", weights_only=True)
    if hasattr(state, "state_dict"):
        state = state.state_dict()
    if not isinstance(state, dict):
        print("expected a state_dict (a dict of tensors), got %s" % type(state).__name__)
        return 1
    save_file({k: v.contiguous() for k, v in state.items()}, argv[2])
    print("wrote %d tensors to %s" % (len(state), argv[2]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
