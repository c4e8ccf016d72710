"""ADD-Pro's generation path (``_progressive``) driven by a bridge whose label curve per source is known.

The real crash on PatchCamelyon came from a source whose Eq. 9 is undefined (a flat white patch): the depth
search returned depths that were never decoded. These tests drive the whole generator through flat sources,
non-monotone curves and labels that never reach a target, and check every image against its decode.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from augdiff_add import measure as fm
from augdiff_add.generator import AddProGenerator

from augdiff.errors import AugdiffError

SIZE, DEPTHS = 16, 20
CHECKER = np.indices((SIZE, SIZE)).sum(0) % 2 * 2 - 1  # ±1 at the Nyquist frequency: pure high-pass content


def _curve(kind: str, k: int) -> float:
    """High-frequency amplitude of the decode at depth index k (0 … DEPTHS − 1), by source kind."""
    x = (k + 1) / DEPTHS
    if kind == "monotone":
        return 60 * x
    if kind == "wavy":  # non-monotone: rises, falls back, rises to the full translation
        return 60 * x * (1 + 0.6 * np.sin(9 * x))
    if kind == "saturating":  # stuck at a third of the way until the last depth
        return 60.0 if k == DEPTHS - 1 else 20 * min(1.0, 3 * x)
    return 0.0  # "flat": every decode is the flat source itself


class FakeBridge:
    """Decodes (source, depth) to the source plus a checkerboard whose amplitude follows the source's curve."""

    def __init__(self, kinds: dict[str, str]) -> None:
        self.kinds = kinds  # source id → curve kind
        self.grid = list(range(0, 1000, 1000 // DEPTHS))
        self.decoded: list[tuple[int, int]] = []
        self.ids: list[str] = []

    @property
    def num_depths(self) -> int:
        return len(self.grid)

    def encode(self, x0: torch.Tensor) -> torch.Tensor:
        self.sources = x0.clone()
        return torch.zeros(len(x0), self.num_depths, 1, 1, 1)

    def image(self, s: int, k: int) -> torch.Tensor:
        amp = _curve(self.kinds[self.ids[s]], k) / 127.5
        return (self.sources[s] + amp * torch.as_tensor(CHECKER, dtype=torch.float32)).clamp(-1, 1)

    def decode(self, latents: torch.Tensor, pairs: list[tuple[int, int]]) -> torch.Tensor:
        self.decoded.extend(pairs)
        return torch.stack([self.image(s, k) for s, k in pairs])


@pytest.fixture
def generator(monkeypatch: pytest.MonkeyPatch) -> tuple[AddProGenerator, FakeBridge]:
    kinds = {"flat-white": "flat", "mono": "monotone", "wavy": "wavy", "stuck": "saturating", "flat-grey": "flat"}
    ids = list(kinds)
    values = {"flat-white": 235, "flat-grey": 128}
    images = np.stack([np.full((SIZE, SIZE, 3), values.get(i, 120), dtype=np.uint8) for i in ids])
    gen = AddProGenerator.from_profile("smoke", ["normal", "tumor"], {"sample_batch": 2})
    gen.train_images = {0: (images, ids), 1: (images[:1], ["t0"])}
    bridge = FakeBridge(kinds)

    def fake_bridge(src: int, tgt: int) -> FakeBridge:
        return bridge

    real_progressive = gen._progressive

    def progressive(b, imgs, chunk_ids, *args):  # the fake needs each chunk's source ids
        bridge.ids = list(chunk_ids)
        return real_progressive(b, imgs, chunk_ids, *args)

    monkeypatch.setattr(gen, "bridge", fake_bridge)
    monkeypatch.setattr(gen, "_progressive", progressive)
    return gen, bridge


def test_every_progressive_image_is_its_decode_and_every_label_is_measured(generator) -> None:
    gen, bridge = generator
    levels = gen.levels()
    samples = gen.generate(5 * len(levels), seed=1)  # all five sources, in chunks of two
    assert len(samples) == 50
    by_source: dict[str, list[int]] = {}
    for i, m in enumerate(samples.meta):
        by_source.setdefault(m["source"], []).append(i)
    assert set(by_source) == set(bridge.kinds)
    radius = float(gen.config["highpass_radius"])
    for source, rows in by_source.items():
        kind = bridge.kinds[source]
        src_img = gen.train_images[0][0][gen.train_images[0][1].index(source)]
        for i in rows:
            m = samples.meta[i]
            k = m["depth_index"]
            bridge.ids = [source]
            bridge.sources = torch.as_tensor(src_img[None]).permute(0, 3, 1, 2).float().div(127.5).sub(1)
            expected = ((bridge.image(0, k).clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
            np.testing.assert_array_equal(samples.images[i], expected.permute(1, 2, 0).numpy())
            assert samples.probs[i].sum() == pytest.approx(1.0)
            if kind == "flat":  # Eq. 9 undefined: the label comes from the depth, spread over the grid
                assert m["label_from"] == "depth"
                assert m["level"] == pytest.approx((k + 1) / DEPTHS, abs=1e-4)
            else:
                assert "label_from" not in m
                a = fm.amplitude(np.stack([src_img, samples.images[i]]), "paper", radius)
                finals = bridge.image(0, DEPTHS - 1)
                a_fin = fm.amplitude(((finals + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0)[None].numpy(),
                                     "paper", radius)
                assert m["level"] == pytest.approx(float(fm.soft_label(a[:1], a[1:], a_fin)[0]), abs=1e-4)
    stuck = [samples.meta[i] for i in by_source["stuck"]]
    # Labels that never reach a target get the nearest measured one (checked above), not the requested value.
    assert max(abs(m["level"] - m["level_requested"]) for m in stuck) > 0.1


def test_progressive_chunks_write_strips_and_a_summary(generator, tmp_path) -> None:
    from augdiff.generated_set import write_chunked

    gen, _ = generator
    chunks = gen.plan_chunks(45, seed=0)
    assert [c.n for c in chunks] == [20, 20, 5] and sum(c.n for c in chunks) == 45
    generated, resumed = write_chunked(
        tmp_path / "set", key="k", request={}, chunks=chunks, make=gen.generate_chunk, classes=gen.classes,
        generator="add-pro", seed=0, chunk_files=gen.extra_files, summary_files=gen.summary_files,
    )
    assert len(generated) == 45 and resumed == 0
    assert len(list((tmp_path / "set" / "strips").rglob("*.png"))) == 5
    assert (tmp_path / "set" / "strips.png").is_file()


def test_the_spread_depth_rule_decodes_at_l_times_t_and_labels_with_l(generator) -> None:
    gen, _ = generator
    gen.config["depth_rule"] = "spread"
    samples = gen.generate(20, seed=0)
    top = DEPTHS - 1
    for m in samples.meta:
        assert m["depth_index"] == round(m["level_requested"] * top) and m["level"] == m["level_requested"]
    assert gen.from_profile("smoke", ["normal", "tumor"], {"depth_rule": "spread"}).config["depth_rule"] == "spread"
    with pytest.raises(AugdiffError, match="depth_rule"):
        gen.from_profile("smoke", ["normal", "tumor"], {"depth_rule": "nearest"})


def test_strips_sheet_labels_columns_and_aligns_short_strips() -> None:
    from augdiff_add import strips

    from augdiff.pictures import GAP

    levels = [round(0.1 * i, 1) for i in range(1, 11)]
    tile = strips.MIN_TILE
    colour = {name: np.full((SIZE, SIZE, 3), v, np.uint8) for name, v in (("source", 10), ("final", 250))}
    colour |= {strips.level_label(v): np.full((SIZE, SIZE, 3), 20 + 20 * i, np.uint8) for i, v in enumerate(levels)}
    full = strips.strip([colour["source"], *(colour[strips.level_label(v)] for v in levels), colour["final"]])
    no_final = strips.strip([colour["source"], *(colour[strips.level_label(v)] for v in levels)])
    short = strips.strip([colour["source"], *(colour[strips.level_label(v)] for v in levels[:3]), colour["final"]])
    sheet = strips.sheet([(full, levels), (no_final, levels), (short, levels[:3])])
    band = sheet.shape[0] - (3 * (tile + GAP) - GAP)
    assert 0 < band < tile and sheet.shape[1] == full.shape[1] == 12 * (tile + GAP) - GAP
    assert (sheet[:band] < 128).any()  # the labels are drawn
    np.testing.assert_array_equal(sheet[band:band + tile], full)  # a full strip is kept as it was

    def cell(row: int, col: int) -> np.ndarray:
        y, x = band + row * (tile + GAP), col * (tile + GAP)
        return sheet[y:y + tile, x:x + tile]

    assert strips.level_label(1.0) == "L=1.0" and strips.level_label(0.25) == "L=0.25"
    assert (cell(1, 11) == 255).all()  # no final translation: a white cell
    assert (cell(2, 3) == colour["L=0.3"][0, 0]).all() and (cell(2, 4) == 255).all()
    assert (cell(2, 11) == 250).all()  # a short strip's final translation goes under "final"
