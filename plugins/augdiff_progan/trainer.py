"""Progressive-growing training loop: one critic and one generator step per minibatch, EMA of G, resumable.

Training runs through phases of ``phase_images`` images each: the 4x4 stage is trained alone, then every new
resolution is first faded in (alpha rises linearly 0 → 1) and then stabilised (Karras et al. 2018, §3). Real
images are shown at the current resolution and, during a fade, blended between the two resolutions the same
way the networks are, so D never sees a sharper real image than G can produce.

Everything random (batches, flips, latents, the GP's ε) draws from one ``torch.Generator`` whose state is saved
in each checkpoint, so a run killed at any point and resumed gives the same weights as an uninterrupted one.
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from augdiff.devices import autocast, resolve_device
from augdiff.progress import NullReporter, Reporter
from augdiff.seeding import seeded_init, torch_generator
from augdiff.training.checkpoint import resume_modules, save_modules
from augdiff.training.config import settings_from_config
from augdiff_progan.losses import discriminator_loss, generator_loss
from augdiff_progan.networks import ProDiscriminator, ProGenerator, num_stages


@dataclass
class ProGANSettings:
    """The training knobs (a subset of the plugin config, which adds sampling and conditioning choices)."""

    image_size: int = 32
    latent_dim: int = 512
    fmap_base: int = 8192
    fmap_max: int = 512
    mbstd_group: int = 4
    phase_images: int = 600_000  # images per fade-in phase and per stabilisation phase
    batch_size: int = 64
    lr: float = 1e-3
    betas: tuple[float, float] = (0.0, 0.99)
    gp_weight: float = 10.0
    drift: float = 0.001
    ema_decay: float = 0.999
    reset_optimizer: bool = True  # fresh Adam moments when a new resolution starts, as the official code does
    hflip: bool = True
    checkpoint_every: int = 500
    precision: str = "fp32"  # fp32 | bf16 (autocast)
    device: str = "auto"

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> ProGANSettings:
        return settings_from_config(cls, config, {"betas": float})


@dataclass(frozen=True)
class Phase:
    index: int
    stage: int  # 0 = 4x4, k = 4·2^k px
    fading: bool

    @property
    def resolution(self) -> int:
        return 4 * 2**self.stage

    @property
    def label(self) -> str:
        return "fade-in" if self.fading else "stable"


class Schedule:
    """Maps a global step to (phase, alpha): [4 stable, 8 fade, 8 stable, 16 fade, …]."""

    def __init__(self, image_size: int, phase_images: int, batch_size: int) -> None:
        stages = num_stages(image_size)
        self.phases = [Phase(0, 0, False)]
        for s in range(1, stages):
            self.phases += [Phase(len(self.phases), s, True), Phase(len(self.phases) + 1, s, False)]
        self.steps_per_phase = max(1, math.ceil(phase_images / batch_size))

    @property
    def total_steps(self) -> int:
        return self.steps_per_phase * len(self.phases)

    def at(self, step: int) -> tuple[Phase, float]:
        phase = self.phases[min(step // self.steps_per_phase, len(self.phases) - 1)]
        alpha = (step - phase.index * self.steps_per_phase) / self.steps_per_phase if phase.fading else 1.0
        return phase, alpha

    def starts_stage(self, step: int) -> bool:
        """True on the first step of a phase that trains a resolution for the first time."""
        phase, _ = self.at(step)
        return step % self.steps_per_phase == 0 and (phase.fading or phase.index == 0)


def real_batch(images: torch.Tensor, phase: Phase, alpha: float) -> torch.Tensor:
    """Full-size reals (N, C, S, S) in [-1, 1] → the current resolution, blended during a fade."""
    x = F.avg_pool2d(images, images.shape[-1] // phase.resolution) if images.shape[-1] != phase.resolution else images
    if phase.fading and alpha < 1.0:
        coarse = F.interpolate(F.avg_pool2d(x, 2), scale_factor=2, mode="nearest")
        x = torch.lerp(coarse, x, alpha)
    return x


class ProGANTrainer:
    """Trains one (optionally class-conditional) ProGAN on uint8 NHWC images; ``fit()`` returns the EMA generator."""

    def __init__(
        self,
        settings: ProGANSettings,
        images: np.ndarray,
        labels: np.ndarray | None,
        workdir: Path,
        *,
        num_classes: int | None,
        seed: int,
        progress: Reporter = NullReporter(),
        name: str = "progan",
    ) -> None:
        if images.shape[1] != settings.image_size:
            raise ValueError(f"images are {images.shape[1]} px but image_size is {settings.image_size}")
        self.s, self.workdir, self.progress, self.name = settings, Path(workdir), progress, name
        self.device = resolve_device(settings.device)
        self.images = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).contiguous()
        self.labels = None if labels is None else torch.as_tensor(labels, dtype=torch.int64)
        self.num_classes = num_classes
        self.schedule = Schedule(settings.image_size, settings.phase_images, settings.batch_size)
        self.rng = torch_generator(seed, "progan-train")
        with seeded_init(seed, "progan-init"):  # initial weights follow the seed, not the global RNG
            self.G = build_generator(asdict(settings), num_classes).to(self.device)
            self.D = ProDiscriminator(
                settings.image_size, fmap_base=settings.fmap_base, fmap_max=settings.fmap_max,
                num_classes=num_classes, mbstd_group=settings.mbstd_group,
            ).to(self.device)
        self.G_ema = copy.deepcopy(self.G).requires_grad_(False)
        self.step = 0
        self._new_optimizers()

    def _new_optimizers(self) -> None:
        kw = {"lr": self.s.lr, "betas": self.s.betas, "eps": 1e-8}
        self.opt_g = torch.optim.Adam(self.G.parameters(), **kw)
        self.opt_d = torch.optim.Adam(self.D.parameters(), **kw)

    # -- checkpoints ---------------------------------------------------------------------------------------
    def _modules(self) -> dict[str, Any]:
        return {"G": self.G, "D": self.D, "G_ema": self.G_ema, "opt_g": self.opt_g, "opt_d": self.opt_d}

    def _resume(self) -> None:
        state = resume_modules(self.workdir, self._modules(), self.rng)
        if state is not None:
            self.step = int(state["step"])

    def _save(self) -> None:
        phase, alpha = self.schedule.at(max(self.step - 1, 0))
        save_modules(
            self.workdir, self.step, self._modules(), self.rng, images_seen=self.step * self.s.batch_size,
            phase=phase.index, resolution=phase.resolution, fading=phase.fading, alpha=alpha,
        )

    # -- training ------------------------------------------------------------------------------------------
    def _batch(self, phase: Phase, alpha: float) -> tuple[torch.Tensor, torch.Tensor | None]:
        idx = torch.randint(len(self.images), (self.s.batch_size,), generator=self.rng)
        x = self.images[idx].float().div_(127.5).sub_(1.0)
        if self.s.hflip:
            flip = torch.rand(len(idx), generator=self.rng) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        y = None if self.labels is None or self.num_classes is None else self.labels[idx].to(self.device)
        return real_batch(x.to(self.device), phase, alpha), y

    def train_step(self, phase: Phase, alpha: float) -> dict[str, float]:
        real, y = self._batch(phase, alpha)
        kw = {"stage": phase.stage, "alpha": alpha}

        def critic(x: torch.Tensor) -> torch.Tensor:
            return self.D(x, y, **kw).float()

        z = torch.randn(len(real), self.s.latent_dim, generator=self.rng).to(self.device)
        with autocast(self.device, self.s.precision):
            fake = self.G(z, y, **kw)
            d_loss, info = discriminator_loss(
                critic, real, fake.float(), gp_weight=self.s.gp_weight, drift=self.s.drift,
                generator=self._gp_generator(),
            )
        self.opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        self.opt_d.step()

        z = torch.randn(len(real), self.s.latent_dim, generator=self.rng).to(self.device)
        self.D.requires_grad_(False)
        with autocast(self.device, self.s.precision):
            g_loss = generator_loss(critic, self.G(z, y, **kw).float())
        self.opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        self.opt_g.step()
        self.D.requires_grad_(True)

        with torch.no_grad():
            for p_ema, p in zip(self.G_ema.parameters(), self.G.parameters()):
                p_ema.lerp_(p, 1.0 - self.s.ema_decay)
        return {**info, "g_loss": g_loss.item()}

    def _gp_generator(self) -> torch.Generator | None:
        # The GP's ε is drawn on the training device; on CPU it shares the data stream, on CUDA it gets a
        # device generator seeded from that stream (so it too is reproducible and checkpointed indirectly).
        if self.device.type == "cpu":
            return self.rng
        g = torch.Generator(device=self.device)
        g.manual_seed(int(torch.randint(2**62, (1,), generator=self.rng)))
        return g

    def fit(self) -> torch.nn.Module:
        self._resume()
        sched, total = self.schedule, self.schedule.total_steps
        ckpt_every = max(1, self.s.checkpoint_every)
        first_phase = min(self.step // sched.steps_per_phase, len(sched.phases))
        for phase in sched.phases[first_phase:]:
            start, end = phase.index * sched.steps_per_phase, (phase.index + 1) * sched.steps_per_phase
            desc = f"{self.name} {phase.resolution}px {phase.label} ({phase.index + 1}/{len(sched.phases)})"
            with self.progress.task(desc, total=end - start) as task:
                if self.step > start:
                    task.advance(self.step - start)
                while self.step < end:
                    if self.s.reset_optimizer and sched.starts_stage(self.step):
                        self._new_optimizers()
                    _, alpha = sched.at(self.step)
                    info = self.train_step(phase, alpha)
                    self.step += 1
                    task.advance(1, alpha=round(alpha, 3), **{k: round(v, 4) for k, v in info.items()})
                    if self.step % ckpt_every == 0 or self.step == total:
                        self._save()
        return self.G_ema


def build_generator(config: dict[str, Any], num_classes: int | None) -> ProGenerator:
    return ProGenerator(
        int(config["image_size"]), latent_dim=int(config["latent_dim"]), fmap_base=int(config["fmap_base"]),
        fmap_max=int(config["fmap_max"]), num_classes=num_classes,
    )
