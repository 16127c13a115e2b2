"""Throughput of `alselect infer` against the model's bare forward pass on the same data.

    python bench/bench_infer.py [--quick] [--device cpu|cuda]

For a classification CNN (probs + embeddings) and a segmentation FCN (CDAL summaries), it
times, on the same DataLoader:

* ``bare forward``: ``model(x)`` for every batch, nothing kept (the target);
* ``naive infer``: the straightforward reference: forward, synchronous ``.cpu()``, keep
  everything in host lists, ``write_pool`` at the end (classification only);
* ``alselect infer``: :func:`alselect.infer.run_infer` writing the pool file.

and prints samples/s, the ratio to the bare forward pass (target >= 0.90), the process's
peak RSS, and whether the pool's probabilities equal the naive reference's.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from alselect.infer import run_infer  # noqa: E402
from alselect.pool import open_pool, write_pool  # noqa: E402

SEED = 0
REPEATS = 3


def conv_classifier(classes: int = 10) -> nn.Module:
    def block(cin, cout):
        return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
                             nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
                             nn.MaxPool2d(2))

    return nn.Sequential(block(3, 32), block(32, 64), block(64, 128), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(128, 256), nn.ReLU(), nn.Dropout(0.2), nn.Linear(256, classes))


def fcn(classes: int = 8) -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(),
                         nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(), nn.Conv2d(64, classes, 1))


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bare(model, loader, device):
    sync(device)
    t = time.perf_counter()
    with torch.inference_mode():
        for (x,) in loader:
            model(x.to(device, non_blocking=True))
    sync(device)
    return time.perf_counter() - t


def naive(model, loader, device, path):
    sync(device)
    t = time.perf_counter()
    probs, embs = [], []
    feats = {}
    handle = model[-1].register_forward_pre_hook(lambda m, a: feats.__setitem__("x", a[0]))
    with torch.inference_mode():
        for (x,) in loader:
            logits = model(x.to(device))
            probs.append(torch.softmax(logits.float(), 1).cpu().numpy())
            embs.append(feats["x"].float().cpu().numpy())
    handle.remove()
    write_pool(path, probs=np.concatenate(probs), embeddings=np.concatenate(embs))
    return time.perf_counter() - t


def ours(model, loader, device, path, task):
    sync(device)
    t = time.perf_counter()
    run_infer(model, loader, path, task=task, device=str(device), progress=False)
    return time.perf_counter() - t


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench(name, model, data, device, batch_size, task, workers):
    loader = DataLoader(data, batch_size=batch_size, shuffle=False, num_workers=workers,
                        pin_memory=device.type == "cuda", persistent_workers=workers > 0)
    model = model.to(device).eval()
    n = len(data)
    tmp = tempfile.mkdtemp()
    pool_path, naive_path = os.path.join(tmp, "pool.h5"), os.path.join(tmp, "naive.h5")
    times = {"bare forward": [], "naive infer": [], "alselect infer": []}
    if task != "classification":
        del times["naive infer"]
    bare(model, loader, device)  # warm-up (allocator, cudnn autotune, worker start)
    for _ in range(REPEATS):  # interleaved so drifts in machine load hit every method alike
        times["bare forward"].append(bare(model, loader, device))
        if "naive infer" in times:
            times["naive infer"].append(naive(model, loader, device, naive_path))
        times["alselect infer"].append(ours(model, loader, device, pool_path, task))
    base = statistics.median(times["bare forward"])
    same = "-"
    if "naive infer" in times:
        with open_pool(pool_path) as a, open_pool(naive_path) as b:
            diff = float(np.abs(a.read("probs") - b.read("probs")).max())
            same = f"yes (max |dp| {diff:.1e})" if diff < 1e-5 else f"NO (max |dp| {diff:.1e})"
    size = os.path.getsize(pool_path) / 2**20
    print(f"\n{name}: N={n}, batch {batch_size}, device {device}, workers {workers}, pool {size:.1f} MiB")
    print(f"  {'method':<16} {'median s':>9} {'samples/s':>11} {'vs bare':>8}")
    for method, ts in times.items():
        med = statistics.median(ts)
        print(f"  {method:<16} {med:>9.3f} {n / med:>11,.0f} {base / med:>8.2f}")
    print(f"  probs identical to naive reference: {same}; peak RSS {peak_rss_mb():,.0f} MiB")
    return base / statistics.median(times["alselect infer"])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, a few seconds")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--workers", type=int, default=0)
    args = parser.parse_args()
    device = torch.device(args.device)
    gen = torch.Generator().manual_seed(SEED)
    scale = 1 if args.quick else 8
    if device.type == "cuda":
        scale *= 16
    torch.manual_seed(SEED)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {device}"
          + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""))
    ratios = []
    x = torch.randn(512 * scale, 3, 32, 32, generator=gen)
    ratios.append(bench("classification CNN (probs + embeddings)", conv_classifier(), TensorDataset(x), device,
                        128, "classification", args.workers))
    x = torch.randn(64 * scale, 3, 64, 64, generator=gen)
    ratios.append(bench("segmentation FCN (CDAL summaries)", fcn(), TensorDataset(x), device, 16, "segmentation",
                        args.workers))
    print(f"\ninfer / bare-forward throughput: {', '.join(f'{r:.2f}' for r in ratios)} (target >= 0.90)")


if __name__ == "__main__":
    main()
