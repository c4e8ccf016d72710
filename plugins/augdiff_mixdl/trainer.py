"""MixDL's training loop (the authors' ``train_mixdl.py``, re-implemented): a StyleGAN2 step with, on every
``mixup_every``-th step, the mixup-based distance losses for G and D and patch-level adversarial scores.

Plain step: D minimises the logistic loss on reals and fakes, G the non-saturating loss. Mixup step: B anchor
latents are mixed with Dirichlet coefficients c (B × B); D scores reals and the *mixed* images with one randomly
chosen patch head (a mixed image has no real counterpart, so only its patches are asked to look real — CDC's
anchor idea, as the authors' code does) and adds its own distance loss on projected features of
[anchors, mixed]; G adds ``kl_weight`` × its distance loss on one random intermediate layer per mixed sample.
R1 every ``d_reg_every`` steps (lazy regularisation, with Adam's lr and betas adjusted for D as StyleGAN2).

Everything random comes from one ``torch.Generator`` saved in each checkpoint, so a killed fit resumed gives the
uninterrupted weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from augdiff.devices import resolve_device
from augdiff.progress import NullReporter, Reporter
from augdiff.seeding import seeded_init, torch_generator
from augdiff.training.checkpoint import resume_modules, save_modules
from augdiff.training.config import settings_from_config
from augdiff.training.ema import EMA
from augdiff_mixdl.losses import (
    cosine_matrix,
    d_logistic,
    distance_loss,
    g_nonsaturating,
    generator_similarities,
    mixup_coefficients,
    r1_penalty,
)
from augdiff_mixdl.networks import MixDiscriminator, MixGenerator


@dataclass
class MixDLSettings:
    """The training knobs (a subset of the plugin config, which adds sampling and conditioning choices)."""

    image_size: int = 256
    latent_dim: int = 512
    n_mlp: int = 8
    fmap_base: int = 32768
    fmap_max: int = 512
    batch_size: int = 4
    steps: int = 150_000
    lr: float = 0.002
    r1: float = 10.0
    d_reg_every: int = 16
    mixup_every: int = 2
    kl_weight: float = 1000.0
    d_kl_weight: float = 1.0
    concentration: float = 1.0
    temperature: float = 1.0
    patch_resolutions: tuple[int, ...] = (32, 16)
    mbstd_group: int = 4
    ema_decay: float = 0.99778
    hflip: bool = True
    checkpoint_every: int = 1000
    device: str = "auto"

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> MixDLSettings:
        return settings_from_config(cls, config, {"patch_resolutions": int})


def build_generator(config: dict[str, Any]) -> MixGenerator:
    return MixGenerator(int(config["image_size"]), latent_dim=int(config["latent_dim"]), n_mlp=int(config["n_mlp"]),
                        fmap_base=int(config["fmap_base"]), fmap_max=int(config["fmap_max"]))


class MixDLTrainer:
    """Trains one unconditional MixDL GAN on uint8 NHWC images; ``fit()`` returns the EMA generator."""

    def __init__(
        self,
        settings: MixDLSettings,
        images: np.ndarray,
        workdir: Path,
        *,
        seed: int,
        progress: Reporter = NullReporter(),
        name: str = "mixdl",
    ) -> None:
        if images.shape[1] != settings.image_size:
            raise ValueError(f"images are {images.shape[1]} px but image_size is {settings.image_size}")
        self.s, self.workdir, self.progress, self.name = settings, Path(workdir), progress, name
        self.device = resolve_device(settings.device)
        self.images = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).contiguous()
        self.rng = torch_generator(seed, "mixdl-train")
        with seeded_init(seed, "mixdl-init"):  # initial weights follow the seed, not the global RNG
            self.G = build_generator(vars(settings)).to(self.device)
            self.D = MixDiscriminator(
                settings.image_size, fmap_base=settings.fmap_base, fmap_max=settings.fmap_max,
                patch_resolutions=settings.patch_resolutions, mbstd_group=settings.mbstd_group,
            ).to(self.device)
        # Warm-up EMA (decay grows to ema_decay): short CPU runs would otherwise sample near-initial weights.
        self.ema = EMA(self.G, settings.ema_decay, warmup=True)
        # StyleGAN2's lazy regularisation: D's lr and betas scaled by k/(k + 1) for an R1 step every k steps.
        ratio = settings.d_reg_every / (settings.d_reg_every + 1)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=settings.lr, betas=(0.0, 0.99))
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=settings.lr * ratio, betas=(0.0, 0.99**ratio))
        self.step = 0

    # -- checkpoints ---------------------------------------------------------------------------------------
    def _modules(self) -> dict[str, Any]:
        return {"G": self.G, "D": self.D, "G_ema": self.ema, "opt_g": self.opt_g, "opt_d": self.opt_d}

    def _resume(self) -> None:
        state = resume_modules(self.workdir, self._modules(), self.rng)
        if state is not None:
            self.step = int(state["step"])

    def _save(self) -> None:
        images_seen = self.step * self.s.batch_size
        save_modules(self.workdir, self.step, self._modules(), self.rng, images_seen=images_seen)

    # -- training ------------------------------------------------------------------------------------------
    def _batch(self) -> torch.Tensor:
        idx = torch.randint(len(self.images), (self.s.batch_size,), generator=self.rng)
        x = self.images[idx].float().div_(127.5).sub_(1.0)
        if self.s.hflip:  # the authors' RandomHorizontalFlip
            flip = torch.rand(len(idx), generator=self.rng) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        return x.to(self.device)

    def _latents(self) -> torch.Tensor:
        return torch.randn(self.s.batch_size, self.s.latent_dim, generator=self.rng).to(self.device)

    def _noise_generator(self) -> torch.Generator:
        # G's per-pixel noise is drawn on the training device: on CPU from the data stream itself, on CUDA from
        # a device generator seeded from it (reproducible, and checkpointed through the stream's state).
        if self.device.type == "cpu":
            return self.rng
        g = torch.Generator(device=self.device)
        g.manual_seed(int(torch.randint(2**62, (1,), generator=self.rng)))
        return g

    def _patch_level(self) -> int | None:
        if not self.s.patch_resolutions:
            return None
        return int(torch.randint(len(self.s.patch_resolutions), (1,), generator=self.rng))

    def train_step(self) -> dict[str, float]:
        s, b = self.s, self.s.batch_size
        mix = s.mixup_every > 0 and self.step % s.mixup_every == 0
        info: dict[str, float] = {}
        real = self._batch()

        # -- D ----------------------------------------------------------------------------------------------
        self.G.requires_grad_(False)
        if mix:
            level = self._patch_level()
            coeffs = mixup_coefficients(b, b, s.concentration, self.rng).to(self.device)
            z, noise = self._latents(), self._noise_generator()
            with torch.no_grad():
                w = self.G.map(z)
                anchors = self.G.synthesis(w, generator=noise)[0]
                mixed = self.G.synthesis(coeffs @ w, generator=noise)[0]
            d_loss = d_logistic(self.D(real, patch=level), self.D(mixed, patch=level))
            feats = self.D.similarity_features(torch.cat([anchors, mixed]))
            d_dist = distance_loss(cosine_matrix(feats[b:], feats[:b]), coeffs, s.temperature)
            d_loss = d_loss + s.d_kl_weight * d_dist
            info["d_dist"] = d_dist.item()
        else:
            with torch.no_grad():
                fake = self.G(self._latents(), generator=self._noise_generator())
            d_loss = d_logistic(self.D(real), self.D(fake))
        self.opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        self.opt_d.step()
        info["d_loss"] = d_loss.item()

        if s.d_reg_every > 0 and self.step % s.d_reg_every == 0:
            real = real.detach().requires_grad_(True)
            r1 = r1_penalty(self.D(real), real)
            self.opt_d.zero_grad(set_to_none=True)
            (s.r1 / 2 * r1 * s.d_reg_every).backward()
            self.opt_d.step()
            info["r1"] = r1.item()

        # -- G ----------------------------------------------------------------------------------------------
        self.G.requires_grad_(True)
        self.D.requires_grad_(False)
        noise = self._noise_generator()
        if mix:
            w = self.G.map(self._latents())
            _, anchor_feats = self.G.synthesis(w, generator=noise, return_feats=True)
            mixed, mixed_feats = self.G.synthesis(coeffs @ w, generator=noise, return_feats=True)
            g_loss = g_nonsaturating(self.D(mixed, patch=self._patch_level()))
            # One layer per mixed sample, excluding the first (4×4) and the last conv, as the authors' feat_ind.
            layers = torch.randint(1, max(2, self.G.num_layers - 1), (b,), generator=self.rng)
            g_dist = distance_loss(generator_similarities(mixed_feats, anchor_feats, layers), coeffs, s.temperature)
            g_loss = g_loss + s.kl_weight * g_dist
            info["g_dist"] = g_dist.item()
        else:
            g_loss = g_nonsaturating(self.D(self.G(self._latents(), generator=noise)))
        self.opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        self.opt_g.step()
        self.D.requires_grad_(True)
        self.ema.update(self.G)
        info["g_loss"] = g_loss.item()
        return info

    def fit(self) -> MixGenerator:
        self._resume()
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
        return self.ema.model
