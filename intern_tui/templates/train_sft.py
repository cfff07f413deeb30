# /// script
# requires-python = ">=3.10"
# dependencies = [
#     "torch>=2.4",
#     "transformers>=5.0",
#     "trl>=1.16,<2",
#     "datasets>=4.0",
#     "accelerate>=1.10",
#     "tokenizers>=0.21",
# ]
# ///
"""Supervised fine-tuning with TRL's SFTTrainer: an intern-tui training template.

Runs unchanged on a laptop CPU (try `--model tiny`) and on GPUs (bf16 where supported). The dataset is a
local JSON/JSONL file or a Hub dataset with a `messages` column (chat format) or a `text` column.

    python train_sft.py --model tiny --max-steps 50
    python train_sft.py --model Qwen/Qwen3-0.6B --dataset trl-lib/Capybara --max-steps 500
"""

# --- intern-tui template helpers: keep this block identical in train_sft/dpo/grpo.py ----------------
import argparse
import importlib.util
import json
import os
import random
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
METRIC_MARKER = "@@intern-tui-metric@@"
TRACKIO_MARKER = "@@intern-tui-trackio@@"
CHAT_TEMPLATE = (
    "{% for message in messages %}{{ '<|' + message['role'] + '|>\\n' + message['content'] + '</s>\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}"
)


def fail(message: str) -> None:
    """One clear line on stderr and exit code 2 (bad input), instead of a traceback."""
    print(f"error: {message}", file=sys.stderr, flush=True)
    sys.exit(2)


def common_args(description: str, default_data: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument(
        "--model", default="tiny", help="Hub id or local path; 'tiny' builds a tiny Llama from scratch"
    )
    p.add_argument(
        "--dataset", default=str(HERE / "data" / default_data), help="local .json/.jsonl or Hub id"
    )
    p.add_argument("--split", default="train")
    p.add_argument("--output-dir", default=os.environ.get("INTERN_TUI_OUTPUT_DIR") or "output")
    p.add_argument("--max-steps", type=int, default=50)
    p.add_argument(
        "--learning-rate", type=float, default=None, help="default: a per-trainer value, higher for tiny"
    )
    p.add_argument("--batch-size", type=int, default=4, help="per device")
    p.add_argument("--grad-accum", type=int, default=1, help="gradient accumulation steps")
    p.add_argument("--logging-steps", type=int, default=5)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--max-length", type=int, default=512)
    p.add_argument("--max-samples", type=int, default=None, help="use only the first N rows")
    p.add_argument("--gradient-checkpointing", action="store_true")
    p.add_argument("--no-save", action="store_true", help="don't save the final model")
    p.add_argument(
        "--report-to",
        default="auto",
        help="'trackio', 'none', any Trainer integration; auto: trackio if installed",
    )
    p.add_argument(
        "--project", default=os.environ.get("TRACKIO_PROJECT") or "intern-tui", help="Trackio project"
    )
    return p


def tracking_kwargs(args: argparse.Namespace) -> dict:
    """Where the Trainer reports: Trackio (local-first: a SQLite file under $TRACKIO_DIR, dashboard with
    `trackio show`) when asked, or by default when it is installed. intern-tui's own plots never need it."""
    report_to = args.report_to
    if report_to == "auto":
        report_to = "trackio" if importlib.util.find_spec("trackio") else "none"
    kwargs = {"report_to": report_to, "run_name": os.environ.get("INTERN_TUI_JOB_ID")}
    if report_to == "trackio":
        kwargs["project"] = args.project
        where = os.environ.get("TRACKIO_DIR") or str(
            Path(os.environ.get("HF_HOME") or "~/.cache/huggingface") / "trackio"
        )
        info = {"project": args.project, "dir": where, "command": f"trackio show --project {args.project}"}
        print(f"{TRACKIO_MARKER} {json.dumps(info)}", flush=True)
    return kwargs


def load_rows(args: argparse.Namespace):
    """The training rows: a local JSON/JSONL/parquet file, else a Hub dataset id."""
    from datasets import Dataset, load_dataset

    path = Path(args.dataset).expanduser()
    if path.is_file():
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".parquet":
            ds = load_dataset("parquet", data_files=str(path), split="train")
        elif path.suffix == ".jsonl" or not text.lstrip().startswith("["):
            rows = [json.loads(line) for line in text.splitlines() if line.strip()]
            ds = Dataset.from_list(rows)
        else:
            ds = Dataset.from_list(json.loads(text))
    elif path.suffix in (".json", ".jsonl", ".parquet") or args.dataset.startswith((".", "/")):
        fail(f"dataset file {args.dataset} not found")
    else:
        ds = load_dataset(args.dataset, split=args.split)
    if len(ds) == 0:
        fail(f"dataset {args.dataset} has no rows")
    if args.max_samples:
        ds = ds.select(range(min(args.max_samples, len(ds))))
    return ds


def seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    torch.manual_seed(seed)


def device_kwargs(args: argparse.Namespace) -> dict:
    """Trainer settings for this machine: bf16 on GPUs that support it, fp16 on older GPUs, fp32 on CPU
    (TRL defaults to bf16, which CPUs can't train in)."""
    import torch

    kwargs: dict = {"gradient_checkpointing": True} if args.gradient_checkpointing else {}
    if torch.cuda.is_available():
        bf16 = torch.cuda.is_bf16_supported()
        return {**kwargs, "bf16": bf16, "fp16": not bf16}
    return {**kwargs, "bf16": False, "fp16": False, "dataloader_pin_memory": False}


def build_tiny(texts: list[str], out_dir: Path) -> str:
    """A tiny Llama (hidden 64, 2 layers) with a byte-level BPE tokenizer trained on `texts`, saved to
    `out_dir` so trainers (and reference models) can load it like any checkpoint. Returns its path."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = ["<pad>", "<s>", "</s>", "<unk>", "<|user|>", "<|assistant|>", "<|system|>"]
    trainer = trainers.BpeTrainer(
        vocab_size=600, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(texts, trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>"
    )
    fast.chat_template = CHAT_TEMPLATE
    config = LlamaConfig(
        vocab_size=len(fast),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=1024,
        bos_token_id=fast.bos_token_id,
        eos_token_id=fast.eos_token_id,
        pad_token_id=fast.pad_token_id,
        tie_word_embeddings=True,
    )
    model = LlamaForCausalLM(config)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    fast.save_pretrained(out_dir)
    return str(out_dir)


def metrics_callback():
    """Appends each log as one JSON line `{"step": n, ...}` to $INTERN_TUI_METRICS_FILE (intern-tui reads
    it live); prints it as a marked line instead where the file isn't visible (HF Jobs)."""
    from transformers import TrainerCallback

    class MetricsFileCallback(TrainerCallback):
        def __init__(self) -> None:
            self.path = os.environ.get("INTERN_TUI_METRICS_FILE")
            self.to_stdout = os.environ.get("INTERN_TUI_METRICS_STDOUT") == "1"

        def on_train_begin(self, args, state, control, **kwargs):
            if self.path and state.is_world_process_zero:
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
                Path(self.path).touch()  # tells intern-tui this job writes the file

        def on_log(self, args, state, control, logs=None, **kwargs):
            if not logs or not state.is_world_process_zero:
                return
            record = {"step": state.global_step}
            record.update({k: v for k, v in logs.items() if isinstance(v, int | float | str)})
            line = json.dumps(record)
            if self.path:
                with open(self.path, "a", encoding="utf-8") as fh:
                    fh.write(line + "\n")
            if self.to_stdout:
                print(f"{METRIC_MARKER} {line}", flush=True)

    return MetricsFileCallback()


def finish(trainer, args: argparse.Namespace, task: str, **extra) -> None:
    """Save the state (trainer_state.json) and model, then print a one-line JSON summary."""
    trainer.save_state()
    if not args.no_save:
        trainer.save_model(args.output_dir)

    def last(key: str):
        return next((e[key] for e in reversed(trainer.state.log_history) if key in e), None)

    summary = {
        "summary": task,
        "steps": trainer.state.global_step,
        "final_loss": last("loss"),
        **{k: last(v) for k, v in extra.items()},
        "output_dir": str(Path(args.output_dir).resolve()),
    }
    print(json.dumps(summary), flush=True)


# --- end of shared helpers ------------------------------------------------------------------------


def chat_texts(ds) -> list[str]:
    texts = []
    for row in ds:
        if row.get("messages"):
            texts += [f"<|{m['role']}|>\n{m['content']}" for m in row["messages"]]
        elif row.get("text"):
            texts.append(row["text"])
    return texts


def main() -> None:
    parser = common_args("Supervised fine-tuning (TRL SFTTrainer).", "sft.jsonl")
    parser.add_argument("--packing", action="store_true", help="pack short examples into full sequences")
    args = parser.parse_args()
    ds = load_rows(args)
    if "messages" not in ds.column_names and "text" not in ds.column_names:
        fail(f"an SFT dataset needs a 'messages' or 'text' column; {args.dataset} has {ds.column_names}")
    seed_everything(args.seed)

    from trl import SFTConfig, SFTTrainer

    tiny = args.model == "tiny"
    model = build_tiny(chat_texts(ds), Path(args.output_dir) / "tiny-init") if tiny else args.model
    config = SFTConfig(
        output_dir=args.output_dir,
        max_steps=args.max_steps,
        per_device_train_batch_size=args.batch_size,
        gradient_accumulation_steps=args.grad_accum,
        learning_rate=args.learning_rate or (3e-3 if tiny else 2e-5),
        logging_steps=args.logging_steps,
        seed=args.seed,
        max_length=args.max_length,
        packing=args.packing,
        save_strategy="no",
        **tracking_kwargs(args),
        **device_kwargs(args),
    )
    trainer = SFTTrainer(model=model, args=config, train_dataset=ds, callbacks=[metrics_callback()])
    trainer.train()
    finish(trainer, args, "sft", final_train_loss="train_loss")


if __name__ == "__main__":
    main()
