"""Writes an MNIST-shaped data set in the IDX format (synthetic, so the example runs offline)."""

import argparse
import os
import random
import struct
from pathlib import Path


def write_idx_images(path: Path, count: int, rng: random.Random) -> None:
    with path.open("wb") as out:
        out.write(struct.pack(">IIII", 2051, count, 28, 28))
        for _ in range(count):
            out.write(bytes(rng.getrandbits(8) for _ in range(28 * 28)))


def write_idx_labels(path: Path, count: int, rng: random.Random) -> None:
    with path.open("wb") as out:
        out.write(struct.pack(">II", 2049, count))
        out.write(bytes(rng.randrange(10) for _ in range(count)))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="data")
    parser.add_argument("--count", type=int, default=1000)
    args = parser.parse_args()
    rng = random.Random(int(os.environ.get("MNIST_SEED", "0")))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_idx_images(out / "train-images-idx3-ubyte", args.count, rng)
    write_idx_labels(out / "train-labels-idx1-ubyte", args.count, rng)
    write_idx_images(out / "t10k-images-idx3-ubyte", args.count // 5, rng)
    write_idx_labels(out / "t10k-labels-idx1-ubyte", args.count // 5, rng)
    print(f"wrote {args.count} training and {args.count // 5} test images to {out}/")


if __name__ == "__main__":
    main()
