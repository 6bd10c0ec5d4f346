"""Benchmark the bot's image actions on the engine: a plain /imagine against 🎲 Vary and ⚖ Compare.

    python -m bench.bench_actions [--devices cpu cuda] [--steps 40] [--repeats 5]
                                  [--vary-strength 0.35] [--threads N] [--machine "what runs it"]
                                  [--out bench/results]

On the tiny random-weight model (64x64), on the CPU and, when one is present, on CUDA (fp16), one
`ViperGenerator.generate` call each, end to end (text encoding, the denoising loop, VAE, PNG):
- plain: a personalised request, as /imagine sends it (4 UNet rows per step, every step);
- vary: the same request started from plain's image (`init_image`, `init_strength` 0.35 by
  default): a VAE encode, then only the last int(steps * strength) steps;
- compare: the same prompt and seed with personalisation off (`strength` 0, 2 rows per step), set
  beside plain's image in one labelled PNG (`compare_with`).
Each is run once to warm up, then `--repeats` rounds of the three in turn; the JSON holds every sample, the medians and
the ratios vary/plain and compare/plain (`vary_over_plain`, `compare_over_plain`, from the first
device). The tiny model's numbers say how the actions' costs relate in the engine's own code (steps,
rows, the extra encode and composite), not how long SDXL takes; its images are noise.

The JSON goes to `<out>/<date>-<machine or device>-actions.json`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import statistics
import sys
from pathlib import Path

import torch

from bench.bench_generation import measure, slug

PROMPT = "a lighthouse on a cliff at dusk"
LIKED = ["teal", "flowing lines", "art nouveau", "dark gold"]
DISLIKED = ["harsh yellow", "busy composition", "3d render"]
SEED = 1000


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_actions", description=__doc__.split("\n")[0])
    parser.add_argument("--devices", nargs="+", default=None,
                        help="devices to time on (default: cpu, and cuda when present)")
    parser.add_argument("--steps", type=int, default=40, help="denoising steps of the plain request (default 40)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs of each action (default 5)")
    parser.add_argument("--vary-strength", type=float, default=0.35, help="init_strength of the Vary (default 0.35)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's own)")
    parser.add_argument("--machine", default=None, help="what runs it, for the JSON and the file name")
    parser.add_argument("--out", default="bench/results", help="folder for the JSON result")
    args = parser.parse_args(argv)
    if args.devices is None:
        args.devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    if args.steps < 1 or args.repeats < 1 or not 0 < args.vary_strength <= 1:
        parser.error("--steps and --repeats must be positive, --vary-strength in (0, 1]")
    return args


def main(argv: list[str] | None = None) -> dict:
    """Time the three actions on every device, print them, write the JSON; returns what it wrote."""
    from diffusers.utils import logging as diffusers_logging

    args = parse_args(argv)
    diffusers_logging.set_verbosity_error()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    runs = [time_device(torch.device(name), args) for name in args.devices]
    first = runs[0]
    result = {
        "date": dt.date.today().isoformat(),
        "machine": args.machine,
        "model": "tiny",
        "size": first["size"],
        "steps": args.steps,
        "vary_strength": args.vary_strength,
        "repeats": args.repeats,
        "cpu_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "diffusers": _version("diffusers"),
        "python": platform.python_version(),
        "vary_over_plain": first["vary_over_plain"],
        "compare_over_plain": first["compare_over_plain"],
        "devices": runs,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{result['date']}-{slug(args.machine or '-'.join(args.devices))}-actions.json"
    path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: result[k] for k in ("machine", "steps", "vary_over_plain", "compare_over_plain")}))
    print(f"wrote {path}")
    return result


def time_device(device: torch.device, args: argparse.Namespace) -> dict:
    from engine.generation import GenerationDefaults
    from engine.sdxl import load_generator
    from viper.contracts.jobs import GenerateRequest

    cuda = device.type == "cuda"
    gen = load_generator("tiny", device=str(device), dtype="fp16" if cuda else "fp32",
                         defaults=GenerationDefaults(steps=args.steps))
    plain = GenerateRequest(prompt=PROMPT, liked=list(LIKED), disliked=list(DISLIKED), seed=SEED, steps=args.steps)
    delivered = gen.generate(plain).png
    requests = {
        "plain": plain,
        "vary": GenerateRequest(**{**plain.__dict__, "init_image": delivered, "init_strength": args.vary_strength}),
        "compare": GenerateRequest(**{**plain.__dict__, "strength": 0.0, "compare_with": delivered}),
    }
    row: dict = {
        "device": torch.cuda.get_device_name(device) if cuda else "cpu",
        "dtype": "float16" if cuda else "float32",
        "size": gen.native_size,
    }
    samples: dict[str, list[float]] = {name: [] for name in requests}
    rows: dict[str, int] = {}
    for name, request in requests.items():
        steps: list[int] = []
        result = gen.generate(request, on_step=lambda i, n, steps=steps: steps.append(n))  # warm-up; what it runs
        row[name] = {
            "steps_run": steps[-1] if steps else 0,
            "png_size": [result.width, result.height],
            "method": result.method,
        }
    # Round robin, so a neighbour's load on a shared machine falls on every action alike.
    for _ in range(args.repeats):
        for name, request in requests.items():
            seconds, _, rows[name] = measure(lambda request=request: gen.generate(request), device)
            samples[name].append(seconds)
    for name in requests:
        row[name].update(median_s=statistics.median(samples[name]), samples_s=samples[name], unet_rows=rows[name])
    row["vary_over_plain"] = row["vary"]["median_s"] / row["plain"]["median_s"]
    row["compare_over_plain"] = row["compare"]["median_s"] / row["plain"]["median_s"]
    print(f"{row['device']}: plain {row['plain']['median_s']:.3f} s ({row['plain']['steps_run']} steps), "
          f"vary {row['vary']['median_s']:.3f} s ({row['vary']['steps_run']} steps), "
          f"compare {row['compare']['median_s']:.3f} s; vary/plain {row['vary_over_plain']:.2f}, "
          f"compare/plain {row['compare_over_plain']:.2f}", flush=True)
    return row


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)


if __name__ == "__main__":
    main(sys.argv[1:])
