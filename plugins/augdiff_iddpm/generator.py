"""The ``iddpm`` generator: Improved DDPM (Nichol & Dhariwal 2021) on augdiff's diffusion core.

One class-conditional ADM U-Net (class embedding added to the time embedding) by default, or one unconditional
model per class; cosine schedule; 2C output channels [ε̂ | v] with the learned variance of Eq. 15; the hybrid loss
L_simple + λ·L_vlb; optional loss-aware importance sampling of t; trained by the shared Trainer and sampled
ancestrally with the learned variance on a respaced grid (``sample_steps``, ``augdiff augment --steps K``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from augdiff.data.spec import Split
from augdiff.devices import resolve_device
from augdiff.diffusion import SCHEDULES, DDPMSampler, ImageTensorDataset, NoiseSchedule, make_schedule, sample
from augdiff.diffusion.data import to_uint8_images
from augdiff.diffusion.models.adm import ADMUNet
from augdiff.errors import AugdiffError
from augdiff.generator import Generator, Samples, one_hot, slug
from augdiff.progress import NullReporter, PrefixedReporter, Reporter
from augdiff.seeding import derive_seed, seeded_init, torch_generator
from augdiff.training import TrainConfig, Trainer
from augdiff.training.precision import resolve_precision
from augdiff.weights import load_weights, save_weights
from augdiff_iddpm.losses import HybridLoss, LearnedVarianceModel, LossAwareTimesteps

WEIGHTS_DIR = "weights"
TIMESTEP_SAMPLERS = ("uniform", "loss-aware")
_TRAIN_KEYS = ("steps", "batch_size", "lr", "optimizer", "ema_decay", "grad_clip", "precision", "checkpoint_every",
               "device")

_COMMON: dict[str, Any] = {
    "schedule": "cosine",  # §3.2
    "lambda_vlb": 0.001,  # §3.1
    "timestep_sampler": "uniform",  # "loss-aware": p_t ∝ sqrt(E[L_t²]) (§3.3)
    "per_class": False,  # False: one model with a class embedding; True: one unconditional model per class
    "hflip": True,
    "optimizer": "adam",  # the official code: AdamW with weight decay 0, i.e. Adam
    "grad_clip": None,
    "precision": "auto",
    "device": "auto",
    "attention": "global",
    # GroupNorm keeps ≥ 4 channels per group (adm.group_norm): one channel per group, ADM's 32 groups at width 32,
    # erased each image's colour and the cpu-profile samples came out in arbitrary saturated colours.
    "norm_min_group_channels": 4,
    "sample_batch": 64,
    # Clamp x̂_0 to [-1, 1] at every sampling step, as the official sampler does (clip_denoised=True): with the
    # cosine schedule ᾱ_{T−1} ≈ 0, so an unclamped x̂_0 = (x_t − √(1−ᾱ)ε̂)/√ᾱ blows up on the first steps.
    "clip_sample": True,
}

PROFILES: dict[str, dict[str, Any]] = {
    "smoke": {
        **_COMMON, "image_size": 16, "base_channels": 16, "channel_mult": [1, 2], "num_res_blocks": 1,
        "attention_resolutions": [8], "num_head_channels": 16, "dropout": 0.0, "num_train_timesteps": 100,
        "steps": 20, "batch_size": 16, "lr": 2e-3, "ema_decay": 0.9, "checkpoint_every": 10, "precision": "fp32",
        "sample_steps": 10,
    },
    "cpu": {
        # ~0.7 CPU-seconds per step (1.2 M parameters): 2000 steps took 23 CPU-minutes on pcam-mini (docs).
        **_COMMON, "image_size": 32, "base_channels": 32, "channel_mult": [1, 2, 2], "num_res_blocks": 1,
        "attention_resolutions": [8], "num_head_channels": 32, "dropout": 0.1, "num_train_timesteps": 1000,
        "steps": 2000, "batch_size": 32, "lr": 5e-4, "ema_decay": 0.999, "checkpoint_every": 250,
        "precision": "auto", "sample_steps": 100,
    },
    "paper": {
        # The official ImageNet-64 model (128 channels, mults 1-2-3-4, 3 res blocks, attention at 16 and 8 px),
        # lr 1e-4, batch 128, EMA 0.9999, with CIFAR-10's dropout 0.3 for a few hundred images per class;
        # 250 respaced sampling steps as in the paper's FID tables.
        **_COMMON, "image_size": 64, "base_channels": 128, "channel_mult": [1, 2, 3, 4], "num_res_blocks": 3,
        "attention_resolutions": [16, 8], "num_head_channels": 64, "dropout": 0.3, "num_train_timesteps": 4000,
        "steps": 500_000, "batch_size": 128, "lr": 1e-4, "ema_decay": 0.9999, "checkpoint_every": 5000,
        "sample_steps": 250,
    },
}


class IDDPM(Generator):
    name = "iddpm"
    description = "Improved DDPM (Nichol & Dhariwal 2021): cosine schedule, learned variance, hybrid loss"
    profiles: ClassVar[dict[str, dict[str, Any]]] = PROFILES
    sampling_options: ClassVar[tuple[str, ...]] = ("sample_steps", "sample_batch", "clip_sample")
    distributed_fit: ClassVar[bool] = True  # trains with the shared (DDP) trainer
    # --set types the profiles' values do not show: null clips nothing / samples all T steps.
    option_types: ClassVar[dict[str, tuple[Any, ...]]] = {"grad_clip": (float, None), "sample_steps": (int, None)}

    def __init__(self, config: dict[str, Any], classes: Sequence[str]) -> None:
        super().__init__(config, classes)
        self._validate()
        self.models: dict[int, nn.Module] = {}  # key 0 for the conditional model, else the class index

    def _validate(self) -> None:
        c = self.config
        bad = self.option_error
        if c["schedule"] not in SCHEDULES:
            raise bad("schedule", f"choose one of {', '.join(SCHEDULES)}")
        if c["timestep_sampler"] not in TIMESTEP_SAMPLERS:
            raise bad("timestep_sampler", f"choose one of {', '.join(TIMESTEP_SAMPLERS)}")
        if float(c["lambda_vlb"]) < 0:
            raise bad("lambda_vlb", "must be ≥ 0 (0 trains the mean only, and leaves the variance at v = 0)")
        steps = c["sample_steps"]
        if steps is not None and not 1 <= int(steps) <= int(c["num_train_timesteps"]):
            raise bad("sample_steps", f"give 1..{c['num_train_timesteps']} steps, or null for all of them")
        if int(c["sample_batch"]) < 1:
            raise bad("sample_batch", "must be ≥ 1")
        self.train_config()

    # -- building blocks -----------------------------------------------------------------------------------
    def train_config(self) -> TrainConfig:
        return TrainConfig(**{k: self.config[k] for k in _TRAIN_KEYS})

    def schedule(self) -> NoiseSchedule:
        return make_schedule(self.config["schedule"], int(self.config["num_train_timesteps"]))

    def build_model(self, *, timesteps: LossAwareTimesteps | None = None) -> LearnedVarianceModel:
        c = self.config
        net = ADMUNet(
            int(c["image_size"]), in_channels=3, out_channels=6, base_channels=int(c["base_channels"]),
            channel_mult=tuple(c["channel_mult"]), num_res_blocks=int(c["num_res_blocks"]),
            attention_resolutions=tuple(c["attention_resolutions"]), num_head_channels=int(c["num_head_channels"]),
            attention=c["attention"], dropout=float(c["dropout"]),
            num_classes=None if c["per_class"] else len(self.classes),
            norm_min_group_channels=int(c.get("norm_min_group_channels", 1)),  # absent: saved before the option
        )
        return LearnedVarianceModel(net, timesteps)

    def sampler(self) -> DDPMSampler:
        clip = bool(self.config.get("clip_sample", True))  # .get: configs saved before the option existed
        s = DDPMSampler(self.schedule(), variance="learned_range", clip_sample=clip)
        steps, T = self.config["sample_steps"], int(self.config["num_train_timesteps"])
        if steps is not None and not 1 <= int(steps) <= T:  # --steps arrives after validation
            raise AugdiffError(f"--steps {steps}: iddpm was trained with {T} timesteps; give 1..{T}")
        s.set_timesteps(None if steps is None else int(steps))
        return s

    # -- fit -------------------------------------------------------------------------------------------------
    def _train(
        self, images: np.ndarray, labels: np.ndarray | None, workdir: Path, *, seed: int, progress: Reporter
    ) -> nn.Module:
        size = int(self.config["image_size"])
        if images.shape[1:3] != (size, size):
            raise AugdiffError(
                f"--size: iddpm is configured for {size} px images but got {images.shape[1]} px; drop --size or "
                f"--set image_size={images.shape[1]}"
            )
        schedule = self.schedule()
        timesteps = (LossAwareTimesteps(schedule.num_train_timesteps)
                     if self.config["timestep_sampler"] == "loss-aware" else None)
        with seeded_init(seed, "init"):  # initial weights follow the seed, not the global RNG
            model = self.build_model(timesteps=timesteps)
        loss = HybridLoss(schedule, lambda_vlb=float(self.config["lambda_vlb"]),
                          class_conditional=labels is not None, timesteps=timesteps)
        dataset = ImageTensorDataset(images, labels, hflip=bool(self.config["hflip"]))
        trainer = Trainer(model, loss, dataset, self.train_config(), workdir, seed=seed, progress=progress)
        # The trainer moves the model to its device; the loss must keep updating that same history module.
        loss.timesteps = getattr(trainer.model, "timesteps", None)
        trainer.fit()
        ema = trainer.ema_model
        assert isinstance(ema, LearnedVarianceModel)
        ema.timesteps = None  # training statistics only; sampling needs the network
        return ema.eval().requires_grad_(False)

    def fit(self, train_set: Split, workdir: Path, *, seed: int, progress: Reporter = NullReporter()) -> None:
        self.models = {}
        if not self.config["per_class"]:
            self.models[0] = self._train(train_set.images, train_set.labels, Path(workdir) / "conditional",
                                         seed=derive_seed(seed, "iddpm"), progress=PrefixedReporter(progress, "iddpm"))
            return
        for index, name in enumerate(self.classes):
            images = train_set.of_class(index).images
            if len(images) == 0:
                raise AugdiffError(f"--set per_class=true: class '{name}' has no training images")
            self.models[index] = self._train(images, None, Path(workdir) / slug(name),
                                             seed=derive_seed(seed, "iddpm", name),
                                             progress=PrefixedReporter(progress, f"iddpm[{name}]"))

    # -- generate --------------------------------------------------------------------------------------------
    def generate(
        self, n: int, *, cls: int | None = None, seed: int = 0, progress: Reporter = NullReporter()
    ) -> Samples:
        if not self.models:
            raise AugdiffError("iddpm has no trained model: run `augdiff fit iddpm` first")
        device = resolve_device(self.config["device"])
        autocast = resolve_precision(self.config["precision"], device).name == "bf16"
        size = int(self.config["image_size"])
        steps = self.config["sample_steps"]
        method = f"ddpm-learned-{steps or self.config['num_train_timesteps']}"
        parts = []
        for index, count in self.split_counts(n, cls):
            name = self.classes[index]
            model = self.models[index if self.config["per_class"] else 0].to(device)
            kwargs = {} if self.config["per_class"] else {
                "y": torch.full((count,), index, dtype=torch.long, device=device)}
            # Noise is drawn on the CPU so a seed gives the same images on any device.
            x = sample(model, self.sampler(), (count, 3, size, size), generator=torch_generator(seed, "iddpm", name),
                       device=device, model_kwargs=kwargs, progress=progress, autocast=autocast,
                       batch_size=int(self.config["sample_batch"]))
            meta = [{"sampler": method} for _ in range(count)]
            parts.append(Samples(to_uint8_images(x), one_hot([index] * count, len(self.classes)), meta))
        return Samples.concat(parts)

    # -- persistence: config.json + one safetensors file of EMA network weights per model -------------------
    def _weights_path(self, directory: Path, key: int) -> Path:
        stem = "conditional" if not self.config["per_class"] else f"{key}-{slug(self.classes[key])}"
        return Path(directory) / WEIGHTS_DIR / f"{stem}.safetensors"

    def save(self, directory: Path) -> None:
        super().save(directory)
        for key, model in self.models.items():
            assert isinstance(model, LearnedVarianceModel)
            save_weights(self._weights_path(directory, key), model.net, metadata={"weights": "ema"})

    @classmethod
    def load(cls, directory: Path) -> IDDPM:
        gen = super().load(directory)
        assert isinstance(gen, IDDPM)
        keys = range(len(gen.classes)) if gen.config["per_class"] else [0]
        for key in keys:
            model = gen.build_model()
            load_weights(model.net, gen._weights_path(directory, key), refit="augdiff fit iddpm")
            gen.models[key] = model.eval().requires_grad_(False)
        return gen
