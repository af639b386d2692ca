"""``faceaudit generate``: the corpus stage on its own (wired into faceaudit/cli.py).

There is deliberately no ``--api-key`` option: a key on the command line ends up
in shell history and process listings; the openai backend reads it from the
environment variable ``--api-key-env`` names.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from faceaudit.corpus.config import CorpusConfig
from faceaudit.corpus.prompts import ASPECT_IDS


def add_generate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", required=True,
                        help="FairFace root (with fairface_label_*.csv) or a manifest file/folder")
    parser.add_argument("--dataset-kind", choices=["fairface", "manifest"], default="fairface")
    parser.add_argument("--split", default=None, help="use only records of this split (e.g. val)")
    parser.add_argument("--backend", choices=["template", "openai", "hf"], default="template")
    parser.add_argument("--model", default=None,
                        help="openai: model name; hf: checkpoint directory or hub id")
    parser.add_argument("--base-url", default=None, help="openai: API root, e.g. http://127.0.0.1:8000/v1")
    parser.add_argument("--api-key-env", default=None,
                        help="openai: environment variable holding the key (default OPENAI_API_KEY)")
    parser.add_argument("--aspects", default=None,
                        help=f"comma-separated subset of: {', '.join(ASPECT_IDS)}")
    parser.add_argument("--limit", type=int, default=None, help="at most this many images")
    parser.add_argument("--concurrency", type=int, default=None, help="openai: requests in flight")
    parser.add_argument("--prompt-file", default=None, help="YAML/JSON prompt set to use instead of the built-in one")
    parser.add_argument("--out", default="corpus.jsonl", help="corpus JSONL (resumed if it exists)")
    parser.add_argument("--sharegpt", default=None, help="also export accepted pairs to this ShareGPT JSON")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def config_from_args(args: argparse.Namespace) -> CorpusConfig:
    values: dict[str, object] = {"backend": args.backend}
    for name in ("model", "base_url", "api_key_env", "limit", "concurrency", "prompt_file"):
        value = getattr(args, name)
        if value is not None:
            values[name] = value
    if args.aspects:
        values["aspects"] = [a.strip() for a in args.aspects.split(",") if a.strip()]
    return CorpusConfig(**values)


def run_generate(args: argparse.Namespace) -> int:
    """Load the dataset, generate (or resume) the corpus, print the section as JSON."""
    from faceaudit.corpus.generate import generate_corpus
    from faceaudit.corpus.sharegpt import export_sharegpt
    from faceaudit.data.config import DatasetConfig
    from faceaudit.data.loaders import load_dataset

    cfg = config_from_args(args)
    dataset = load_dataset(
        DatasetConfig(kind=args.dataset_kind, path=args.dataset, split=args.split),
        progress=not args.quiet,
    )
    section = generate_corpus(dataset.records, dataset.root, cfg, Path(args.out),
                              seed=args.seed, progress=not args.quiet)
    if args.sharegpt:
        export_sharegpt(args.out, args.sharegpt)
    print(section.model_dump_json(indent=2))
    if section.n_failed:
        print(f"{section.n_failed} pair(s) failed after all retries; rerun the same command to "
              "retry them", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="faceaudit generate",
                                     description="Generate a FairFaceGPT-style Q&A corpus.")
    add_generate_arguments(parser)
    return run_generate(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
