"""The ``lofgan`` generator: LoFGAN (Gu et al., ICCV 2021) behind augdiff's fit / generate / label contract."""

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
from augdiff.seeding import torch_generator
from augdiff.weights import load_state, load_state_dicts, save_state_dicts
from augdiff_lofgan.networks import LoFGenerator, draw_fusion
from augdiff_lofgan.trainer import LoFGANSettings, LoFGANTrainer

WEIGHTS_FILE = "generator.pt"

# Loss weights, optimiser, k = 3 and rate = 0.5 are the authors' configs/*_lofgan.yaml (identical for all
# three of their datasets).
_COMMON: dict[str, Any] = {
    "k_shot": 3,
    "rate": 0.5,
    "lr": 1e-4,
    "weight_decay": 1e-4,
    "lr_decay": True,
    "w_adv": 1.0,
    "w_cls": 1.0,
    "w_recon": 0.5,
    "w_gp": 10.0,
    "hflip": True,
    "device": "auto",
    "sample_batch": 64,
}

PROFILES: dict[str, dict[str, Any]] = {
    # Seconds: 16 px, a 4×4 fusion grid (8 of 16 positions fused), 30 steps of 4 episodes.
    "smoke": {**_COMMON, "image_size": 16, "g_widths": [8, 16, 16], "d_widths": [8, 16, 32],
              "batch_size": 4, "steps": 30, "checkpoint_every": 10},
    # Sized for ~10-20 min on 2 CPU cores (0.5 s a step measured on a loaded core; the pcam-mini fit is still
    # to be timed): 32 px, the authors' 8×8 fusion grid, their first three G widths; D narrowed to 16-128: its
    # class-logit penalty (a double backward over k·B images) dominates the step. Batch 8 episodes as theirs.
    "cpu": {**_COMMON, "image_size": 32, "g_widths": [32, 64, 128], "d_widths": [16, 32, 64, 128],
            "batch_size": 8, "steps": 2000, "checkpoint_every": 250},
    # The authors' settings: 128 px, encoder 32-64-128-128-128 to an 8×8 grid, D 64 … 1024, 100k steps of
    # 8 episodes (about 30 h on a V100 by their README).
    "paper": {**_COMMON, "image_size": 128, "g_widths": [32, 64, 128, 128, 128],
              "d_widths": [64, 128, 256, 512, 1024], "batch_size": 8, "steps": 100_000,
              "checkpoint_every": 2000},
}


class LoFGAN(Generator):
    name = "lofgan"
    description = "LoFGAN (Gu et al. ICCV 2021): few-shot GAN fusing local features of k same-class references"
    profiles: ClassVar[dict[str, dict[str, Any]]] = PROFILES
    sampling_options: ClassVar[tuple[str, ...]] = ("sample_batch",)

    def __init__(self, config: dict[str, Any], classes: list[str]) -> None:
        super().__init__(config, classes)
        c = self.config
        for key in ("g_widths", "d_widths"):
            if not c[key] or any(int(w) < 1 for w in c[key]):
                raise self.option_error(key, "expected a non-empty list of positive layer widths")
        if len(c["d_widths"]) < 2:
            raise self.option_error("d_widths", "expected at least two widths (one downsampling block)")
        down = 2 ** (len(c["g_widths"]) - 1)
        size = int(c["image_size"])
        if size < down or size % down:
            raise self.option_error(
                "image_size", f"must be a multiple of {down}: g_widths has {len(c['g_widths']) - 1} stride-2 layers"
            )
        if int(c["k_shot"]) < 1:
            raise self.option_error("k_shot", "expected at least 1 reference image")
        if not 0.0 < float(c["rate"]) <= 1.0:
            raise self.option_error("rate", "the fraction of fused positions must be in (0, 1]")
        for key in ("batch_size", "steps", "sample_batch"):
            if int(c[key]) < 1:
                raise self.option_error(key, "expected a positive integer")
        self.model: LoFGenerator | None = None
        # The references generate() fuses: the training split, kept with the weights (LoFGAN needs real images).
        self.images = np.zeros((0, size, size, 3), np.uint8)
        self.labels = np.zeros(0, np.int64)
        self.ids: list[str] = []

    def _new_model(self) -> LoFGenerator:
        return LoFGenerator([int(w) for w in self.config["g_widths"]])

    # -- fit -------------------------------------------------------------------------------------------------
    def fit(self, train_set: Split, workdir: Path, *, seed: int, progress: Reporter = NullReporter()) -> None:
        size, k = int(self.config["image_size"]), int(self.config["k_shot"])
        if train_set.image_size != size:
            raise AugdiffError(
                f"--size: lofgan's image_size is {size} px but the data is {train_set.image_size} px; "
                f"drop --size or pass --set image_size={train_set.image_size}"
            )
        for i, name in enumerate(self.classes):
            count = int((train_set.labels == i).sum())
            if count == 0:
                raise AugdiffError(f"--data: class '{name}' has no training images; lofgan needs references of each")
            if count < k:
                raise AugdiffError(
                    f"--set k_shot={k}: class '{name}' has {count} training images; LoFGAN fuses k distinct "
                    f"references of one class, so pass --set k_shot={count} or add images"
                )
        trainer = LoFGANTrainer(
            LoFGANSettings.from_config(self.config), train_set.images, train_set.labels, Path(workdir),
            num_classes=len(self.classes), seed=seed, progress=progress,
        )
        self.model = trainer.fit().cpu().eval()
        self.images, self.labels, self.ids = train_set.images, np.asarray(train_set.labels), list(train_set.ids)

    # -- generate --------------------------------------------------------------------------------------------
    @torch.no_grad()
    def generate(
        self, n: int, *, cls: int | None = None, seed: int = 0, progress: Reporter = NullReporter()
    ) -> Samples:
        if self.model is None:
            raise AugdiffError("lofgan: no fitted weights; run `augdiff fit lofgan` first")
        device = resolve_device(self.config["device"])
        model = self.model.to(device).eval()  # eval: BatchNorm's running statistics, as the authors' test.py
        with progress.task("lofgan sampling", total=n) as task:
            parts = [
                self._class_samples(model, c, count, seed, device, task) for c, count in self.split_counts(n, cls)
            ]
        model.cpu()
        return Samples.concat(parts)

    def _class_samples(
        self, model: LoFGenerator, c: int, count: int, seed: int, device: torch.device, task: Task
    ) -> Samples:
        k, rate = int(self.config["k_shot"]), float(self.config["rate"])
        grid = model.feature_size(int(self.config["image_size"]))
        pool = np.flatnonzero(self.labels == c)
        if len(pool) < k:
            raise AugdiffError(f"lofgan: class '{self.classes[c]}' has {len(pool)} stored images, k_shot={k}")
        g = torch_generator(seed, "lofgan-sample", c)
        meta: list[dict[str, Any]] = []

        def draw(b: int) -> torch.Tensor:
            # Each image fuses its own k distinct references of class c (base first), drawn from the seed.
            picks = [pool[torch.randperm(len(pool), generator=g)[:k].numpy()] for _ in range(b)]
            refs = torch.from_numpy(self.images[np.stack(picks)]).float().div_(127.5).sub_(1.0)
            coeffs, positions = draw_fusion(b, k, grid**2, rate, g)
            meta.extend({"references": [self.ids[i] for i in p]} for p in picks)
            return model(refs.permute(0, 1, 4, 2, 3).to(device), coeffs.to(device), positions.to(device))[0]

        images = sample_in_batches(count, int(self.config["sample_batch"]), draw, task.advance)
        return Samples(images, one_hot([c] * count, len(self.classes)), meta)

    # -- persistence -----------------------------------------------------------------------------------------
    def save(self, directory: Path) -> None:
        super().save(directory)
        if self.model is None:
            raise AugdiffError("lofgan: nothing to save; fit first")
        save_state_dicts(Path(directory) / WEIGHTS_FILE, {
            "G": self.model.state_dict(),
            "images": torch.from_numpy(np.ascontiguousarray(self.images)),
            "labels": torch.from_numpy(np.asarray(self.labels, dtype=np.int64)),
            "ids": list(self.ids),
        })

    @classmethod
    def load(cls, directory: Path) -> LoFGAN:
        gen = super().load(directory)
        assert isinstance(gen, LoFGAN)
        path = Path(directory) / WEIGHTS_FILE
        state = load_state_dicts(path, missing="missing LoFGAN weights; re-run `augdiff fit lofgan`")
        gen.model = load_state(gen._new_model(), state["G"], path).eval()
        gen.images, gen.labels, gen.ids = state["images"].numpy(), state["labels"].numpy(), list(state["ids"])
        return gen
