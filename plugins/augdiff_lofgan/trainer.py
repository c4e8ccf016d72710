"""LoFGAN's training loop: episodes of k same-class references, one D and one G update per episode batch.

As in the authors' ``train.py``, each step draws ``batch_size`` episodes (a uniformly random class, then k
distinct images of it), updates D on them and then G on the same episodes, with Adam (lr 1e-4, L2 weight decay
1e-4) and a learning rate that decays linearly to zero over the second half of training.

All randomness (episodes, flips, fusion coefficients and positions) comes from one ``torch.Generator`` saved in
each checkpoint with the networks, optimisers and step, so a killed fit resumed gives the uninterrupted weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from augdiff.devices import resolve_device
from augdiff.progress import NullReporter, Reporter
from augdiff.seeding import seeded_init, torch_generator
from augdiff.training.checkpoint import resume_modules, save_modules
from augdiff.training.config import settings_from_config
from augdiff_lofgan.losses import class_logit_penalty, d_hinge, g_hinge, local_reconstruction_loss
from augdiff_lofgan.networks import LoFDiscriminator, LoFGenerator, draw_fusion


@dataclass
class LoFGANSettings:
    """The training knobs (a subset of the plugin config, which adds sampling choices)."""

    image_size: int = 128
    g_widths: tuple[int, ...] = (32, 64, 128, 128, 128)
    d_widths: tuple[int, ...] = (64, 128, 256, 512, 1024)
    k_shot: int = 3
    rate: float = 0.5
    batch_size: int = 8
    steps: int = 100_000
    lr: float = 1e-4
    weight_decay: float = 1e-4
    lr_decay: bool = True
    w_adv: float = 1.0
    w_cls: float = 1.0
    w_recon: float = 0.5
    w_gp: float = 10.0
    hflip: bool = True
    checkpoint_every: int = 1000
    device: str = "auto"

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> LoFGANSettings:
        return settings_from_config(cls, config, {"g_widths": int, "d_widths": int})


def learning_rate(step: int, settings: LoFGANSettings) -> float:
    """Constant, then linear decay to 0 over the second half (the authors' ``update_lr``), from the step alone."""
    half = settings.steps // 2
    if not settings.lr_decay or step <= half:
        return settings.lr
    return settings.lr * max(0.0, 1.0 - (step - half) / max(1, settings.steps - half))


class LoFGANTrainer:
    """Trains one LoFGAN on uint8 NHWC images with integer labels; ``fit()`` returns the generator."""

    def __init__(
        self,
        settings: LoFGANSettings,
        images: np.ndarray,
        labels: np.ndarray,
        workdir: Path,
        *,
        num_classes: int,
        seed: int,
        progress: Reporter = NullReporter(),
        name: str = "lofgan",
    ) -> None:
        if images.shape[1] != settings.image_size:
            raise ValueError(f"images are {images.shape[1]} px but image_size is {settings.image_size}")
        self.s, self.workdir, self.progress, self.name = settings, Path(workdir), progress, name
        self.device = resolve_device(settings.device)
        self.images = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).contiguous()
        labels = np.asarray(labels, dtype=np.int64)
        # Episodes draw from classes that can fill one: k distinct images (the generator checks every class does).
        self.by_class = [torch.from_numpy(np.flatnonzero(labels == c)) for c in range(num_classes)]
        self.episode_classes = [c for c, idx in enumerate(self.by_class) if len(idx) >= settings.k_shot]
        if not self.episode_classes:
            raise ValueError(f"no class has k_shot={settings.k_shot} images")
        self.rng = torch_generator(seed, "lofgan-train")
        with seeded_init(seed, "lofgan-init"):  # initial weights follow the seed, not the global RNG
            self.G = LoFGenerator(list(settings.g_widths)).to(self.device)
            self.D = LoFDiscriminator(list(settings.d_widths), num_classes).to(self.device)
        self.grid = self.G.feature_size(settings.image_size)
        kw = {"lr": settings.lr, "weight_decay": settings.weight_decay}  # Adam's default betas, as the authors
        self.opt_g = torch.optim.Adam(self.G.parameters(), **kw)
        self.opt_d = torch.optim.Adam(self.D.parameters(), **kw)
        self.step = 0

    # -- checkpoints ---------------------------------------------------------------------------------------
    def _modules(self) -> dict[str, Any]:
        return {"G": self.G, "D": self.D, "opt_g": self.opt_g, "opt_d": self.opt_d}

    def _resume(self) -> None:
        state = resume_modules(self.workdir, self._modules(), self.rng)
        if state is not None:
            self.step = int(state["step"])

    def _save(self) -> None:
        save_modules(
            self.workdir, self.step, self._modules(), self.rng, episodes_seen=self.step * self.s.batch_size,
            lr=learning_rate(max(self.step - 1, 0), self.s),
        )

    # -- training ------------------------------------------------------------------------------------------
    def episodes(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``batch_size`` episodes: (B, k, 3, H, W) references in [-1, 1] and their classes (B,)."""
        s, rng = self.s, self.rng
        pick = torch.randint(len(self.episode_classes), (s.batch_size,), generator=rng)
        classes = torch.tensor([self.episode_classes[int(i)] for i in pick], dtype=torch.int64)
        # k distinct images in random order: the first is the base, so a random base index as in the paper.
        index = torch.stack([
            self.by_class[int(c)][torch.randperm(len(self.by_class[int(c)]), generator=rng)[: s.k_shot]]
            for c in classes
        ])
        x = self.images[index.flatten()].float().div_(127.5).sub_(1.0)
        if s.hflip:  # histology has no canonical orientation (the authors' face/animal data get no flips)
            flip = torch.rand(len(x), generator=rng) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        return x.view(s.batch_size, s.k_shot, *x.shape[1:]).to(self.device), classes.to(self.device)

    def _fusion(self) -> tuple[torch.Tensor, torch.Tensor]:
        coeffs, positions = draw_fusion(self.s.batch_size, self.s.k_shot, self.grid**2, self.s.rate, self.rng)
        return coeffs.to(self.device), positions.to(self.device)

    def train_step(self) -> dict[str, float]:
        s = self.s
        for opt in (self.opt_g, self.opt_d):
            for group in opt.param_groups:
                group["lr"] = learning_rate(self.step, s)
        refs, y = self.episodes()

        # D: hinge on the k·B references and on G's fusions of them, class head and its penalty on the reals.
        real = refs.flatten(0, 1).detach().requires_grad_(True)
        y_real = y.repeat_interleave(s.k_shot)
        real_adv, real_cls = self.D(real)
        with torch.no_grad():
            fake, _ = self.G(refs, *self._fusion())
        fake_adv, _ = self.D(fake)
        loss_real, loss_fake = d_hinge(real_adv, fake_adv)
        penalty = class_logit_penalty(real_cls, y_real, real)
        cls_real = F.cross_entropy(real_cls, y_real)
        d_loss = s.w_adv * (loss_real + loss_fake) + s.w_gp * penalty + s.w_cls * cls_real
        self.opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        self.opt_d.step()

        # G: fool D, be classified as the references' class, and reproduce the fusion at the grid scale.
        coeffs, positions = self._fusion()
        self.D.requires_grad_(False)
        fake, ref_positions = self.G(refs, coeffs, positions)
        fake_adv, fake_cls = self.D(fake)
        adv = g_hinge(fake_adv)
        cls_fake = F.cross_entropy(fake_cls, y)
        recon = local_reconstruction_loss(refs, fake, coeffs, positions, ref_positions, self.grid)
        g_loss = s.w_adv * adv + s.w_cls * cls_fake + s.w_recon * recon
        self.opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        self.opt_g.step()
        self.D.requires_grad_(True)
        return {"d_loss": d_loss.item(), "g_adv": adv.item(), "g_cls": cls_fake.item(), "lrl": recon.item(),
                "d_cls": cls_real.item()}

    def fit(self) -> LoFGenerator:
        self._resume()
        self.G.train()
        self.D.train()
        every = max(1, self.s.checkpoint_every)
        with self.progress.task(self.name, total=self.s.steps) as task:
            if self.step:
                task.advance(self.step)
            while self.step < self.s.steps:
                info = self.train_step()
                self.step += 1
                task.advance(1, **{k: round(v, 4) for k, v in info.items()})
                if self.step % every == 0 or self.step == self.s.steps:
                    self._save()
        return self.G.eval()
