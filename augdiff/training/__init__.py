"""Training generators: ``Trainer(model, loss_fn, dataset, TrainConfig(...), workdir, seed=, progress=).fit()``.

The trainer lives in :mod:`augdiff.training.generator_trainer`, with its checkpoints, EMA, precision and DDP helpers
beside it; the GAN generators reuse the checkpoint helpers with their own loops. The downstream classifier has its
own fixed-budget loop in :mod:`augdiff.classify.train`.

See docs/diffusion-core.md for the checkpoint contents and the resume guarantee.
"""

from augdiff.training.config import TrainConfig
from augdiff.training.generator_trainer import Trainer, TrainResult

__all__ = ["TrainConfig", "TrainResult", "Trainer"]
