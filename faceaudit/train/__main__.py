"""``python -m faceaudit.train``: the training stage alone, launchable by accelerate / torchrun.

    accelerate launch --config_file training/accelerate/multi_gpu.yaml -m faceaudit.train \\
        --recipe facellm-1b --corpus corpus.jsonl --image-root /data/fairface --out runs/facellm-1b

Every rank runs the same command; the Trainer reads the distributed environment. The
section is printed as JSON on stdout by rank 0 and written to ``<out>/training.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from faceaudit.data.records import McqItem
from faceaudit.errors import EXIT_USAGE, InputError
from faceaudit.store import open_regular


def _read_items(path: Path | None) -> list[McqItem] | None:
    if path is None:
        return None
    items = []
    with open_regular(path, "r", encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                try:
                    items.append(McqItem.model_validate_json(line))
                except ValueError as error:
                    raise InputError(f"{path}: line {number}: not a multiple-choice item: {error}") from None
    return items


def _parser() -> argparse.ArgumentParser:
    from faceaudit.cli_common import Parser  # exits 3 on bad arguments, never argparse's 2

    parser = Parser(prog="python -m faceaudit.train", description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="tiny", help="recipe name (tiny, facellm-1b, facellm-8b, facellm-38b) or YAML path")
    parser.add_argument("--base-model", help="hub id or checkpoint directory (default: the recipe's)")
    parser.add_argument("--corpus", type=Path, help="corpus JSONL (faceaudit) or JSON (ShareGPT)")
    parser.add_argument("--image-root", type=Path, required=True, help="directory the image paths are relative to")
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument("--train-items", type=Path, help="JSONL of McqItem mixed into training")
    parser.add_argument("--eval-items", type=Path, help="JSONL of McqItem scored after training")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-resume", action="store_true", help="discard checkpoints and start over")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument(
        "--set", action="append", default=[], metavar="FIELD=VALUE",
        help="override a recipe field (YAML value), e.g. --set max_steps=20",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _train(args)
    except BaseException as error:  # noqa: BLE001 - the same exit-code table as `faceaudit`
        if isinstance(error, (SystemExit, KeyboardInterrupt)):
            raise
        from faceaudit.cli import exit_code_of

        print(f"error: {type(error).__name__}: {error}", file=sys.stderr)
        return exit_code_of(error)


def _train(args: argparse.Namespace) -> int:
    import yaml

    from faceaudit.train.recipe import RecipeError, load_recipe, parse_recipe
    from faceaudit.train.trainer import prepare_base_model, train_lora

    try:
        recipe = load_recipe(args.recipe)
        if args.set:
            data = recipe.model_dump(mode="json")
            for override in args.set:
                field, sep, raw = override.partition("=")
                if not sep:
                    raise RecipeError(f"--set {override!r} must look like field=value")
                node = data
                keys = field.split(".")
                for key in keys[:-1]:
                    node = node.setdefault(key, {})
                node[keys[-1]] = yaml.safe_load(raw)
            recipe = parse_recipe(data, f"{args.recipe} with --set overrides")
    except RecipeError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE  # not 2: that is the code for INSUFFICIENT EVIDENCE
    import torch

    from faceaudit.evaluate.distributed import current_shard

    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not torch.cuda.is_available():
        # No GPU: the launched processes train together on CPU (gloo), as `accelerate launch --cpu`
        # would tell them; the Trainer would otherwise train each alone, over the same files.
        os.environ.setdefault("ACCELERATE_USE_CPU", "true")
    with current_shard().main_first():  # rank 0 builds the tiny base model, the others load it
        base = args.base_model or prepare_base_model(recipe, args.out / "base-model")
    section = train_lora(
        base_model=base, corpus=args.corpus, image_root=args.image_root, recipe=recipe, out_dir=args.out,
        train_items=_read_items(args.train_items), eval_items=_read_items(args.eval_items),
        seed=args.seed, resume=not args.no_resume, progress=not args.quiet,
    )
    if int(os.environ.get("RANK", "0")) == 0:
        print(json.dumps(json.loads(section.model_dump_json()), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
