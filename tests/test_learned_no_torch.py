"""Without torch the learned strategies still list, and `pick` with them stops with one
`Error:` line naming the extra. Torch is hidden from a real console-script subprocess."""

import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import random_probs

LEARNED = ("cdal-rl", "daal", "vaal")
# sys.modules[name] = None makes `import torch` raise ImportError, as if torch were not installed
HIDE_TORCH = "import sys; sys.modules['torch'] = None; from alselect.cli import main; sys.argv[0] = 'alselect'; main()"


def alselect_without_torch(*args):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONSTARTUP"}
    return subprocess.run([sys.executable, "-c", HIDE_TORCH, *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=300)


def test_strategies_list_without_torch():
    out = alselect_without_torch("strategies")
    assert out.returncode == 0, out.stderr
    for name, param in (("cdal-rl", "-p hidden=256"), ("daal", "-p sigma=0.2"), ("vaal", "-p vae_steps=2")):
        assert f"\n{name}: " in "\n" + out.stdout
        assert param in out.stdout
    assert "needs: embeddings, a labeled set" in out.stdout


@pytest.mark.parametrize("strategy", LEARNED)
def test_pick_without_torch_is_one_error_line(make_pool, rng, strategy):
    path = make_pool(probs=random_probs(rng, 20, 3), embeddings=rng.normal(size=(20, 4)).astype(np.float32),
                     labeled=[0, 1])
    out = alselect_without_torch("pick", path, "-s", strategy, "-b", 3)
    assert out.returncode == 1
    assert out.stdout == ""
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("Error: ") and "pip install 'alselect[torch]'" in lines[0]
    assert f"strategy '{strategy}'" in lines[0]


def test_core_pick_does_not_import_torch(make_pool, rng):
    path = make_pool(probs=random_probs(rng, 20, 3), labeled=[0])
    out = alselect_without_torch("pick", path, "-s", "entropy", "-b", 3)
    assert out.returncode == 0, out.stderr
    assert len(out.stdout.split()) == 3
