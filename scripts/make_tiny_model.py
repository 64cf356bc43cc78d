#!/usr/bin/env python3
"""Generate a tiny random-weight Llama with its own tokenizer, for vLLM on CPU with no model hub.

Usage: make_tiny_model.py OUT_DIR   (run with the vLLM venv's python: needs torch, transformers, tokenizers)

The output is deterministic and carries a stamp of this script's hash: a re-run with an
unchanged script returns at once, and a half-written model never appears under OUT_DIR.
"""
from __future__ import annotations

import hashlib
import random
import shutil
import sys
import tempfile
from pathlib import Path

# torch, tokenizers and transformers are imported where used: an up-to-date model costs no import time.

SEED = 1234
STAMP = ".complete"
VOCAB_SIZE = 1024
BOS, EOS, PAD = "<s>", "</s>", "<pad>"
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "<|{{ message['role'] }}|>\n{{ message['content'] }}{{ eos_token }}\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


def script_hash() -> str:
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()


def corpus(rng: random.Random, sentences: int = 20000) -> list[str]:
    """Pseudo-English from random syllables: enough distinct pairs for the BPE to fill its vocabulary."""
    syllables = [c + v for c in "bcdfghjklmnprstvwz" for v in "aeiou"]
    words = ["".join(rng.choices(syllables, k=rng.randint(1, 3))) for _ in range(600)]
    lines = []
    for _ in range(sentences):
        sentence = " ".join(rng.choices(words, k=rng.randint(4, 12)))
        lines.append(sentence.capitalize() + rng.choice([".", "?", "!", ","]) + " " + str(rng.randint(0, 999)))
    return lines


def build_tokenizer(rng: random.Random):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=[BOS, EOS, PAD],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus(rng), trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        model_max_length=512,
        chat_template=CHAT_TEMPLATE,
    )


def build_model(tokenizer):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=VOCAB_SIZE,
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=32,  # vLLM's CPU attention rejects head sizes below 32
        max_position_embeddings=512,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    torch.manual_seed(SEED)
    return LlamaForCausalLM(config).to(torch.bfloat16).eval()


def make(out_dir: Path) -> None:
    digest = script_hash()
    stamp = out_dir / STAMP
    if stamp.is_file() and stamp.read_text().strip() == digest:
        print(f"tiny model up to date: {out_dir}")
        return

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        tokenizer = build_tokenizer(random.Random(SEED))
        tokenizer.save_pretrained(tmp)
        build_model(tokenizer).save_pretrained(tmp)
        (tmp / STAMP).write_text(digest + "\n")
        # mkdtemp makes the folder private; a model server in a container may run as another user.
        tmp.chmod(0o755)
        for f in tmp.iterdir():
            f.chmod(0o644)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        tmp.rename(out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    print(f"tiny model written: {out_dir}")


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(f"usage: {argv[0]} OUT_DIR", file=sys.stderr)
        return 2
    make(Path(argv[1]).resolve())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
