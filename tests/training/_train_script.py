"""Run the toy training in its own process (for the SIGKILL and torchrun tests).

usage: python _train_script.py WORKDIR [--steps N] [--checkpoint-every N] [--sleep S]
Each rank writes WORKDIR/weights-rank{R}.pt with its final raw weights.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _trainer_toy import make_trainer

from augdiff.diffusion import DiffusionLoss, make_schedule


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("workdir", type=Path)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--checkpoint-every", type=int, default=5)
    parser.add_argument("--sleep", type=float, default=0.0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    inner = DiffusionLoss(make_schedule("linear", 50))

    def loss_fn(model, batch, generator):
        time.sleep(args.sleep)  # slows the run down so the test can kill it mid-way; changes no numbers
        return inner(model, batch, generator)

    trainer = make_trainer(
        args.workdir, loss_fn=loss_fn, steps=args.steps, checkpoint_every=args.checkpoint_every
    )
    trainer.fit()
    rank = int(os.environ.get("RANK", "0"))
    torch.save(trainer.model.state_dict(), args.workdir / f"weights-rank{rank}.pt")


if __name__ == "__main__":
    main()
