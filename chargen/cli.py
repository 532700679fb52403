"""The command line: ``python -m chargen train | eval``."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Sequence

from chargen.checks import MAX_TEMPERATURE
from chargen.errors import ChargenError

MODEL_HELP = (
    "checkpoint folder, a bundled model's short name (shakespeare, shakespeare-word, python), "
    "or Hugging Face Hub repo id user/repo[@revision]"
)


def _one_torch_thread() -> None:
    """Run the model on one torch thread (generate, eval).

    Both step a recurrent network through the text at a small batch (eval scores one stream by
    default): each step is a few small matrix products, so a second thread only adds overhead,
    and on a machine where another process holds a core two threads collapse (FACTS.md). Training
    keeps torch's default: its batched steps (32 x 128 characters) are big enough to use every core.
    """
    import torch

    torch.set_num_threads(1)


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train a model on a text file",
        description=(
            "Train a character (or, with --unit word, word) model on CORPUS; checkpoints go to --out. "
            "The validation loss it reports is measured on text held out from CORPUS itself "
            "(--val-scheme, --val-fraction): text the model never trained on, but from the same source, "
            "so expect really new text to score higher (README: Train)."
        ),
    )
    p.add_argument("corpus", help="UTF-8 text file to train on")
    p.add_argument("--out", required=True, help="folder for checkpoints, training state, log and plot")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue the run saved in --out (a run that used its budget needs a bigger --max-steps or --max-minutes)",
    )
    m = p.add_argument_group("model")
    m.add_argument(
        "--unit",
        help=(
            "char: one character per step (default); word: one word, whitespace run or other character per "
            "step, words outside the vocabulary spelled out in characters"
        ),
    )
    m.add_argument(
        "--vocab-size",
        type=int,
        help="--unit word: tokens in the vocabulary, every character of the corpus included (default 4000)",
    )
    m.add_argument("--cell", choices=None, help="rnn, lstm, gru or ngram (a Markov model: --order) (default gru)")
    m.add_argument(
        "--order",
        type=int,
        help="--cell ngram: characters per n-gram, 1..10 (the next one and order - 1 before it; try 5)",
    )
    m.add_argument("--layers", type=int, dest="num_layers", help="recurrent layers (default 2)")
    m.add_argument("--hidden", type=int, dest="hidden_size", help="hidden size (default 512)")
    m.add_argument("--embedding", type=int, dest="embedding_size", help="embedding size (default 64)")
    m.add_argument("--dropout", type=float, help="dropout in [0, 1) (default 0.1)")
    o = p.add_argument_group("optimisation")
    o.add_argument("--seq-len", type=int, help="characters (--unit word: tokens) per training window (default 128)")
    o.add_argument("--batch-size", type=int, help="windows per step (default 32)")
    o.add_argument("--lr", type=float, help="peak learning rate (default 3e-3)")
    o.add_argument("--schedule", help="cosine, linear or constant (default cosine)")
    o.add_argument("--warmup-steps", type=int, help="linear warmup steps (default 50)")
    o.add_argument("--min-lr-ratio", type=float, help="final lr as a fraction of --lr (default 0.1)")
    o.add_argument("--weight-decay", type=float, help="AdamW weight decay (default 0.01)")
    o.add_argument("--grad-clip", type=float, help="gradient norm clip, 0 = off (default 1.0)")
    b = p.add_argument_group("budget and evaluation")
    b.add_argument("--max-steps", type=int, help="stop after this many steps (default 5000 if no --max-minutes)")
    b.add_argument(
        "--max-minutes", type=float, help="wall-clock budget in minutes, evaluation included, counted across resumes"
    )
    b.add_argument("--eval-every", type=int, help="evaluate every N steps (default 100)")
    b.add_argument("--eval-chars", type=int, help="validation characters scored per evaluation (default 200000)")
    b.add_argument(
        "--val-fraction",
        type=float,
        help=(
            "fraction of the corpus held out for validation, which the reported validation loss is measured on "
            "(default 0.05); 0: nothing held out, no validation loss, the last step is kept"
        ),
    )
    b.add_argument(
        "--val-scheme",
        help=(
            "blocks: up to 16 equal blocks spread through the corpus, --val-gap unused around each (default); "
            "tail: the corpus's end (runs saved before this option resume with tail)"
        ),
    )
    b.add_argument(
        "--val-gap",
        type=int,
        help=(
            "characters (--unit word: tokens) left unused on each side of a held-out block "
            "(default: --seq-len + 1 for blocks, 0 for tail)"
        ),
    )
    b.add_argument("--seed", type=int, help="random seed (default 1337)")
    b.add_argument("--device", help="cpu or cuda (default cpu)")
    b.add_argument("--quiet", action="store_true", help="no progress bar")


def _run_train(args: argparse.Namespace) -> int:
    from chargen.training.distributed import ranks_from_env
    from chargen.training.train import TrainConfig, train

    given = {k: v for k, v in vars(args).items() if v is not None and k not in ("command", "resume", "quiet")}
    config = TrainConfig(**given)
    result = train(config, resume=args.resume, progress_bar=not args.quiet)
    summary = {
        "step": result.step,
        # null, not NaN (which is not JSON), when --val-fraction 0 held nothing out
        "best_val_loss": round(result.best_val_loss, 4) if math.isfinite(result.best_val_loss) else None,
        "last_val_loss": round(result.last_val_loss, 4) if math.isfinite(result.last_val_loss) else None,
        "minutes": round(result.elapsed / 60, 2),
        "out": str(result.out),
    }
    if result.unit == "word":  # losses are per token; per character they compare with character models
        for name in ("best", "last"):
            loss = getattr(result, f"{name}_val_loss")
            if math.isfinite(loss):
                summary[f"{name}_val_nats_per_char"] = round(loss / result.chars_per_token, 4)
    if result.stopped_early:
        summary["stopped"] = "interrupted; continue with --resume"
    ranks = ranks_from_env()
    if ranks.main:  # under torchrun, one summary for the run
        print(json.dumps(summary))
    if ranks.active:
        # Under torchrun, leave without the interpreter's teardown: destroying torch's distributed
        # objects at exit sometimes aborts a finished run ("terminate called without an active
        # exception", SIGABRT after the summary; seen in tests/test_ddp.py on clean clones).
        # Everything is saved, synced and printed by now.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    return 0


def _add_eval(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval",
        help="held-out loss of a model on a text file",
        description=(
            "Print the mean negative log-likelihood per character of TEXTFILE (its total divided by the characters "
            "scored, so word and character models compare), and for a word model per token too. Every character "
            "is scored, from the state a line break leaves (where generation starts). Characters the model does "
            "not know are left out, as generation leaves them out of a prompt, and listed with their counts "
            '(the "dropped" field); --strict refuses them instead.'
        ),
    )
    p.add_argument("model", help=MODEL_HELP)
    p.add_argument("textfile", help="UTF-8 text, scored in the model's characters")
    p.add_argument(
        "--strict", action="store_true", help="refuse a text with characters the model does not know (an error)"
    )
    p.add_argument(
        "--streams",
        type=int,
        default=1,
        help="score the text as this many parallel pieces (faster, slightly higher loss); default 1",
    )
    p.add_argument(
        "--adapt",
        action="store_true",
        help=(
            "also score it with dynamic evaluation (a copy of the model adapts to each piece after scoring it): "
            "adds adapted_nats_per_char beside the static nats_per_char"
        ),
    )
    p.add_argument(
        "--adapt-lr",
        type=float,
        help="--adapt's learning rate (default: the model folder's adapt.json, else 1e-4; at most 3e-4)",
    )


def _run_eval(args: argparse.Namespace) -> int:
    from chargen.errors import CorpusError
    from chargen.hub import load_model
    from chargen.training.data import read_text
    from chargen.training.evaluate import score_text

    if args.streams < 1:
        raise ChargenError(f"--streams must be at least 1, got {args.streams}")
    _check_adapt(args)
    _one_torch_thread()
    model = load_model(args.model)
    text = read_text(args.textfile)
    try:
        figures = score_text(model, text, streams=args.streams, strict=args.strict)
    except ValueError as exc:
        if isinstance(exc, ChargenError):
            raise
        raise CorpusError(f"{args.textfile}: {exc}") from None
    dropped = figures.get("dropped")
    if isinstance(dropped, dict) and dropped:
        counts = ", ".join(f"{ch!r} ({count:,})" for ch, count in dropped.items())
        print(f"note: left out characters the model does not know: {counts}", file=sys.stderr)
    if args.adapt:
        from chargen.training.dynamic_eval import DEFAULT_ADAPT_LR, AdaptSettings, score_adapted, stored_lr

        lr = args.adapt_lr
        folder = _model_folder(args.model)
        if lr is None and folder is not None:  # the model's own choice, else the default
            lr = stored_lr(folder)
        adapt = AdaptSettings(lr=DEFAULT_ADAPT_LR if lr is None else lr)
        figures = {**figures, **score_adapted(model, text, adapt)}
    print(json.dumps(figures))
    return 0


def _check_adapt(args: argparse.Namespace) -> None:
    """Refuse ``--adapt`` options that can't work, before the model loads."""
    if args.adapt_lr is not None and not args.adapt:
        raise ChargenError("--adapt-lr applies with --adapt only")
    if args.adapt and args.streams != 1:
        raise ChargenError("--adapt reads the text as one stream: leave out --streams")
    if args.adapt_lr is not None:
        from chargen.training.dynamic_eval import AdaptSettings

        AdaptSettings(lr=args.adapt_lr)


def _add_push(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "push",
        help="publish a checkpoint folder to the Hugging Face Hub",
        description=(
            "Upload CHECKPOINT_DIR (config.json, model.safetensors, README.md model card and loss.png when present; "
            "never the training state) to the Hub model repo REPO_ID, creating it if needed, and print its URL. "
            "The token comes from HF_TOKEN or a prior `hf auth login`."
        ),
    )
    p.add_argument("checkpoint", metavar="CHECKPOINT_DIR", help="checkpoint folder to publish")
    p.add_argument("repo_id", metavar="REPO_ID", help="Hub model repo, user/repo")
    p.add_argument(
        "--private", action="store_true", help="create the repo as private (an existing repo keeps its visibility)"
    )


def _run_push(args: argparse.Namespace) -> int:
    from chargen.hub import CARD_NAME, push_checkpoint, push_files

    url = push_checkpoint(args.checkpoint, args.repo_id, private=args.private)
    names = [path.name for path in push_files(args.checkpoint)]
    print(f"uploaded {', '.join(names)}", file=sys.stderr)
    if CARD_NAME not in names:
        print(f"note: {args.checkpoint} has no {CARD_NAME} model card, so the repo has none", file=sys.stderr)
    print(url)
    return 0


COMMANDS = {"train": (_add_train, _run_train), "eval": (_add_eval, _run_eval)}
COMMANDS["push"] = (_add_push, _run_push)


def _add_generate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "generate",
        help="greedy and sampled continuations of a prompt, side by side",
        description=(
            "Continue --prompt with MODEL twice from the same primed state: greedily (argmax) and sampled "
            "at --temperature. Prints both, labelled, and whether the greedy text falls into a loop."
        ),
    )
    p.add_argument("model", help=MODEL_HELP)
    p.add_argument("--prompt", default="", help="text to continue (default: empty, which starts from a line break)")
    p.add_argument("--length", type=int, default=200, help="characters to generate, 1..5000 (default 200)")
    p.add_argument(
        "--temperature",
        type=float,
        default=0.8,
        help=f"sampling temperature 0..{MAX_TEMPERATURE:g}: 0 = greedy, below 1 sharper, 1 = the model's own "
        "distribution, above 1 flatter (default 0.8)",
    )
    p.add_argument(
        "--top-k",
        type=int,
        help="sample only among the K most likely characters (word models: tokens); 0 = off (default)",
    )
    p.add_argument("--top-p", type=float, help="sample only from the smallest set holding probability P (0 < P <= 1)")
    p.add_argument(
        "--repetition-penalty",
        type=float,
        help="penalise characters (word models: tokens) seen recently, >= 1 (1 = off)",
    )
    p.add_argument("--seed", type=int, help="seed for the sampled text (default: a fresh one, printed)")
    p.add_argument("--precision", default="auto", help="auto (the fastest that runs), exact, fp32, fp16 or int8")
    p.add_argument("--json", action="store_true", help="print one JSON object (with --stream: JSON lines)")
    p.add_argument(
        "--with-prompt",
        action="store_true",
        help='print the prompt before each text, as typed (with --json: a "prompt" field; the texts stay without it)',
    )
    p.add_argument(
        "--stream",
        action="store_true",
        help=(
            "print the sampled text as it is generated, then the greedy text (with --json: one line per step with "
            "the characters it wrote: one, or a word model's token)"
        ),
    )


def _run_generate(args: argparse.Namespace) -> int:
    from chargen.hub import load_model
    from chargen.inference.generate import stream_compare
    from chargen.inference.settings import SamplingSettings

    sampling = SamplingSettings(
        temperature=args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
        repetition_penalty=args.repetition_penalty,
        seed=args.seed,
        precision=args.precision,
    )  # checked before the model loads
    _one_torch_thread()
    model = load_model(args.model)
    results = stream_compare(
        model, args.prompt, args.length, chunk_size=1 if args.stream else args.length, settings=sampling
    )
    settings = {
        "temperature": args.temperature,  # as given (the settings hold 0 for a vanishing one)
        "top_k": sampling.top_k,
        "top_p": sampling.top_p,
        "repetition_penalty": sampling.repetition_penalty,
    }
    shown_prompt = args.prompt if args.with_prompt else ""
    result = None
    # Characters of each text printed so far: a step writes one character, but a word model's
    # step writes a whole token (and its row may be complete while the other still grows).
    greedy_shown = sampled_shown = 0
    for result in results:
        if args.stream and greedy_shown == sampled_shown == 0:
            _print_dropped(result.dropped)
            if not args.json:
                print(f"=== sampled (temperature {args.temperature:g}, seed {result.seed}) ===")
                print(shown_prompt, end="")
        if args.stream and args.json:
            step = {"greedy": result.greedy[greedy_shown:], "sampled": result.sampled[sampled_shown:]}
            print(json.dumps(step), flush=True)
        elif args.stream:
            print(result.sampled[sampled_shown:], end="", flush=True)
        greedy_shown, sampled_shown = len(result.greedy), len(result.sampled)
    assert result is not None and result.done
    if args.json:
        extra = {"prompt": args.prompt} if args.with_prompt else {}
        print(json.dumps({**result.to_dict(), **settings, **extra, "originality": _originality(args.model, result)}))
        return 0
    if args.stream:
        print()
    else:
        _print_dropped(result.dropped)
        print(f"=== sampled (temperature {args.temperature:g}, seed {result.seed}) ===")
        print(shown_prompt + result.sampled)
    print("=== greedy ===")
    print(shown_prompt + result.greedy)
    print(f"=== loop: {result.loop.describe() if result.loop else 'none'} ===")
    return 0


def _model_folder(name: str):
    """The local folder that model ``name`` loads from (a folder, or a bundled model's short name), None for the Hub."""
    from chargen.hub import bundled_folder, local_path, parse_hub_ref

    if parse_hub_ref(name) is not None:
        return None
    path = local_path(name)
    return path if path.is_dir() else bundled_folder(name)


def _originality(model_name: str, result) -> dict[str, dict] | None:
    """The originality meter of both texts, for a local model folder that ships a training-text index."""
    from chargen.inference.originality import find_index, originality

    folder = _model_folder(model_name)
    index = find_index(folder) if folder is not None else None
    if index is None:
        return None
    return {"greedy": originality(result.greedy, index), "sampled": originality(result.sampled, index)}


def _print_dropped(dropped: list[str]) -> None:
    if dropped:
        names = ", ".join(repr(ch) for ch in dropped)
        print(f"note: dropped characters the model does not know: {names}", file=sys.stderr)


COMMANDS["generate"] = (_add_generate, _run_generate)


def _add_deploy(sub: argparse._SubParsersAction) -> None:
    from chargen.hosting.deploy import add_parser

    add_parser(sub)


def _run_deploy(args: argparse.Namespace) -> int:
    from chargen.hosting.deploy import run_cli

    return run_cli(args)


COMMANDS["deploy"] = (_add_deploy, _run_deploy)


def _add_export(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="write a model in another runtime's format (ONNX, for the static page)",
        description=(
            "Write MODEL to --out as an ONNX graph of one step (one token id and the state in; the logits and the "
            "new state out), with export.json (vocabulary, unit, state shape, names, precision) and config.json."
        ),
    )
    p.add_argument("model", help=MODEL_HELP)
    p.add_argument("--format", default="onnx", choices=["onnx"], help="onnx (the only one so far; default)")
    p.add_argument("--out", required=True, help="folder to write (created if needed)")
    p.add_argument(
        "--precision",
        default="fp16",
        help="fp16: recurrent matrices stored in fp16, the texts of `generate --precision fp16` (default); "
        "fp32: every weight as trained",
    )
    p.add_argument("--name", default="", help="the model's name, shown by a page that offers several")


def _run_export(args: argparse.Namespace) -> int:
    from chargen.export.onnx import check_export_precision, export_onnx
    from chargen.hub import load_model

    check_export_precision(args.precision)  # before the model loads
    model = load_model(args.model)
    written = export_onnx(model, args.out, precision=args.precision, name=args.name)
    print(json.dumps({"out": str(written.folder), "graph": str(written.graph), "precision": args.precision}))
    return 0


COMMANDS["export"] = (_add_export, _run_export)


def build_parser() -> argparse.ArgumentParser:
    """The ``chargen`` argument parser with every subcommand."""
    parser = argparse.ArgumentParser(prog="python -m chargen", description="Character-level RNN language models.")
    sub = parser.add_subparsers(dest="command", required=True)
    for add, _ in COMMANDS.values():
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; bad input prints one ``error:`` line on stderr and returns a non-zero code."""
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command][1](args)
    except ChargenError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`chargen generate --stream | head -2`): stop quietly, as cat does.
        # Python flushes stdout again at exit; point it at devnull so that flush can't fail too.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
