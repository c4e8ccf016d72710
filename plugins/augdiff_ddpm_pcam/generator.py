"""DDPM-PCam as an augdiff generator: one unconditional DDPM per class, each trained with the shared Trainer.

Fitting trains the classes one after another in ``workdir/<class>/`` (so an interrupted fit resumes where it
stopped); ``generate(n, cls=c)`` samples from class c's EMA model, ancestrally over all T steps (the paper's
Algorithm 2, σ²_t = β_t) or with DDIM when ``sample_steps`` is set; every sample is labelled one-hot with the class
of the model that drew it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from augdiff import pictures
from augdiff.data.spec import Split
from augdiff.devices import resolve_device
from augdiff.diffusion import (
    SCHEDULES,
    DDIMSampler,
    DDPMSampler,
    DiffusionLoss,
    ImageTensorDataset,
    NoiseSchedule,
    make_schedule,
    sample,
    to_uint8_images,
)
from augdiff.diffusion.losses import LOSSES
from augdiff.errors import AugdiffError
from augdiff.generator import GeneratedSet, Generator, Samples, one_hot, slug
from augdiff.progress import NullReporter, PrefixedReporter, Reporter
from augdiff.seeding import derive_seed, seeded_init, torch_generator
from augdiff.training import TrainConfig, Trainer
from augdiff.training.precision import resolve_precision
from augdiff.weights import load_weights, save_weights
from augdiff_ddpm_pcam.unet import ATTENTION_HEADS, PaperUNet, block_widths, paper_attention_positions

WEIGHTS_DIR = "weights"

# Config keys handed to TrainConfig unchanged.
_TRAIN_KEYS = (
    "steps", "epochs", "batch_size", "lr", "optimizer", "ema_decay", "grad_clip", "precision",
    "checkpoint_every", "device",
)

_COMMON: dict[str, Any] = {
    "schedule": "cosine",  # the paper's ablation winner (Table 2)
    "attention": "none",  # "none", "self" (the paper's placement) or a list of block positions
    "loss": "mse",  # L_simple (paper Eq. 9); "huber" is what the authors' notebooks trained with
    "variance": "beta",  # Algorithm 2 with σ²_t = β_t
    # Clip x̂_0 to [-1, 1] in every sampling step, as Ho et al.'s reference code does: the cosine schedule's last
    # step (β = 0.999, ᾱ ≈ 2e-9) otherwise amplifies ε errors by up to 1/√ᾱ and saturates DDIM samples.
    "clip_sample": True,
    "hflip": True,  # the notebooks' random horizontal flip
    "channels_last": True,
    "epochs": None,
    "steps": None,
    "optimizer": "adam",
    "grad_clip": 1.0,
    "precision": "auto",
    "device": "auto",
    "sample_steps": None,  # None: ancestral over all T; K: DDIM (η = 0) respaced to K steps
    "sample_batch": 64,
}

PROFILES: dict[str, dict[str, Any]] = {
    "smoke": {
        **_COMMON, "image_size": 16, "widths": [8, 16, 32], "time_dim": 32, "num_train_timesteps": 100,
        "lr": 2e-3, "batch_size": 16, "steps": 30, "ema_decay": 0.9, "checkpoint_every": 20,
        "precision": "fp32", "channels_last": False,
    },
    "cpu": {
        # fp32, not bf16: on AVX512-BF16 CPUs without AMX, oneDNN's bf16 weight-gradient convolutions are several
        # times slower than fp32 ones (see docs/generators/ddpm-pcam.md), so bf16 autocast slows this model down.
        **_COMMON, "image_size": 32, "widths": [32, 64, 128, 256], "time_dim": 128,
        "num_train_timesteps": 1000, "lr": 3e-4, "batch_size": 32, "steps": 5000, "ema_decay": 0.999,
        "checkpoint_every": 250, "precision": "fp32",
    },
    "paper": {
        # §2.5 widths and 512-d time embedding, T = 1000, Adam, batch 64, 200 epochs (the final models); the
        # notebooks used lr 1e-5 constant and no clipping. EMA is ours (the paper samples the raw weights).
        **_COMMON, "image_size": 32, "widths": [64, 128, 256, 512, 1024], "time_dim": 512,
        "num_train_timesteps": 1000, "lr": 1e-5, "batch_size": 64, "epochs": 200, "ema_decay": 0.9999,
        "grad_clip": None, "checkpoint_every": 2000,
    },
}


class DDPMPCam(Generator):
    name = "ddpm-pcam"
    description = "DDPM-PCam: an unconditional DDPM per class with the paper's plain U-Net (32 px PCam crops)."
    profiles: ClassVar[dict[str, dict[str, Any]]] = PROFILES
    sampling_options = ("sample_steps", "sample_batch", "clip_sample", "variance")
    distributed_fit = True  # every class model trains with the shared (DDP) trainer
    # --set types the profiles' values do not show: attention may be a list of blocks, sample_steps null.
    option_types: ClassVar[dict[str, tuple[Any, ...]]] = {
        "attention": (str, None, (list, int)), "sample_steps": (int, None),
    }

    def __init__(self, config: dict[str, Any], classes: Sequence[str]) -> None:
        super().__init__(config, classes)
        self._validate()
        self._check_class_folders()
        self.models: dict[int, nn.Module] = {}

    # -- configuration ---------------------------------------------------------------------------------------
    def _validate(self) -> None:
        c = self.config
        bad = self.option_error
        if c["schedule"] not in SCHEDULES:
            raise bad("schedule", f"choose one of {', '.join(SCHEDULES)}")
        if c["loss"] not in LOSSES:
            raise bad("loss", f"choose one of {', '.join(LOSSES)}")
        if c["variance"] not in ("beta", "posterior"):
            raise bad("variance", "choose beta (the paper's σ²=β) or posterior (σ²=β̃)")
        widths = c["widths"]
        if not isinstance(widths, list) or len(widths) < 2 or any(int(w) < 1 for w in widths):
            raise bad("widths", "give the encoder widths then the bottleneck width, e.g. [32, 64, 128, 256]")
        depth = len(widths) - 1
        if int(c["image_size"]) % (1 << depth):
            raise bad("image_size", f"must be divisible by 2**{depth} for {depth} down-sampling levels")
        if int(c["time_dim"]) % 2:
            raise bad("time_dim", "must be even (sin and cos halves)")
        positions = self.attention_positions()
        outputs = block_widths(widths)
        for p in positions:
            if p not in outputs:
                raise bad("attention", f"block {p} does not exist; blocks are numbered 1..{len(outputs)}")
            if outputs[p] % ATTENTION_HEADS:
                raise bad("attention", f"block {p} has width {outputs[p]}, not divisible by {ATTENTION_HEADS}")
        self.train_config()  # TrainConfig validates the budget, optimiser and precision
        self._validate_sampling()

    def _check_class_folders(self) -> None:
        """Each class trains in ``workdir/<slug>``: two classes sharing a slug would share (and clobber) one."""
        seen: dict[str, str] = {}
        for name in self.classes:
            folder = slug(name)
            if folder in seen:
                raise AugdiffError(
                    f"--data: classes {seen[folder]!r} and {name!r} both become the folder name {folder!r}, and "
                    "ddpm-pcam trains each class in its own folder; rename one of the two class folders"
                )
            seen[folder] = name

    def _validate_sampling(self) -> None:
        """Sampling options can change after a fit (``augment --steps``), so ``generate`` checks them again."""
        steps, T = self.config["sample_steps"], int(self.config["num_train_timesteps"])
        if steps is not None and not (isinstance(steps, int) and 1 <= steps <= T):
            raise AugdiffError(f"--steps {steps}: give 1..{T} DDIM steps (or leave it out for ancestral sampling)")
        if not isinstance(self.config["sample_batch"], int) or self.config["sample_batch"] < 1:
            raise AugdiffError(f"--set sample_batch={self.config['sample_batch']!r}: must be an integer ≥ 1")

    def attention_positions(self) -> list[int]:
        attention = self.config["attention"]
        depth = len(self.config["widths"]) - 1
        if attention in ("none", None):
            return []
        if attention == "self":
            return paper_attention_positions(depth)
        if isinstance(attention, list) and all(isinstance(p, int) for p in attention):
            return sorted(set(attention))
        raise AugdiffError(f"--set attention={attention!r}: use none, self or a list of block numbers like [2, 4]")

    def train_config(self) -> TrainConfig:
        return TrainConfig(**{k: self.config[k] for k in _TRAIN_KEYS})

    def build_model(self) -> PaperUNet:
        c = self.config
        return PaperUNet(c["widths"], time_dim=int(c["time_dim"]), attention=self.attention_positions(),
                         channels_last=bool(c["channels_last"]))

    def schedule(self) -> NoiseSchedule:
        return make_schedule(self.config["schedule"], int(self.config["num_train_timesteps"]))

    def _device(self) -> torch.device:
        return resolve_device(self.config["device"])

    def _autocast(self, device: torch.device) -> bool:
        return resolve_precision(self.config["precision"], device).name == "bf16"

    # -- training --------------------------------------------------------------------------------------------
    def train_class(
        self, images: np.ndarray, workdir: Path, *, seed: int, progress: Reporter = NullReporter()
    ) -> nn.Module:
        """Train (or resume) one class's model on ``images`` (uint8 NHWC); return its EMA model."""
        size = int(self.config["image_size"])
        if images.shape[1:3] != (size, size):
            raise AugdiffError(
                f"--size: ddpm-pcam is configured for {size} px images but got {images.shape[1]} px; drop --size "
                f"or --set image_size={images.shape[1]}"
            )
        dataset = ImageTensorDataset(images, hflip=bool(self.config["hflip"]))
        loss = DiffusionLoss(self.schedule(), loss=self.config["loss"])
        with seeded_init(seed, "init"):  # initial weights from the seed, not from global RNG state
            model = self.build_model()
        trainer = Trainer(model, loss, dataset, self.train_config(), workdir, seed=seed, progress=progress)
        trainer.fit()
        return trainer.ema_model

    def fit(self, train_set: Split, workdir: Path, *, seed: int, progress: Reporter = NullReporter()) -> None:
        for index, name in enumerate(self.classes):
            images = train_set.of_class(index).images
            if len(images) == 0:
                raise AugdiffError(f"--data: class '{name}' has no training images; ddpm-pcam trains one model "
                                   "per class")
            self.models[index] = self.train_class(
                images, Path(workdir) / slug(name), seed=derive_seed(seed, "ddpm-pcam", name),
                progress=PrefixedReporter(progress, name),
            )

    # -- sampling --------------------------------------------------------------------------------------------
    def sampler(self) -> DDPMSampler | DDIMSampler:
        schedule, steps = self.schedule(), self.config["sample_steps"]
        clip = bool(self.config["clip_sample"])
        if steps is None:
            s: DDPMSampler | DDIMSampler = DDPMSampler(schedule, variance=self.config["variance"], clip_sample=clip)
        else:
            s = DDIMSampler(schedule, eta=0.0, clip_sample=clip)
        s.set_timesteps(None if steps is None else int(steps))
        return s

    def sample_model(
        self, model: nn.Module, n: int, *, generator: torch.Generator, progress: Reporter = NullReporter()
    ) -> np.ndarray:
        """``n`` uint8 NHWC images from ``model``; the noise comes from ``generator`` (chunk by chunk)."""
        device = next(model.parameters()).device
        size = int(self.config["image_size"])
        x = sample(model, self.sampler(), (n, 3, size, size), generator=generator, device=device,
                   progress=progress, autocast=self._autocast(device),
                   batch_size=int(self.config["sample_batch"]))
        return to_uint8_images(x)

    def generate(
        self, n: int, *, cls: int | None = None, seed: int = 0, progress: Reporter = NullReporter()
    ) -> Samples:
        if not self.models:
            raise AugdiffError("ddpm-pcam has no trained models: run `augdiff fit ddpm-pcam` first")
        self._validate_sampling()
        steps = self.config["sample_steps"]
        method = "ancestral" if steps is None else f"ddim-{int(steps)}"
        parts = []
        for index, count in self.split_counts(n, cls):
            name = self.classes[index]
            # The sampling noise lives on the CPU so a seed gives the same images on any device.
            generator = torch_generator(seed, "ddpm-pcam", name)
            images = self.sample_model(self.models[index], count, generator=generator,
                                       progress=PrefixedReporter(progress, name))
            meta = [{"model": name, "sampler": method} for _ in range(count)]
            parts.append(Samples(images, one_hot([index] * count, len(self.classes)), meta))
        return Samples.concat(parts)

    def summary_files(self, generated: GeneratedSet) -> dict[str, bytes]:
        """``grid-<class>.png``: up to 64 samples of each class as a contact sheet, for a quick look."""
        labels = generated.probs().argmax(axis=1)
        return {
            f"grid-{slug(name)}.png": pictures.png_bytes(
                pictures.grid(generated.images(np.flatnonzero(labels == index)[:64]), 8, scale=2))
            for index, name in enumerate(self.classes)
            if (labels == index).any()
        }

    # -- persistence: config.json (base class) + one safetensors file of EMA weights per class --------------
    def _weights_path(self, directory: Path, index: int) -> Path:
        return Path(directory) / WEIGHTS_DIR / f"{index}-{slug(self.classes[index])}.safetensors"

    def save(self, directory: Path) -> None:
        super().save(directory)
        for index, model in self.models.items():
            save_weights(self._weights_path(directory, index), model,
                         metadata={"class": self.classes[index], "weights": "ema"})

    @classmethod
    def load(cls, directory: Path) -> DDPMPCam:
        gen = super().load(directory)
        assert isinstance(gen, DDPMPCam)
        device = gen._device()
        for index in range(len(gen.classes)):
            model = load_weights(gen.build_model(), gen._weights_path(directory, index), refit="augdiff fit ddpm-pcam")
            gen.models[index] = model.to(device).eval().requires_grad_(False)
        return gen
