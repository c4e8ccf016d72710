"""The shared trainer: ``Trainer(model, loss_fn, dataset, TrainConfig(...), workdir, seed=, progress=).fit()``.

See docs/diffusion-core.md for the checkpoint contents and the resume guarantee.
"""

from augdiff.training.config import TrainConfig
from augdiff.training.trainer import Trainer, TrainResult

__all__ = ["TrainConfig", "TrainResult", "Trainer"]
