"""How long `sitehub validate` takes on the shipped inventories (median of N runs).

Prints the figures and writes artifacts/bench/validate_inventory.json.
Usage: python bench/validate_inventory.py [--runs 15]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from sitehub.inventory import load_inventory, validate_loaded

ROOT = Path(__file__).resolve().parents[1]


def measure(inventory: Path, runs: int) -> dict[str, float]:
    load, check = [], []
    for _ in range(runs):
        start = time.perf_counter()
        loaded = load_inventory(inventory)
        middle = time.perf_counter()
        problems = validate_loaded(loaded)
        end = time.perf_counter()
        assert not problems, problems
        load.append(middle - start)
        check.append(end - middle)
    return {
        "load_median_ms": statistics.median(load) * 1000,
        "validate_median_ms": statistics.median(check) * 1000,
        "runs": runs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    results = {}
    for name in ("demo", "example-site"):
        results[name] = measure(ROOT / "inventories" / name, args.runs)
        figures = results[name]
        print(
            f"{name:14s} load {figures['load_median_ms']:7.1f} ms   "
            f"validate {figures['validate_median_ms']:6.2f} ms   (median of {args.runs})"
        )
    out = ROOT / "artifacts/bench/validate_inventory.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
