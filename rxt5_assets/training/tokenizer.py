"""A byte-level BPE tokenizer with CodeT5's special tokens, for the `tiny` base model.

CodeT5/CodeT5+ use a byte-level BPE tokenizer whose specials are `<pad> <s> </s> <unk> <mask>` with ids 0..4, pad doubling
as decoder_start_token_id, and every sequence encoded as `<s> ... </s>`. The tokenizer built here follows the same
conventions, so the trainer and the generator treat `tiny` and codet5p-220m/770m alike.
"""

from __future__ import annotations

from typing import Iterable

SPECIAL_TOKENS: tuple[str, ...] = ("<pad>", "<s>", "</s>", "<unk>", "<mask>")
PAD_ID, BOS_ID, EOS_ID, UNK_ID, MASK_ID = range(5)
DEFAULT_VOCAB_SIZE = 8000


def train_bpe_tokenizer(texts: Iterable[str], *, vocab_size: int = DEFAULT_VOCAB_SIZE, min_frequency: int = 2):
    """Train a byte-level BPE on `texts` and wrap it as a `PreTrainedTokenizerFast`.

    The vocabulary holds the 5 specials (ids 0..4), the 256 byte symbols and merges up to `vocab_size`; a small corpus
    gives fewer merges, never an error. Any text round-trips (byte-level: no unknown characters).
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator((t for t in texts if t), trainer=trainer)
    for i, s in enumerate(SPECIAL_TOKENS):
        if tok.token_to_id(s) != i:  # the trainer adds specials first, in order; guard against a future change
            raise RuntimeError(f"special token {s} got id {tok.token_to_id(s)}, expected {i}")
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>",
        pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", BOS_ID), ("</s>", EOS_ID)],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="<pad>",
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        mask_token="<mask>",
        model_max_length=1024,
        padding_side="right",
    )
