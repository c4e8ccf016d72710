"""The ``add`` and ``add-pro`` generators (Liu et al., "Generating Progressive Images from Pathological Transitions
via Diffusion Model", MICCAI 2024).

``add`` fits one unconditional ADM U-Net per domain (default normal → tumor) and generates final-state
translations A → B through the U-BDP bridge. ``add-pro`` reuses those fitted models (``fit_name = "add"``) and
generates progressive samples: for each source, the bridge depths whose outputs reach the requested soft labels
(default 0.1 … 1.0), each labelled [1 − L, L] over (A, B).

Hybrid attention (HAS, §2.2): the model that encodes (source domain) has global-priority attention, the one
that decodes (target domain) local-priority attention. With ``bidirectional`` the B → A direction needs the
opposite kinds, so four models are fitted (A-global, B-local, B-global, A-local).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from PIL import Image
from rich.console import Console

from augdiff import atomic, errors, pictures
from augdiff.data.spec import Split
from augdiff.devices import resolve_device
from augdiff.diffusion.data import to_model_range, to_uint8_images
from augdiff.diffusion.models.adm import ADMUNet, attention_kind_of
from augdiff.diffusion.schedules import NoiseSchedule, make_schedule
from augdiff.errors import AugdiffError
from augdiff.generator import Chunk, GeneratedSet, Generator, Samples, even_split, slug
from augdiff.progress import NullReporter, Reporter
from augdiff.seeding import derive_seed, numpy_rng, torch_generator
from augdiff.weights import load_state, read_weights, save_weights
from augdiff_add import depth as depth_search
from augdiff_add import measure as fm
from augdiff_add import strips
from augdiff_add.bridge import Bridge

DEPTH_RULES = ("search", "spread")
ATTENTION_MODES = {"hybrid": ("global", "local"), "global": ("global", "global"), "local": ("local", "local")}
DEFAULT_DOMAINS = ("normal", "tumor")
LEVELS = [round(0.1 * i, 1) for i in range(1, 11)]
MEMORY_BUDGET = 1.5e9  # bytes of cached latents per chunk of sources

_SAMPLING = dict(
    sample_steps=50,  # respaced DDIM grid over T = 1000 (issue: default ≤ 100)
    measure="paper",  # "paper" (Eq. 7–9) | "reference" (the authors' script: its bins and depth rule)
    depth_rule="search",  # "search": depths whose Eq. 9 label hits each level | "spread": depth i = L·T, label L
    highpass_radius=0.25,  # M_h keeps radial frequencies above this fraction of Nyquist
    levels=LEVELS,  # soft-label targets of add-pro
    label_tolerance=0.025,  # depth search stops for a target once a decoded label is this close
    search_rounds=6,
    sample_batch=128,
    sample_precision="fp32",  # DDIM inversion is an ODE solve: bf16 costs reconstruction accuracy
    clip_decode=True,  # clamp x̂_0 to [-1, 1] while decoding: ρ(label, stage) 0.47 → 0.84 at the cpu profile (docs)
    repeat_eta=0.5,  # `add` only: DDIM η for a source's second and later translations, so none is a duplicate
    device="auto",
)
_DOMAINS = dict(attention="hybrid", source_class=None, target_class=None, bidirectional=False)
# GroupNorm keeps ≥ 4 channels per group (augdiff.diffusion.models.adm.group_norm): with one channel per group
# the cpu profile's width-32 blocks lost each image's colour. Part of the fitted config, so older fits are not reused.
_ARCH = dict(norm_min_group_channels=4)

PROFILES: dict[str, dict[str, Any]] = {
    "smoke": dict(
        image_size=16, base_channels=16, channel_mult=[1, 2], num_res_blocks=1, attention_resolutions=[8],
        num_head_channels=8, dropout=0.0, schedule="linear", num_train_timesteps=1000,
        steps=30, batch_size=16, lr=1e-3, warmup_steps=0, ema_decay=0.9, grad_clip=1.0, hflip=True,
        precision="auto", checkpoint_every=20, **_ARCH, **_DOMAINS, **{**_SAMPLING, "sample_steps": 20},
    ),
    # Sized for 2 CPU cores: attention only at 8 px (the 16-px attention doubled the step time).
    "cpu": dict(
        image_size=32, base_channels=32, channel_mult=[1, 2, 2], num_res_blocks=2, attention_resolutions=[8],
        num_head_channels=16, dropout=0.0, schedule="linear", num_train_timesteps=1000,
        steps=2000, batch_size=32, lr=2e-4, warmup_steps=100, ema_decay=0.999, grad_clip=1.0, hflip=True,
        precision="auto", checkpoint_every=250, **_ARCH, **_DOMAINS, **_SAMPLING,
    ),
    # The reference's OpenAI 256x256 unconditional ADM config (base 256, (1,1,2,2,4,4), attention at 32/16/8,
    # 64 channels per head, dropout 0.1). Learned σ is dropped: DDIM with η = 0 in both directions never uses it.
    "paper": dict(
        image_size=256, base_channels=256, channel_mult=[1, 1, 2, 2, 4, 4], num_res_blocks=2,
        attention_resolutions=[32, 16, 8], num_head_channels=64, dropout=0.1, schedule="linear",
        num_train_timesteps=1000, steps=100_000, batch_size=16, lr=1e-4, warmup_steps=1000,
        ema_decay=0.9999, grad_clip=1.0, hflip=True, precision="auto", checkpoint_every=5000,
        **_ARCH, **_DOMAINS, **{**_SAMPLING, "sample_steps": 100, "sample_batch": 32},
    ),
}
SAMPLING_OPTIONS = tuple(_SAMPLING)
_err = Console(stderr=True)


def resolve_domains(classes: Sequence[str], source: str | None, target: str | None) -> tuple[int, int, str | None]:
    """(A index, B index, note): the user's classes, else normal → tumor, else the first → second class."""
    classes = list(classes)
    if len(classes) < 2:
        raise AugdiffError(f"add needs a dataset with two classes; this one has {classes}")
    if source is None and target is None:
        if all(c in classes for c in DEFAULT_DOMAINS):
            source, target = DEFAULT_DOMAINS
        else:
            note = (f"no classes '{DEFAULT_DOMAINS[0]}'/'{DEFAULT_DOMAINS[1]}': migrating {classes[0]} → "
                    f"{classes[1]} (choose with --set source_class=… --set target_class=…)")
            return 0, 1, note
    for option, name in (("source_class", source), ("target_class", target)):
        if name not in classes:
            raise AugdiffError(f"--set {option}={name}: not a class of this dataset; its classes: {', '.join(classes)}")
    if source == target:
        raise AugdiffError(f"--set source_class/target_class: both are '{source}'; choose two different classes")
    return classes.index(source), classes.index(target), None


class AddGenerator(Generator):
    """ADD: two domain diffusion models bridged by DDIM (final-state translations A → B)."""

    name: ClassVar[str] = "add"
    description: ClassVar[str] = "ADD (MICCAI 2024): two-domain DDIM bridge with hybrid attention; final-state translations"
    profiles: ClassVar[dict[str, dict[str, Any]]] = PROFILES
    sampling_options: ClassVar[tuple[str, ...]] = SAMPLING_OPTIONS
    distributed_fit: ClassVar[bool] = True  # both domain models train with the shared (DDP) trainer
    option_types: ClassVar[dict[str, tuple[Any, ...]]] = {
        "source_class": (str, None), "target_class": (str, None), "grad_clip": (float, None)}
    # The names every other generator uses for these; fits made under the old names keep their run ids.
    renamed_options: ClassVar[dict[str, str]] = {"train_steps": "steps", "sample_batch_size": "sample_batch"}
    # In the benchmark both ways (normal → tumor for tumour samples, tumor → normal for normal ones), so every
    # per-class set holds both classes, as the paper's "500 pseudo samples in each category"; four domain models.
    benchmark_overrides: ClassVar[dict[str, Any]] = {"bidirectional": True}

    def __init__(self, config: dict[str, Any], classes: Sequence[str]) -> None:
        super().__init__(config, classes)
        if self.config["attention"] not in ATTENTION_MODES:
            raise AugdiffError(f"--set attention={self.config['attention']}: choose one of {', '.join(ATTENTION_MODES)}")
        if self.config.get("depth_rule", "search") not in DEPTH_RULES:
            raise self.option_error("depth_rule", f"choose one of {', '.join(DEPTH_RULES)}")
        self.models: dict[tuple[int, str], ADMUNet] = {}
        self.train_images: dict[int, tuple[np.ndarray, list[str]]] = {}
        self._stats: dict[tuple[str, float], tuple[float, float]] = {}
        self._finals: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}

    # -- domains and models ------------------------------------------------------------------------------------
    def domains(self) -> tuple[int, int]:
        a, b, _ = resolve_domains(self.classes, self.config["source_class"], self.config["target_class"])
        return a, b

    def directions(self) -> list[tuple[int, int]]:
        a, b = self.domains()
        return [(a, b), (b, a)] if self.config["bidirectional"] else [(a, b)]

    def required_models(self) -> list[tuple[int, str]]:
        """(class, attention kind) of every model the configured directions need: encoders and decoders."""
        enc, dec = ATTENTION_MODES[self.config["attention"]]
        need: dict[tuple[int, str], None] = {}
        for src, tgt in self.directions():
            need[(src, enc)] = None
            need[(tgt, dec)] = None
        return list(need)

    def build_model(self, kind: str) -> ADMUNet:
        c = self.config
        return ADMUNet(
            c["image_size"], base_channels=c["base_channels"], channel_mult=tuple(c["channel_mult"]),
            num_res_blocks=c["num_res_blocks"], attention_resolutions=tuple(c["attention_resolutions"]),
            num_head_channels=c["num_head_channels"], attention=kind, dropout=c["dropout"],
            # Configs saved before the option existed used ADM's fixed 32 groups (1 channel per group at width 32).
            norm_min_group_channels=int(c.get("norm_min_group_channels", 1)),
        )

    def schedule(self) -> NoiseSchedule:
        return make_schedule(self.config["schedule"], int(self.config["num_train_timesteps"]))

    # -- fitting -----------------------------------------------------------------------------------------------
    def fit(self, train_set: Split, workdir: Path, *, seed: int, progress: Reporter = NullReporter()) -> None:
        from augdiff_add.training import train_domain_model

        a, b, note = resolve_domains(self.classes, self.config["source_class"], self.config["target_class"])
        if note:
            _err.print(f"[yellow]note:[/] {note}", highlight=False)
        for cls in {a, b}:
            part = train_set.of_class(cls)
            if len(part) == 0:
                raise AugdiffError(f"--data: the training split has no '{self.classes[cls]}' images to fit ADD on")
            self.train_images[cls] = (part.images, list(part.ids))
        for cls, kind in self.required_models():
            model = self.build_model(kind)
            self.models[(cls, kind)] = train_domain_model(
                model, self.train_images[cls][0], self.config, Path(workdir) / f"class{cls}-{kind}",
                seed=derive_seed(seed, "add", self.classes[cls], kind), progress=progress,
                description=f"add: {self.classes[cls]} ({kind} attention)",
            )

    # -- persistence -------------------------------------------------------------------------------------------
    def save(self, directory: Path) -> None:
        super().save(directory)
        directory = Path(directory)
        for (cls, kind), model in self.models.items():
            save_weights(directory / f"class{cls}-{kind}.safetensors", model,
                         metadata={"attention": kind, "class": self.classes[cls]})
        for cls, (images, ids) in self.train_images.items():
            # The sources of add-pro and the statistics of label(): load() alone must be able to generate.
            with atomic.atomic_path(directory / f"class{cls}-train.npy") as tmp, open(tmp, "wb") as fh:
                np.save(fh, images)
            atomic.write_json(directory / f"class{cls}-train-ids.json", ids)

    @classmethod
    def load(cls, directory: Path) -> AddGenerator:
        gen = super().load(directory)
        assert isinstance(gen, AddGenerator)
        directory = Path(directory)
        for c, kind in gen.required_models():
            path = directory / f"class{c}-{kind}.safetensors"
            state, metadata = read_weights(path, missing=(
                f"missing; this fit has no {kind}-attention model of '{gen.classes[c]}' — re-run `augdiff fit add` "
                "with the same --set options"))
            saved_kind = metadata.get("attention")
            if saved_kind not in (None, kind) or attention_kind_of(state) not in (None, kind):
                raise AugdiffError(f"{path}: holds {saved_kind}-attention weights but {kind} attention is required")
            gen.models[(c, kind)] = load_state(gen.build_model(kind), state, path).eval()
        for c in set(gen.domains()):
            path = directory / f"class{c}-train.npy"
            if not path.is_file():
                raise AugdiffError(f"{path}: missing; re-run `augdiff fit add` to save the source images")
            ids = _read_json(directory / f"class{c}-train-ids.json")
            gen.train_images[c] = (np.load(path), ids)
        return gen

    # -- the bridge ------------------------------------------------------------------------------------------
    def bridge(self, src: int, tgt: int) -> Bridge:
        enc, dec = ATTENTION_MODES[self.config["attention"]]
        missing = [(c, k) for c, k in ((src, enc), (tgt, dec)) if (c, k) not in self.models]
        if missing:
            raise AugdiffError(f"generator '{self.name}' is not fitted for {missing}: run `augdiff fit add` first")
        device = resolve_device(self.config["device"])
        return Bridge(
            self.models[(src, enc)].to(device).eval(), self.models[(tgt, dec)].to(device).eval(), self.schedule(),
            int(self.config["sample_steps"]), device=device, batch_size=int(self.config["sample_batch"]),
            precision=self.config["sample_precision"], clip_decode=bool(self.config.get("clip_decode", True)),
        )

    def _chunk(self) -> int:
        """Sources per chunk: their cached latents at every grid depth stay within ``MEMORY_BUDGET``."""
        c = self.config
        per_source = int(c["sample_steps"]) * 3 * c["image_size"] ** 2 * 4
        return max(1, min(int(c["sample_batch"]), int(MEMORY_BUDGET // per_source)))

    def sources(self, src: int, count: int, seed: int) -> tuple[np.ndarray, list[str]]:
        """``count`` training images of class ``src`` drawn without replacement (cycling when count > N)."""
        images, ids = self.train_images[src]
        rng = numpy_rng(seed, "add-sources", self.classes[src])
        order = np.concatenate([rng.permutation(len(images)) for _ in range(math.ceil(count / len(images)))])
        order = order[:count]
        return images[order], [ids[i] for i in order]

    def _direction_counts(self, n: int, cls: int | None) -> list[tuple[tuple[int, int], int]]:
        """How many outputs each direction (source, target) gets; ``cls`` picks the direction ending in it."""
        dirs = self.directions()
        if cls is not None:
            dirs = [d for d in dirs if d[1] == cls]
            if not dirs:
                ends = ", ".join(self.classes[d[1]] for d in self.directions())
                raise AugdiffError(
                    f"--class {self.classes[cls]}: {self.name} migrates into {ends} only "
                    "(add --set bidirectional=true for the other direction)"
                )
        return [(d, m) for d, m in zip(dirs, even_split(n, len(dirs))) if m]

    def _direction_name(self, src: int, tgt: int) -> str:
        return f"{self.classes[src]}_to_{self.classes[tgt]}"

    # -- generation ------------------------------------------------------------------------------------------
    # A chunk is one batch of sources of one direction: encoded, searched and decoded together.
    def plan_chunks(self, n: int, *, cls: int | None = None, seed: int = 0) -> list[Chunk]:
        per = self._outputs_per_source()
        chunks: list[Chunk] = []
        for (src, tgt), count in self._direction_counts(n, cls):
            num_sources = math.ceil(count / per)
            for start in range(0, num_sources, self._chunk()):
                stop = min(num_sources, start + self._chunk())
                # The last source may contribute only its first levels so that exactly ``count`` come out.
                size = min(stop * per, count) - start * per
                spec = {"src": src, "tgt": tgt, "sources": num_sources, "start": start, "stop": stop}
                chunks.append(Chunk(len(chunks), size, tgt, seed, spec))
        return chunks

    def generate_chunk(self, chunk: Chunk, *, progress: Reporter = NullReporter()) -> Samples:
        src, tgt, start, stop = (int(chunk.spec[k]) for k in ("src", "tgt", "start", "stop"))
        images, ids = self.sources(src, int(chunk.spec["sources"]), chunk.seed)
        images, ids = images[start:stop], ids[start:stop]
        # Which pass over the source images each position is (sources cycle when more are asked than exist).
        repeat = np.arange(start, stop) // len(self.train_images[src][0])
        with progress.task(f"{self.name}: {self._direction_name(src, tgt)} {start}–{stop}", len(ids)) as task:
            done = self._make(self.bridge(src, tgt), images, ids, src, tgt, repeat=repeat,
                              seed=derive_seed(chunk.seed, "repeat-noise", start))
            task.advance(len(ids))
        return Samples(done.images[: chunk.n], done.probs[: chunk.n], done.meta[: chunk.n])

    def generate(
        self, n: int, *, cls: int | None = None, seed: int = 0, progress: Reporter = NullReporter()
    ) -> Samples:
        self._finals = {}
        return Samples.concat([self.generate_chunk(c, progress=progress)
                               for c in self.plan_chunks(n, cls=cls, seed=seed)])

    def _outputs_per_source(self) -> int:
        return 1

    def _make(self, bridge: Bridge, images: np.ndarray, ids: list[str], src: int, tgt: int, *,
              repeat: np.ndarray, seed: int) -> Samples:
        """Final-state translations of one chunk of sources.

        η = 0 decoding is deterministic, so a source's second pass would repeat its first image exactly; later
        passes decode with DDIM η = ``repeat_eta`` instead (Song et al. 2021, Eq. 16), seeded, so every output
        is a distinct sample of the translation.
        """
        eta = float(self.config.get("repeat_eta", 0.0))
        with errors.doing(f"{self.name}: translating sources {ids[0]} … {ids[-1]}"):
            latents = bridge.encode(to_model_range(images))
            top = bridge.num_depths - 1
            x = bridge.decode(latents, [(s, top) for s in range(len(ids))]).clone()
            again = np.flatnonzero(repeat > 0)
            if len(again) and eta > 0:
                noisy = bridge.decode(latents, [(int(s), top) for s in again], eta=eta,
                                      generator=torch_generator(seed))
                x[torch.as_tensor(again)] = noisy
        probs = np.zeros((len(ids), len(self.classes)), dtype=np.float32)
        probs[:, tgt] = 1.0
        meta = [{"source": i, "direction": self._direction_name(src, tgt), "level": 1.0, "depth": bridge.grid[-1],
                 **({"pass": int(r), "eta": eta} if r > 0 and eta > 0 else {})} for i, r in zip(ids, repeat)]
        return Samples(to_uint8_images(x), probs, meta)

    # -- labelling ---------------------------------------------------------------------------------------------
    def domain_amplitudes(self) -> tuple[float, float]:
        """Mean feature amplitude of the A and B training images under the configured measure."""
        key = (self.config["measure"], float(self.config["highpass_radius"]))
        if key not in self._stats:
            a, b = self.domains()
            amp = [float(np.mean(fm.amplitude(self.train_images[c][0], *key))) for c in (a, b)]
            self._stats[key] = (amp[0], amp[1])
        return self._stats[key]

    def label(self, images: np.ndarray, *, cls: int | None = None) -> np.ndarray:
        """Eq. 9 against the domain statistics: L = (Ā_A − A(x)) / (Ā_A − Ā_B), probs [1 − L, L] over (A, B)."""
        a, b = self.domains()
        amp_a, amp_b = self.domain_amplitudes()
        amp = fm.amplitude(images, self.config["measure"], float(self.config["highpass_radius"]))
        level = fm.soft_label(np.full(len(amp), amp_a), amp, np.full(len(amp), amp_b))
        if np.isnan(level).any():
            raise AugdiffError(
                f"label: the {self.classes[a]} and {self.classes[b]} training images have the same feature "
                "amplitude under this measure; try another --set highpass_radius"
            )
        probs = np.zeros((len(images), len(self.classes)), dtype=np.float32)
        probs[:, a], probs[:, b] = 1.0 - level, level
        return probs


def _read_json(path: Path) -> Any:
    import json

    if not path.is_file():
        raise AugdiffError(f"{path}: missing; re-run `augdiff fit add`")
    return json.loads(path.read_text())


class AddProGenerator(AddGenerator):
    """ADD-Pro: progressive samples between the domains, each with soft label [1 − L, L] (paper §2.3)."""

    name: ClassVar[str] = "add-pro"
    description: ClassVar[str] = "ADD-Pro: progressive A→B samples at adaptive depths with soft labels [1−L, L]"
    fit_name: ClassVar[str | None] = "add"
    # The Eq. 9 depth search was the only rule before depth_rule existed; repeat_eta never reaches add-pro.
    introduced_options: ClassVar[dict[str, Any]] = {"depth_rule": "search", "repeat_eta": 0.5}
    # ADD-Pro's progression stays normal → tumor in the benchmark (its sets are not per class); it then shares the
    # two-model fit of `augdiff fit add`. ``--set add-pro.bidirectional=true`` asks for both directions.
    benchmark_overrides: ClassVar[dict[str, Any]] = {}

    def levels(self) -> list[float]:
        levels = [float(v) for v in self.config["levels"]]
        if not levels or any(not 0.0 < v <= 1.0 for v in levels):
            raise AugdiffError(f"--set levels={levels}: give soft-label targets in (0, 1], e.g. [0.1, 0.2, …, 1.0]")
        return sorted(levels)

    def _outputs_per_source(self) -> int:
        return len(self.levels())

    def _make(self, bridge: Bridge, images: np.ndarray, ids: list[str], src: int, tgt: int, *,
              repeat: np.ndarray, seed: int) -> Samples:
        # Progressive sets use every source once per 10 levels; more than 10 × N images repeat (set.json counts).
        return self._progressive(bridge, images, ids, self.levels(), src, tgt)

    def _progressive(
        self, bridge: Bridge, images: np.ndarray, ids: list[str], levels: list[float], src: int, tgt: int
    ) -> Samples:
        """All levels of one chunk of sources: encode once, decode the full translation, then search depths."""
        c = self.config
        measure, radius = c["measure"], float(c["highpass_radius"])
        top = bridge.num_depths - 1
        latents = bridge.encode(to_model_range(images))
        finals = to_uint8_images(bridge.decode(latents, [(s, top) for s in range(len(images))]))
        cache: dict[tuple[int, int], np.ndarray] = {(s, top): finals[s] for s in range(len(images))}
        direction = self._direction_name(src, tgt)
        for s, i in enumerate(ids):
            self._finals[(direction, i)] = (images[s], finals[s])

        def decode(pairs: list[tuple[int, int]]) -> np.ndarray:
            todo = list(dict.fromkeys(p for p in pairs if p not in cache))
            if todo:
                for p, img in zip(todo, to_uint8_images(bridge.decode(latents, todo)), strict=True):
                    cache[p] = img
            return np.stack([cache[p] for p in pairs])

        if c.get("depth_rule") == "spread":
            # The paper's state i = t/T without Eq. 9: each level L decodes from the depth L·T, labelled L.
            depths = np.array([[depth_search.spread_depth(lv, bridge.num_depths) for lv in levels]] * len(ids))
            achieved = np.tile(np.asarray(levels, dtype=np.float64), (len(ids), 1))
            fallback = np.zeros(len(images), dtype=bool)
        elif measure == "paper":
            a_src = fm.amplitude(images, measure, radius)
            a_fin = fm.amplitude(finals, measure, radius)

            def labels_of(pairs: list[tuple[int, int]]) -> np.ndarray:
                amp = fm.amplitude(decode(pairs), measure, radius)
                rows = [s for s, _ in pairs]
                return fm.soft_label(a_src[rows], amp, a_fin[rows])

            with errors.doing(f"add-pro: depth search over sources {ids[0]} … {ids[-1]}"):
                choice = depth_search.search_depths(
                    labels_of, len(images), bridge.num_depths, levels, tol=float(c["label_tolerance"]),
                    max_rounds=int(c["search_rounds"]),
                    # No contrast between source and translation: Eq. 9 is undefined whatever the depth.
                    undefined=np.isnan(fm.soft_label(a_src, a_fin, a_fin)),
                )
            depths, achieved, fallback = choice.depth_index, choice.label, np.zeros(len(images), dtype=bool)
        else:
            # The reference's rule: its low-frequency measure on every encoded latent, reversed list, nearest
            # later index per target; labels are the requested levels (it computed no soft labels).
            n, s_, ch, h, w = latents.shape
            lat_measure = fm.reference_amplitude(latents.reshape(n * s_, ch, h, w)).reshape(n, s_)
            rules = [depth_search.reference_depths(lat_measure[s], len(levels)) for s in range(n)]
            depths = np.stack([r[0] for r in rules])
            fallback = np.array([r[1] for r in rules])
            achieved = np.tile(np.asarray(levels), (n, 1))
        # Whatever depths were chosen, their images come from the decoder (a no-op for depths already decoded).
        chosen = decode([(s, int(k)) for s in range(len(ids)) for k in depths[s]])

        out_images, probs, meta = [], [], []
        for s, source_id in enumerate(ids):
            with errors.doing(f"add-pro: labelling source {source_id}"):
                for j, requested in enumerate(levels):
                    k = int(depths[s, j])
                    level = float(achieved[s, j])
                    from_depth = bool(np.isnan(level))
                    if from_depth:  # Eq. 9 undefined (source and translation alike): the paper's i = t/T
                        level = (k + 1) / bridge.num_depths
                    out_images.append(chosen[s * len(levels) + j])
                    p = np.zeros(len(self.classes), dtype=np.float32)
                    p[src], p[tgt] = 1.0 - level, level
                    probs.append(p)
                    record = {"source": source_id, "direction": direction, "level_requested": requested,
                              "level": round(level, 4), "depth": bridge.grid[k], "depth_index": k,
                              "measure": "none" if c.get("depth_rule") == "spread" else measure}
                    if from_depth:
                        record["label_from"] = "depth"
                    if fallback[s]:
                        record["depth_rule"] = "fallback"
                    meta.append(record)
        return Samples(np.stack(out_images), np.stack(probs), meta)

    # -- strips ----------------------------------------------------------------------------------------------
    def extra_files(self, samples: Samples) -> dict[str, bytes]:
        """strips/<direction>/<source>.png per source of a chunk: source | levels … | final translation."""
        groups: dict[tuple[str, str], list[int]] = {}
        for i, m in enumerate(samples.meta):
            groups.setdefault((m["direction"], str(m["source"])), []).append(i)
        files: dict[str, bytes] = {}
        for (direction, source), index in groups.items():
            index = sorted(index, key=lambda i: samples.meta[i]["level_requested"])
            tiles = [samples.images[i] for i in index]
            if (direction, source) in self._finals:
                src_img, final = self._finals[(direction, source)]
                tiles = [src_img, *tiles]
                if samples.meta[index[-1]]["depth_index"] != int(self.config["sample_steps"]) - 1:
                    tiles.append(final)
            files[_strip_name(direction, source)] = pictures.png_bytes(strips.strip(tiles))
        return files

    def summary_files(self, generated: GeneratedSet) -> dict[str, bytes]:
        """strips.png: the strips of the first 16 sources, one per row, under column labels (source | L=… |
        final)."""
        levels: dict[str, dict[float, None]] = {}  # strip file → its requested levels, as the records give them
        for r in generated.records:
            levels.setdefault(_strip_name(r["direction"], str(r["source"])), {})[float(r["level_requested"])] = None
        rows = [(np.asarray(Image.open(generated.directory / name).convert("RGB")), sorted(levels[name]))
                for name in list(levels)[:16] if (generated.directory / name).is_file()]
        return {"strips.png": pictures.png_bytes(strips.sheet(rows))} if rows else {}


def _strip_name(direction: str, source: str) -> str:
    return f"strips/{direction}/{slug(source)}.png"
