"""The ``progan`` generator: ProGAN (Karras et al. 2018) behind augdiff's fit / generate / label contract."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from augdiff.data.spec import Split
from augdiff.devices import resolve_device
from augdiff.errors import AugdiffError
from augdiff.generator import Generator, Samples, one_hot
from augdiff.pictures import sample_in_batches
from augdiff.progress import NullReporter, Reporter, Task
from augdiff.seeding import derive_seed, torch_generator
from augdiff.weights import load_state, load_state_dicts, save_state_dicts
from augdiff_progan.networks import ProGenerator
from augdiff_progan.trainer import ProGANSettings, ProGANTrainer, build_generator

WEIGHTS_FILE = "generator.pt"

_COMMON: dict[str, Any] = {
    "per_class": False,  # False: one class-conditional model; True: one unconditional model per class
    "mbstd_group": 4,
    "lr": 1e-3,
    "betas": [0.0, 0.99],
    "gp_weight": 10.0,
    "drift": 0.001,
    "reset_optimizer": True,
    "hflip": True,
    "device": "auto",
    "sample_batch": 256,
}

PROFILES: dict[str, dict[str, Any]] = {
    # Seconds: 16 px (4 → 8 → 16, five phases of two steps), a few hundred parameters per layer.
    "smoke": {**_COMMON, "image_size": 16, "latent_dim": 32, "fmap_base": 128, "fmap_max": 32,
              "phase_images": 32, "batch_size": 16, "ema_decay": 0.9, "checkpoint_every": 4,
              "precision": "fp32"},
    # ~15-20 min on 2 CPU cores: 32 px, 64-wide layers, seven phases of 500 steps. fp32: with these small
    # tensors bf16 autocast measured slower than fp32 on CPU. EMA 0.99 (a ~100-step horizon): with 500 steps a
    # phase, 0.999 would still be mostly the initial weights of each newly grown block.
    "cpu": {**_COMMON, "image_size": 32, "latent_dim": 128, "fmap_base": 512, "fmap_max": 64,
            "phase_images": 16_000, "batch_size": 32, "ema_decay": 0.99, "checkpoint_every": 250,
            "precision": "fp32"},
    # The official / gan-lab settings: 512-d latent, nf = min(8192 / 2^stage, 512), 600k images per phase,
    # batch 64, grown to 256 px (the ADD paper's resolution) on a GPU.
    "paper": {**_COMMON, "image_size": 256, "latent_dim": 512, "fmap_base": 8192, "fmap_max": 512,
              "phase_images": 600_000, "batch_size": 64, "ema_decay": 0.999, "checkpoint_every": 1000,
              "precision": "fp32"},
}


class ProGAN(Generator):
    name = "progan"
    description = "ProGAN (Karras et al. 2018): progressive growing, WGAN-GP, equalised LR, EMA generator"
    profiles: ClassVar[dict[str, dict[str, Any]]] = PROFILES
    sampling_options: ClassVar[tuple[str, ...]] = ("sample_batch",)

    def __init__(self, config: dict[str, Any], classes: list[str]) -> None:
        super().__init__(config, classes)
        size = int(self.config["image_size"])
        if size < 4 or size & (size - 1):
            raise AugdiffError(
                f"--set image_size={size}: ProGAN grows by doubling from 4 px; use 8, 16, 32, 64, 128 or 256"
            )
        self.models: list[ProGenerator] = []  # one conditional model, or one per class

    @property
    def per_class(self) -> bool:
        return bool(self.config["per_class"])

    def _model_keys(self) -> list[str]:
        return [f"class-{i}" for i in range(len(self.classes))] if self.per_class else ["all"]

    def _new_models(self) -> list[ProGenerator]:
        num_classes = None if self.per_class else len(self.classes)
        return [build_generator(self.config, num_classes) for _ in self._model_keys()]

    # -- fit -------------------------------------------------------------------------------------------------
    def fit(self, train_set: Split, workdir: Path, *, seed: int, progress: Reporter = NullReporter()) -> None:
        size = int(self.config["image_size"])
        if train_set.image_size != size:
            raise AugdiffError(
                f"--size: progan's image_size is {size} px but the data is {train_set.image_size} px; "
                f"drop --size or pass --set image_size={train_set.image_size}"
            )
        settings = ProGANSettings.from_config(self.config)
        jobs: list[tuple[str, np.ndarray, np.ndarray | None, int | None]] = []
        if self.per_class:
            for i, name in enumerate(self.classes):
                part = train_set.of_class(i)
                if len(part) == 0:
                    raise AugdiffError(f"--set per_class=true: class '{name}' has no training images")
                jobs.append((f"class-{i}", part.images, None, None))
        else:
            jobs.append(("all", train_set.images, train_set.labels, len(self.classes)))
        self.models = []
        for key, images, labels, num_classes in jobs:
            trainer = ProGANTrainer(
                settings, images, labels, Path(workdir) / key, num_classes=num_classes,
                seed=derive_seed(seed, "progan", key), progress=progress,
                name="progan" if key == "all" else f"progan[{self.classes[int(key.split('-')[1])]}]",
            )
            self.models.append(trainer.fit().cpu().eval())

    # -- generate --------------------------------------------------------------------------------------------
    @torch.no_grad()
    def generate(
        self, n: int, *, cls: int | None = None, seed: int = 0, progress: Reporter = NullReporter()
    ) -> Samples:
        if not self.models:
            raise AugdiffError("progan: no fitted weights; run `augdiff fit progan` first")
        device = resolve_device(self.config["device"])
        with progress.task("progan sampling", total=n) as task:
            parts = [self._class_samples(c, count, seed, device, task) for c, count in self.split_counts(n, cls)]
        return Samples.concat(parts)

    def _class_samples(self, c: int, count: int, seed: int, device: torch.device, task: Task) -> Samples:
        model = (self.models[c] if self.per_class else self.models[0]).to(device)
        g = torch_generator(seed, "progan-sample", c)

        def draw(b: int) -> torch.Tensor:
            z = torch.randn(b, model.latent_dim, generator=g).to(device)
            y = None if self.per_class else torch.full((b,), c, dtype=torch.int64, device=device)
            return model(z, y)

        images = sample_in_batches(count, max(1, int(self.config["sample_batch"])), draw, task.advance)
        model.cpu()
        return Samples(images, one_hot([c] * count, len(self.classes)))

    # -- persistence -----------------------------------------------------------------------------------------
    def save(self, directory: Path) -> None:
        super().save(directory)
        states = {key: model.state_dict() for key, model in zip(self._model_keys(), self.models)}
        save_state_dicts(Path(directory) / WEIGHTS_FILE, states)

    @classmethod
    def load(cls, directory: Path) -> ProGAN:
        gen = super().load(directory)
        assert isinstance(gen, ProGAN)
        path = Path(directory) / WEIGHTS_FILE
        state = load_state_dicts(path, missing="missing ProGAN weights; re-run `augdiff fit progan`")
        gen.models = [load_state(m, state[k], path).eval() for k, m in zip(gen._model_keys(), gen._new_models())]
        return gen
