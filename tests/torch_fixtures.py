"""Tiny models and datasets for the infer/record tests, importable as factories
(``tests.torch_fixtures:digits_mlp``). Everything is deterministic (fixed seeds), CPU-sized."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, IterableDataset, TensorDataset

N_DIGITS = 200  # rows of sklearn's digits used by the tests
SEG_CLASSES = 4
SEG_IMAGES = 10
DET_CLASSES = 3
DET_IMAGES = 9
DET_FEATURES = 5


def digits_arrays(n: int = N_DIGITS) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    return (digits.data[:n] / 16.0).astype(np.float32), digits.target[:n].astype(np.int64)


# ------------------------------------------------------------------------- classification
def digits_mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Dropout(0.5), nn.Linear(32, 10))


def digits_mlp_bn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(64, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Dropout(0.3), nn.Linear(32, 10))


def digits_mlp_no_dropout() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))


def digits_mlp_inplace() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(64, 32), nn.ReLU(inplace=True), nn.Linear(32, 10))


def digits_data() -> Dataset:
    x, _ = digits_arrays()
    return TensorDataset(torch.from_numpy(x))


def digits_data_with_ids() -> Dataset:
    x, _ = digits_arrays()
    return TensorDataset(torch.from_numpy(x), torch.arange(1000, 1000 + len(x)))


class _StrIds(Dataset):
    def __init__(self):
        self.x, _ = digits_arrays()

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return torch.from_numpy(self.x[i]), f"img-{i:04d}"


def digits_data_str_ids() -> Dataset:
    return _StrIds()


def digits_data_with_labels() -> Dataset:
    """(input, label) pairs: the labels repeat, so taking them as ids must fail clearly."""
    x, y = digits_arrays()
    return TensorDataset(torch.from_numpy(x), torch.from_numpy(y))


def digits_loader() -> DataLoader:
    return DataLoader(digits_data_with_ids(), batch_size=17, shuffle=False)


def digits_loader_shuffled() -> DataLoader:
    return DataLoader(digits_data(), batch_size=16, shuffle=True)


class _Stream(IterableDataset):
    def __iter__(self):
        x, _ = digits_arrays()
        for row in x:
            yield torch.from_numpy(row)


def digits_stream() -> IterableDataset:
    """No __len__: N is learned while writing."""
    return _Stream()


class _FailsAt(Dataset):
    def __init__(self, at: int):
        self.x, _ = digits_arrays()
        self.at = at

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        if i == self.at:
            raise RuntimeError(f"disk on fire at item {i}")
        return torch.from_numpy(self.x[i])


def digits_fail_midway() -> Dataset:
    return _FailsAt(N_DIGITS // 2)


class _WrongItems(Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        return {"image": torch.zeros(64)}


def wrong_items() -> Dataset:
    return _WrongItems()


def not_a_model():
    return 42


def not_a_dataset():
    return [1, 2, 3]


def broken_factory():
    raise RuntimeError("weights server unreachable")


# ---------------------------------------------------------------------------- segmentation
class TinySeg(nn.Module):
    def __init__(self, classes: int = SEG_CLASSES):
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU())
        self.head = nn.Conv2d(8, classes, 1)

    def forward(self, x):
        return {"out": 3.0 * self.head(self.backbone(x))}


def seg_model() -> nn.Module:
    torch.manual_seed(1)
    return TinySeg()


def seg_images() -> torch.Tensor:
    g = torch.Generator().manual_seed(2)
    return torch.randn(SEG_IMAGES, 3, 6, 7, generator=g)


def seg_data() -> Dataset:
    return TensorDataset(seg_images())


# ------------------------------------------------------------------------------- detection
class ToyDetector(nn.Module):
    """Image i of a batch (x[i, 0] holds its index) gets (index % 4) boxes; image 0 none."""

    def __init__(self):
        super().__init__()
        self.cls = nn.Linear(DET_FEATURES, DET_CLASSES)

    def forward(self, x):
        out = []
        for row in x:
            k = int(row[0].item())
            r = k % 4
            feats = row[1:1 + DET_FEATURES].unsqueeze(0) * torch.arange(1, r + 1, dtype=row.dtype).unsqueeze(1)
            boxes = torch.stack([torch.tensor([j, j, j + 2.0, j + 3.0]) for j in range(r)]) if r else torch.zeros(0, 4)
            probs = torch.softmax(self.cls(feats), dim=1)
            out.append({"probs": probs, "features": feats, "boxes": boxes} if k % 2 else (probs, feats, boxes))
        return out


def det_model() -> nn.Module:
    torch.manual_seed(3)
    return ToyDetector()


def det_inputs() -> torch.Tensor:
    g = torch.Generator().manual_seed(4)
    x = torch.randn(DET_IMAGES, 1 + DET_FEATURES, generator=g)
    x[:, 0] = torch.arange(DET_IMAGES, dtype=torch.float32)
    return x


def det_data() -> Dataset:
    return TensorDataset(det_inputs())
