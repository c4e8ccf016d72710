"""augdiff-mixup: blends of two real images with the blend weight as soft label (an example plugin)."""

import numpy as np

from augdiff.generator import Generator, Samples
from augdiff.hookspecs import hookimpl
from augdiff.seeding import numpy_rng


class Mixup(Generator):
    name = "mixup"
    description = "Blends of two real training images; the soft label follows the blend weight."
    profiles = {p: {"image_size": s, "alpha": 0.4} for p, s in [("smoke", 16), ("cpu", 32), ("paper", None)]}

    def fit(self, train_set, workdir, *, seed, progress=None):
        self.images, self.labels = train_set.images, train_set.labels

    def generate(self, n, *, cls=None, seed=0, progress=None):
        rng = numpy_rng(seed, "mixup")
        pool = np.arange(len(self.labels)) if cls is None else np.flatnonzero(self.labels == cls)
        i, j = rng.choice(pool, size=n), rng.integers(len(self.labels), size=n)
        lam = rng.beta(self.config["alpha"], self.config["alpha"], size=n).astype(np.float32)
        lam = np.maximum(lam, 1 - lam)  # the first image dominates, so `cls` stays the most likely class
        w, eye = lam[:, None, None, None], np.eye(len(self.classes), dtype=np.float32)
        images = (w * self.images[i] + (1 - w) * self.images[j]).round().astype(np.uint8)
        probs = lam[:, None] * eye[self.labels[i]] + (1 - lam[:, None]) * eye[self.labels[j]]
        return Samples(images, probs, [{"level": round(float(x), 4)} for x in lam])

    def save(self, directory):
        super().save(directory)
        np.savez(directory / "train.npz", images=self.images, labels=self.labels)

    @classmethod
    def load(cls, directory):
        model = super().load(directory)
        with np.load(directory / "train.npz") as data:
            model.images, model.labels = data["images"], data["labels"]
        return model


@hookimpl
def register_generators(register):
    register(Mixup)
