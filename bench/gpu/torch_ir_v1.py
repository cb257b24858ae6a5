"""Inception-ResNet-v1 (the face-embedding network, 160x160) in plain PyTorch, for the GPU benchmark.

timm has no Inception-ResNet-v1 and facenet_pytorch is not on the GPU image, so torch_bench.py
builds this one when facenet_pytorch does not import. It is written from the architecture
reference (/work/shared/design/architectures.md, section 3): the same layers, shapes and
parameter count (23,482,624 trainable; checked by `python3 torch_ir_v1.py`), so its speed is that
network's speed in PyTorch. Weights are PyTorch's default initialisation: the benchmark times the
computation, not the values.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


class ConvBnRelu(nn.Module):
    """conv (no bias) + BatchNorm (eps 0.001) + ReLU."""

    def __init__(self, cin, cout, kernel, stride=1, padding=0):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=0.001)
        self.relu = nn.ReLU(inplace=False)

    def forward(self, x):
        return self.relu(self.bn(self.conv(x)))


class Block35(nn.Module):
    """Inception-ResNet-A on 256 channels: 1x1 | 1x1-3x3 | 1x1-3x3-3x3, 96 -> 1x1 up to 256."""

    def __init__(self, scale):
        super().__init__()
        self.scale = scale
        self.branch0 = ConvBnRelu(256, 32, 1)
        self.branch1 = nn.Sequential(ConvBnRelu(256, 32, 1), ConvBnRelu(32, 32, 3, padding=1))
        self.branch2 = nn.Sequential(ConvBnRelu(256, 32, 1), ConvBnRelu(32, 32, 3, padding=1), ConvBnRelu(32, 32, 3, padding=1))
        self.conv2d = nn.Conv2d(96, 256, 1)

    def forward(self, x):
        mixed = torch.cat((self.branch0(x), self.branch1(x), self.branch2(x)), 1)
        return F.relu(x + self.scale * self.conv2d(mixed))


class Block17(nn.Module):
    """Inception-ResNet-B on 896 channels: 1x1 | 1x1-1x7-7x1, 256 -> 1x1 up to 896."""

    def __init__(self, scale):
        super().__init__()
        self.scale = scale
        self.branch0 = ConvBnRelu(896, 128, 1)
        self.branch1 = nn.Sequential(ConvBnRelu(896, 128, 1), ConvBnRelu(128, 128, (1, 7), padding=(0, 3)),
                                     ConvBnRelu(128, 128, (7, 1), padding=(3, 0)))
        self.conv2d = nn.Conv2d(256, 896, 1)

    def forward(self, x):
        mixed = torch.cat((self.branch0(x), self.branch1(x)), 1)
        return F.relu(x + self.scale * self.conv2d(mixed))


class Block8(nn.Module):
    """Inception-ResNet-C on 1792 channels: 1x1 | 1x1-1x3-3x1, 384 -> 1x1 up to 1792; the last one has no ReLU."""

    def __init__(self, scale, relu=True):
        super().__init__()
        self.scale = scale
        self.relu = relu
        self.branch0 = ConvBnRelu(1792, 192, 1)
        self.branch1 = nn.Sequential(ConvBnRelu(1792, 192, 1), ConvBnRelu(192, 192, (1, 3), padding=(0, 1)),
                                     ConvBnRelu(192, 192, (3, 1), padding=(1, 0)))
        self.conv2d = nn.Conv2d(384, 1792, 1)

    def forward(self, x):
        mixed = torch.cat((self.branch0(x), self.branch1(x)), 1)
        out = x + self.scale * self.conv2d(mixed)
        return F.relu(out) if self.relu else out


class Mixed6a(nn.Module):
    """Reduction-A: 3x3 s2 384 | 1x1 192 - 3x3 192 - 3x3 s2 256 | max-pool; 256 -> 896 channels."""

    def __init__(self):
        super().__init__()
        self.branch0 = ConvBnRelu(256, 384, 3, stride=2)
        self.branch1 = nn.Sequential(ConvBnRelu(256, 192, 1), ConvBnRelu(192, 192, 3, padding=1), ConvBnRelu(192, 256, 3, stride=2))
        self.branch2 = nn.MaxPool2d(3, stride=2)

    def forward(self, x):
        return torch.cat((self.branch0(x), self.branch1(x), self.branch2(x)), 1)


class Mixed7a(nn.Module):
    """Reduction-B: three 1x1 256 heads then 3x3 s2 (384 | 256 | 3x3-3x3 s2 256), max-pool; 896 -> 1792."""

    def __init__(self):
        super().__init__()
        self.branch0 = nn.Sequential(ConvBnRelu(896, 256, 1), ConvBnRelu(256, 384, 3, stride=2))
        self.branch1 = nn.Sequential(ConvBnRelu(896, 256, 1), ConvBnRelu(256, 256, 3, stride=2))
        self.branch2 = nn.Sequential(ConvBnRelu(896, 256, 1), ConvBnRelu(256, 256, 3, padding=1), ConvBnRelu(256, 256, 3, stride=2))
        self.branch3 = nn.MaxPool2d(3, stride=2)

    def forward(self, x):
        return torch.cat((self.branch0(x), self.branch1(x), self.branch2(x), self.branch3(x)), 1)


class InceptionResnetV1(nn.Module):
    """The embedding network: stem, 5 x Block35 (0.17), Reduction-A, 10 x Block17 (0.10), Reduction-B,
    5 x Block8 (0.20) + Block8 (1.0, no ReLU), global average pool, 1792 -> 512 (no bias), BatchNorm1d, L2 norm."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(
            ConvBnRelu(3, 32, 3, stride=2), ConvBnRelu(32, 32, 3), ConvBnRelu(32, 64, 3, padding=1), nn.MaxPool2d(3, stride=2),
            ConvBnRelu(64, 80, 1), ConvBnRelu(80, 192, 3), ConvBnRelu(192, 256, 3, stride=2))
        self.repeat_1 = nn.Sequential(*[Block35(0.17) for _ in range(5)])
        self.mixed_6a = Mixed6a()
        self.repeat_2 = nn.Sequential(*[Block17(0.10) for _ in range(10)])
        self.mixed_7a = Mixed7a()
        self.repeat_3 = nn.Sequential(*[Block8(0.20) for _ in range(5)])
        self.block8 = Block8(1.0, relu=False)
        self.last_linear = nn.Linear(1792, 512, bias=False)
        self.last_bn = nn.BatchNorm1d(512, eps=0.001)

    def forward(self, x):
        x = self.stem(x)
        x = self.block8(self.repeat_3(self.mixed_7a(self.repeat_2(self.mixed_6a(self.repeat_1(x))))))
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return F.normalize(self.last_bn(self.last_linear(x)), p=2, dim=1)


EXPECTED_PARAMETERS = 23_482_624  # architectures.md section 3.3


def main():
    net = InceptionResnetV1().eval()
    params = sum(p.numel() for p in net.parameters())
    with torch.no_grad():
        y = net(torch.randn(2, 3, 160, 160))
    print(f"parameters {params} (expected {EXPECTED_PARAMETERS}); output {list(y.shape)}; row norms {[round(float(v), 6) for v in y.norm(dim=1)]}")
    if params != EXPECTED_PARAMETERS or list(y.shape) != [2, 512]:
        raise SystemExit("mismatch with the architecture reference")


if __name__ == "__main__":
    main()
