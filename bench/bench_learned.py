"""Benchmark the learned selectors: CDAL-RL policy training and DAAL training.

    python bench/bench_learned.py [--device cpu|cuda] [--epochs E] [--batches B] [--only NAME,...]

Synthetic, fixed seed. Each case runs in its own subprocess so that its peak memory (ru_maxrss on
CPU, torch.cuda.max_memory_allocated on CUDA) is its own. Times are wall and CPU seconds (the
process's user + system time), measured on a few epochs / batches and extrapolated linearly to
the full schedule (marked "extrapolated"); the cost per epoch is constant.

CDAL-RL (mixtures N x 19 x 19 with ~5 classes present per image, embeddings N x 512, budget 5%):
* ``rl-3k``    3,000 images (Cityscapes-sized): alselect's defaults (chunk 4096 -> one sequence)
  next to ``rl-3k-ref``: the same epochs with the reward evaluated exactly (reward_total over the
  whole selection and pool, as `alselect score` does) instead of on samples;
* ``rl-20k``   20,000 images, chunked (5 chunks, 2 backward groups) next to ``rl-20k-ref``: one
  sequence and one backward pass, as the released code unrolls the pool (one epoch each);
* ``rl-100k``  100,000 images: chunks of 4,096, backward over 16,384 images at a time. Only with
  ``--only rl-100k-ref``: the released code's layout, the whole pool as one sequence and one
  backward pass (one epoch; its memory grows with N, several GB at 10^5 images).
* ``reward-100k`` one episode's reward at 100,000 images (5,000 picks): the sampled estimate used
  in training next to the exact ``reward_total`` (`alselect score`'s computation).
DAAL (N = 50,000 unlabeled + 5,000 labeled, D = 512, batch 128, width 256, latent 32):
* ``daal-50k`` alselect's step (one forward pass, three gradients) next to ``daal-50k-ref``: a
  straightforward step that runs a forward and backward pass per update of Algorithm 1.
  Per-epoch time comes from ``--batches`` batches; the paper's schedule (150 epochs) and
  alselect's default (3 epochs) are extrapolated from it. One CPU thread, as ``-p threads=1``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.append(str(Path(__file__).resolve().parents[1]))  # an installed alselect wins over this checkout

C, D = 19, 512


def cd_data(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    present = rng.random((n, C)) < 5 / C
    present[np.arange(n), rng.integers(0, C, n)] = True
    mix = rng.dirichlet(np.full(C, 0.3), size=(n, C)).astype(np.float32)
    emb = rng.normal(size=(n, D)).astype(np.float32)
    return mix, present, emb


def measure(fn):
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - t0, time.process_time() - c0


def peak_mb(device) -> float:
    import torch

    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def case_rl(n: int, epochs: int, device, *, exact_reward: bool = False, one_sequence: bool = False):
    from alselect import cdal
    from alselect.learned.policy import PolicyConfig, train_policy
    from alselect.learned.reward import Reward

    mix, present, emb = cd_data(n)
    budget = n // 20
    features = (mix * present[..., None]).reshape(n, -1)
    reward = Reward(mix, present, budget, np.random.default_rng(1), embeddings=emb)
    if exact_reward:
        def rw(actions, p):
            sel = reward.selection(actions, p)
            return cdal.reward_total(mix, present, sel, embeddings=emb).total if sel.size else 0.0
    else:
        rw = reward
    cfg = PolicyConfig(epochs=epochs, lr=1e-2)
    if one_sequence:
        cfg = PolicyConfig(epochs=epochs, lr=1e-2, chunk=n, step_rows=n)
    rw(np.ones(n, bool), np.full(n, 0.5))  # compile the numba kernels outside the timing
    _, wall, cpu = measure(lambda: train_policy(features, rw, budget, cfg, device=device, seed=0))
    return dict(epochs=epochs, wall=wall, cpu=cpu, per_epoch=wall / epochs, per_epoch_cpu=cpu / epochs,
                full_60=wall / epochs * 60, peak_mb=peak_mb(device))


def case_reward(n: int):
    """One episode's reward at n images (budget 5%): sampled (alselect) vs exact (reward_total)."""
    from alselect import cdal
    from alselect.learned.reward import Reward

    mix, present, emb = cd_data(n)
    budget = n // 20
    reward = Reward(mix, present, budget, np.random.default_rng(1), embeddings=emb)
    actions = np.random.default_rng(2).random(n) < 0.1
    sel = reward.selection(actions, np.full(n, 0.5))
    reward.of_selection(sel[:10])  # compile
    cdal.reward_total(mix, present, sel[:10], embeddings=emb)
    sampled, wall_s, cpu_s = measure(lambda: reward.of_selection(sel))
    exact, wall_e, cpu_e = measure(lambda: cdal.reward_total(mix, present, sel, embeddings=emb).total)
    return dict(picks=int(sel.size), wall_sampled=wall_s, cpu_sampled=cpu_s, wall_exact=wall_e, cpu_exact=cpu_e,
                sampled=sampled, exact=exact)


def case_daal(batches: int, device, *, reference: bool = False):
    import torch

    from alselect.learned import daal as daal_mod
    from alselect.learned.runtime import generator

    rng = np.random.default_rng(0)
    n_u, n_l = 50_000, 5_000
    x = rng.normal(size=(n_u + n_l, D)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    xu = torch.as_tensor(x[:n_u], device=device)
    xl = torch.as_tensor(x[n_u:], device=device)
    cfg = daal_mod.DaalConfig()
    if device.type == "cpu":
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(0)
    net = daal_mod.Daal(D, cfg).to(device)
    groups = {"rater": list(net.score_net.parameters()) + list(net.vae.encoder.parameters()),
              "decoder": list(net.vae.decoder.parameters()),
              "dis": list(net.u_dis.parameters()) + list(net.r_dis.parameters())}
    opts = {k: torch.optim.Adam(v, lr=cfg.lr) for k, v in groups.items()}
    g = generator(0, device)

    def step():
        idx = torch.randint(n_u, (cfg.batch,), generator=g, device=device)
        jdx = torch.randint(n_l, (cfg.batch,), generator=g, device=device)
        if reference:  # a forward and a backward pass per update
            for key in ("rater", "decoder", "dis"):
                L = net.losses(xu[idx], xl[jdx], cfg)
                for opt in opts.values():
                    opt.zero_grad(set_to_none=True)
                daal_mod.objectives(L, cfg)[key].backward()
                opts[key].step()
        else:
            L = net.losses(xu[idx], xl[jdx], cfg)
            obj = daal_mod.objectives(L, cfg)
            grads = {k: daal_mod._grads(groups[k], obj[k], k != "dis") for k in groups}
            for k, opt in opts.items():
                daal_mod._apply(opt, groups[k], grads[k])

    def run():
        for _ in range(batches):
            step()
        if device.type == "cuda":
            torch.cuda.synchronize()

    step()  # warm-up
    _, wall, cpu = measure(run)
    per_batch = wall / batches
    n_batches = -(-n_u // cfg.batch)
    return dict(batches=batches, wall=wall, cpu=cpu, per_epoch=per_batch * n_batches,
                per_epoch_cpu=cpu / batches * n_batches, default_wall=per_batch * n_batches * cfg.epochs,
                default_cpu=cpu / batches * n_batches * cfg.epochs, default_epochs=cfg.epochs,
                paper_150=per_batch * n_batches * 150, peak_mb=peak_mb(device))


def one(name: str, args) -> dict:
    import torch

    device = torch.device(args.device)
    if name == "rl-3k":
        return case_rl(3000, args.epochs, device)
    if name == "rl-3k-ref":
        return case_rl(3000, args.epochs, device, exact_reward=True)
    if name == "rl-100k":
        return case_rl(100_000, max(1, args.epochs // 2), device)
    if name == "rl-100k-ref":
        return case_rl(100_000, 1, device, one_sequence=True)
    if name == "rl-20k":
        return case_rl(20_000, 1, device)
    if name == "rl-20k-ref":
        return case_rl(20_000, 1, device, one_sequence=True)
    if name == "reward-100k":
        return case_reward(100_000)
    if name == "daal-50k":
        return case_daal(args.batches, device)
    if name == "daal-50k-ref":
        return case_daal(max(2, args.batches // 2), device, reference=True)
    raise SystemExit(f"unknown case {name}")


CASES = ("rl-3k", "rl-3k-ref", "rl-20k", "rl-20k-ref", "rl-100k", "reward-100k", "daal-50k", "daal-50k-ref")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    ap.add_argument("--epochs", type=int, default=2, help="CDAL-RL epochs measured (of 60)")
    ap.add_argument("--batches", type=int, default=20, help="DAAL batches measured (of 391 per epoch)")
    ap.add_argument("--only", help="comma-separated cases: " + ", ".join(CASES) + ", rl-100k-ref")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args)))
        return
    import torch

    print(f"torch {torch.__version__}, device {args.device}, {torch.get_num_threads()} CPU threads")
    cases = args.only.split(",") if args.only else list(CASES)
    res = {}
    for name in cases:
        cmd = [sys.executable, __file__, "--one", name, "--device", args.device, "--epochs", str(args.epochs),
               "--batches", str(args.batches)]
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode != 0:
            print(f"{name}: failed\n{out.stderr[-2000:]}")
            continue
        r = res[name] = json.loads(out.stdout.strip().splitlines()[-1])
        if name.startswith("reward"):
            print(f"{name:13s} one episode, {r['picks']} picks: sampled {r['wall_sampled']:.2f} s wall "
                  f"({r['cpu_sampled']:.2f} s CPU) vs exact {r['wall_exact']:.2f} s wall ({r['cpu_exact']:.2f} s CPU), "
                  f"ratio {r['wall_exact'] / r['wall_sampled']:.0f}x wall; R sampled {r['sampled']:.6g}, "
                  f"exact {r['exact']:.6g}")
        elif name.startswith("rl"):
            print(f"{name:13s} {r['epochs']} epochs measured: {r['per_epoch']:.2f} s/epoch wall, "
                  f"{r['per_epoch_cpu']:.2f} s/epoch CPU; 60 epochs (extrapolated) {r['full_60']:.0f} s; "
                  f"peak {r['peak_mb']:.0f} MB")
        else:
            print(f"{name:13s} {r['batches']} batches measured: {r['per_epoch']:.1f} s/epoch wall, "
                  f"{r['per_epoch_cpu']:.1f} s/epoch CPU (extrapolated, 391 batches); default {r['default_epochs']} epochs "
                  f"{r['default_wall']:.0f} s wall, {r['default_cpu']:.0f} s CPU, paper's 150 epochs {r['paper_150']:.0f} s; peak {r['peak_mb']:.0f} MB")
    for a, b, what in (("rl-3k-ref", "rl-3k", "exact reward / sampled reward, time per epoch"),
                       ("rl-20k-ref", "rl-20k", "one sequence (released code) / chunked, time per epoch"),
                       ("rl-100k-ref", "rl-100k", "one sequence (released code) / chunked, time per epoch"),
                       ("daal-50k-ref", "daal-50k", "forward per update / one forward, time per batch")):
        if a in res and b in res:
            print(f"ratio {what}: {res[a]['per_epoch'] / res[b]['per_epoch']:.2f}x wall, "
                  f"{res[a]['per_epoch_cpu'] / res[b]['per_epoch_cpu']:.2f}x CPU; "
                  f"peak memory {res[a]['peak_mb']:.0f} vs {res[b]['peak_mb']:.0f} MB")


if __name__ == "__main__":
    main()
