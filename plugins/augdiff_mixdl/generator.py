"""The ``mixdl`` generator: MixDL (Kong et al., ECCV 2022) behind augdiff's fit / generate / label contract.

One unconditional model per class, trained one after another (``work/class-<i>/``): MixDL is an unconditional
few-shot method, and mixing anchors of two classes would make in-between images with no class to label them by.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, ClassVar

import torch

from augdiff.data.spec import Split
from augdiff.devices import resolve_device
from augdiff.errors import AugdiffError
from augdiff.generator import Generator, Samples, one_hot
from augdiff.pictures import sample_in_batches
from augdiff.progress import NullReporter, Reporter, Task
from augdiff.seeding import derive_seed, torch_generator
from augdiff.weights import load_state, load_state_dicts, save_state_dicts
from augdiff_mixdl.networks import MixGenerator
from augdiff_mixdl.trainer import MixDLSettings, MixDLTrainer, build_generator

WEIGHTS_FILE = "generator.pt"

# The authors' train_mixdl.py defaults: lr 0.002, R1 γ = 10 every 16 steps, a mixup step every 2nd step,
# KL weights 1000 (G) and 1 (D), Dirichlet(1) coefficients, softmax with τ = 1, horizontal flips.
_COMMON: dict[str, Any] = {
    "lr": 0.002,
    "r1": 10.0,
    "d_reg_every": 16,
    "mixup_every": 2,
    "kl_weight": 1000.0,
    "d_kl_weight": 1.0,
    "concentration": 1.0,
    "temperature": 1.0,
    "mbstd_group": 4,
    "hflip": True,
    "device": "auto",
    "sample_batch": 64,
}

PROFILES: dict[str, dict[str, Any]] = {
    # Seconds: 16 px, 32-d latent, 16-32 channels, 20 steps per class of batch 4.
    "smoke": {**_COMMON, "image_size": 16, "latent_dim": 32, "n_mlp": 2, "fmap_base": 256, "fmap_max": 32,
              "batch_size": 4, "steps": 20, "d_reg_every": 4, "patch_resolutions": [8], "ema_decay": 0.9,
              "checkpoint_every": 10},
    # ~10-20 min on 2 CPU cores for both classes (not yet measured on pcam-mini): 32 px, 32-128 channels,
    # 1500 steps of batch 8 per class; EMA 0.99 (a ~100-step horizon) suits a run this short.
    "cpu": {**_COMMON, "image_size": 32, "latent_dim": 128, "n_mlp": 4, "fmap_base": 1024, "fmap_max": 128,
            "batch_size": 8, "steps": 1500, "patch_resolutions": [16, 8], "ema_decay": 0.99,
            "checkpoint_every": 250},
    # The authors' StyleGAN2 run: 256 px, config-f widths, 8-layer mapping, batch 4, 150k steps, patch heads
    # on the 32 and 16 px maps, EMA half-life of 10k images (0.5^(32/10⁴) per step as rosinality's trainer).
    "paper": {**_COMMON, "image_size": 256, "latent_dim": 512, "n_mlp": 8, "fmap_base": 32768, "fmap_max": 512,
              "batch_size": 4, "steps": 150_000, "patch_resolutions": [32, 16],
              "ema_decay": 0.5 ** (32 / 10_000), "checkpoint_every": 2000},
}


class MixDL(Generator):
    name = "mixdl"
    description = "MixDL (Kong et al. ECCV 2022): StyleGAN2 per class with mixup-based distance regularisation"
    profiles: ClassVar[dict[str, dict[str, Any]]] = PROFILES
    sampling_options: ClassVar[tuple[str, ...]] = ("sample_batch",)
    option_types: ClassVar[dict[str, tuple[Any, ...]]] = {"patch_resolutions": ((list, int),)}

    def __init__(self, config: dict[str, Any], classes: list[str]) -> None:
        super().__init__(config, classes)
        c = self.config
        size = int(c["image_size"])
        if size < 8 or size & (size - 1):
            raise self.option_error("image_size", "StyleGAN2 grows by doubling from 4 px; use 8, 16, 32, … 256")
        inner = [4 * 2**i for i in range(1, int(math.log2(size)) - 2)]  # D's inner maps: 8 … size/2
        bad = [r for r in c["patch_resolutions"] if r not in inner]
        if bad:
            raise self.option_error(
                "patch_resolutions", f"{bad} not among the discriminator's inner maps {inner} at {size} px"
            )
        for key in ("batch_size", "steps", "latent_dim", "n_mlp", "sample_batch", "fmap_base", "fmap_max"):
            if int(c[key]) < 1:
                raise self.option_error(key, "expected a positive integer")
        if int(c["batch_size"]) < 2:
            raise self.option_error("batch_size", "mixup needs at least 2 anchors per batch")
        for key in ("temperature", "concentration"):
            if float(c[key]) <= 0:
                raise self.option_error(key, "expected a positive number")
        if not 0.0 <= float(c["ema_decay"]) <= 1.0:
            raise self.option_error("ema_decay", "expected a number in [0, 1]")
        self.models: list[MixGenerator] = []  # one per class

    def _model_keys(self) -> list[str]:
        return [f"class-{i}" for i in range(len(self.classes))]

    # -- fit -------------------------------------------------------------------------------------------------
    def fit(self, train_set: Split, workdir: Path, *, seed: int, progress: Reporter = NullReporter()) -> None:
        size = int(self.config["image_size"])
        if train_set.image_size != size:
            raise AugdiffError(
                f"--size: mixdl's image_size is {size} px but the data is {train_set.image_size} px; "
                f"drop --size or pass --set image_size={train_set.image_size}"
            )
        settings = MixDLSettings.from_config(self.config)
        parts = []
        for i, name in enumerate(self.classes):
            part = train_set.of_class(i)
            if len(part) == 0:
                raise AugdiffError(f"--data: class '{name}' has no training images; mixdl fits one model per class")
            parts.append(part)
        self.models = []
        for key, (name, part) in zip(self._model_keys(), zip(self.classes, parts)):
            trainer = MixDLTrainer(settings, part.images, Path(workdir) / key, seed=derive_seed(seed, "mixdl", key),
                                   progress=progress, name=f"mixdl[{name}]")
            self.models.append(trainer.fit().cpu().eval())

    # -- generate --------------------------------------------------------------------------------------------
    @torch.no_grad()
    def generate(
        self, n: int, *, cls: int | None = None, seed: int = 0, progress: Reporter = NullReporter()
    ) -> Samples:
        if not self.models:
            raise AugdiffError("mixdl: no fitted weights; run `augdiff fit mixdl` first")
        device = resolve_device(self.config["device"])
        with progress.task("mixdl sampling", total=n) as task:
            parts = [self._class_samples(c, count, seed, device, task) for c, count in self.split_counts(n, cls)]
        return Samples.concat(parts)

    def _class_samples(self, c: int, count: int, seed: int, device: torch.device, task: Task) -> Samples:
        model = self.models[c].to(device)
        g = torch_generator(seed, "mixdl-sample", c)

        def draw(b: int) -> torch.Tensor:
            z = torch.randn(b, model.latent_dim, generator=g)
            # Noise comes from the same seeded CPU stream; no truncation, as the authors' generate().
            return model.synthesis(model.map(z.to(device)), generator=g)[0]

        images = sample_in_batches(count, int(self.config["sample_batch"]), draw, task.advance)
        model.cpu()
        return Samples(images, one_hot([c] * count, len(self.classes)))

    # -- persistence -----------------------------------------------------------------------------------------
    def save(self, directory: Path) -> None:
        super().save(directory)
        states = {key: model.state_dict() for key, model in zip(self._model_keys(), self.models)}
        save_state_dicts(Path(directory) / WEIGHTS_FILE, states)

    @classmethod
    def load(cls, directory: Path) -> MixDL:
        gen = super().load(directory)
        assert isinstance(gen, MixDL)
        path = Path(directory) / WEIGHTS_FILE
        state = load_state_dicts(path, missing="missing MixDL weights; re-run `augdiff fit mixdl`")
        gen.models = [load_state(build_generator(gen.config), state[k], path).eval() for k in gen._model_keys()]
        return gen
