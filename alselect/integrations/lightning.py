"""PyTorch and Lightning helpers of the epoch recorder: :func:`predict_probs` and the
:class:`EpochRecorderCallback` Lightning callback (built on first access, when ``lightning`` or
``pytorch_lightning`` is importable). The append protocol itself is framework-free:
:mod:`alselect.pool.epochs`, driven by :class:`alselect.record.EpochRecorder`.
"""

from __future__ import annotations

from ..errors import InvalidInputError, MissingExtraError
from ..record import EpochRecorder


def predict_probs(model, data, *, device=None, batch_size: int = 256):
    """Class probabilities (N, C) float32 of ``model`` over ``data`` (Dataset or DataLoader, in
    pool row order, items inputs or (inputs, ids)), computed in eval mode without gradients;
    the model's train/eval state is restored afterwards."""
    import torch
    from torch.utils.data import DataLoader

    from ..infer import summaries
    from ..infer.run import split_batch

    loader = data if isinstance(data, DataLoader) else DataLoader(data, batch_size=batch_size, shuffle=False)
    if device is None:
        param = next(model.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
    was_training = model.training
    model.eval()
    parts = []
    try:
        with torch.no_grad():
            for batch in loader:
                inputs, _ = split_batch(batch)
                out = model(inputs.to(device, non_blocking=True))
                parts.append(summaries.softmax32(summaries.logits_of(out, "classification", inputs.shape[0])).cpu())
    finally:
        model.train(was_training)
    return torch.cat(parts).numpy()


_CALLBACK = None


def _callback_class():
    global _CALLBACK
    if _CALLBACK is not None:
        return _CALLBACK
    try:
        from lightning.pytorch.callbacks import Callback
    except ImportError:
        try:
            from pytorch_lightning.callbacks import Callback
        except ImportError:
            raise MissingExtraError("torch", "EpochRecorderCallback (with PyTorch Lightning: pip install lightning; "
                                    "or call EpochRecorder.record() from your training loop)") from None

    class EpochRecorderCallback(Callback):
        """Records the pool predictions at the end of every training epoch (rank 0 only).

        Give either ``dataloader`` (the pool in row order; probabilities from
        :func:`predict_probs`) or ``predict(trainer, pl_module) -> (N,) or (N, C)``.
        """

        def __init__(self, pool_path, dataloader=None, predict=None, *, store_probs=None, mode="inplace"):
            super().__init__()
            if (dataloader is None) == (predict is None):
                raise InvalidInputError("EpochRecorderCallback needs exactly one of dataloader=... or predict=...")
            self.recorder = EpochRecorder(pool_path, store_probs=store_probs, mode=mode)
            self.dataloader = dataloader
            self.predict = predict

        def on_train_epoch_end(self, trainer, pl_module):
            if getattr(trainer, "sanity_checking", False) or not getattr(trainer, "is_global_zero", True):
                return
            if self.predict is not None:
                predictions = self.predict(trainer, pl_module)
            else:
                predictions = predict_probs(pl_module, self.dataloader, device=pl_module.device)
            self.recorder.record(predictions)

    _CALLBACK = EpochRecorderCallback
    return _CALLBACK


def __getattr__(name):
    if name == "EpochRecorderCallback":
        return _callback_class()
    raise AttributeError(f"module 'alselect.integrations.lightning' has no attribute {name!r}")
