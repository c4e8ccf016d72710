"""The diffusion core: noise schedules, samplers, sampling loops, losses and image tensors.

Model, schedule and sampler are kept apart (as in diffusers): a generator plugin owns its network, picks a
schedule with ``make_schedule``, trains with ``augdiff.training.Trainer`` and samples with ``sampling.sample``.
See docs/diffusion-core.md.
"""

from augdiff.diffusion.data import ImageTensorDataset, to_model_range, to_uint8_images
from augdiff.diffusion.losses import DiffusionLoss, epsilon_loss
from augdiff.diffusion.samplers import DDIMSampler, DDPMSampler, respaced_timesteps
from augdiff.diffusion.sampling import ddim_decode, ddim_encode, sample
from augdiff.diffusion.schedules import SCHEDULES, NoiseSchedule, make_schedule

__all__ = [
    "SCHEDULES",
    "DDIMSampler",
    "DDPMSampler",
    "DiffusionLoss",
    "ImageTensorDataset",
    "NoiseSchedule",
    "ddim_decode",
    "ddim_encode",
    "epsilon_loss",
    "make_schedule",
    "respaced_timesteps",
    "sample",
    "to_model_range",
    "to_uint8_images",
]
