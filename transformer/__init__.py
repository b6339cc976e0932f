"""transformer: a Transformer built on minigrad (its parts: docs/architecture.md).

    from transformer import TransformerConfig, TransformerLM
    model = TransformerLM(TransformerConfig(vocab_size=10, max_len=16))
    logits, loss = model(ids, targets)          # ids, targets: (B, T) integer arrays

`transformer.interop` (weights to and from PyTorch) is imported on demand, and imports torch
only when called: importing `transformer` never imports torch.
"""
from .attention import MultiHeadAttention, record_attention
from .block import FeedForward, SwiGLUFeedForward, TransformerBlock
from .config import TransformerConfig
from .decoder import TransformerDecoderBlock
from .encoder_decoder import EncoderDecoder, TransformerDecoder, TransformerEncoder
from .model import TransformerLM
from .seq2seq import Seq2SeqTransformer
from .seq2seq_config import Seq2SeqConfig

__all__ = ["TransformerConfig", "MultiHeadAttention", "FeedForward", "SwiGLUFeedForward", "TransformerBlock",
           "TransformerLM",
           "record_attention", "TransformerDecoderBlock", "TransformerEncoder", "TransformerDecoder",
           "EncoderDecoder", "Seq2SeqConfig", "Seq2SeqTransformer"]
