"""Datasets yielding (inputs, ids, video, frame) for `alselect infer` on video pools."""

import torch
from torch.utils.data import TensorDataset

import torch_fixtures as fx


def det_video_data():
    x = fx.det_inputs()
    n = x.shape[0]
    return TensorDataset(x, torch.arange(n) + 500, torch.arange(n) % 3, torch.arange(n) // 3)


def det_video_data_duplicate_frames():
    x = fx.det_inputs()
    n = x.shape[0]
    return TensorDataset(x, torch.arange(n), torch.zeros(n, dtype=torch.int64), torch.zeros(n, dtype=torch.int64))
