"""A check the Hugging Face parity tests share: greedy generation of a left-padded batch."""
from __future__ import annotations

import numpy as np


def check_left_padded_generation(model, reference, rows: list[np.ndarray], new: int) -> tuple[np.ndarray,
                                                                                                np.ndarray]:
    """Pad `rows` (prompts of different lengths) on the left into one batch and check that
    `model.generate` (cached and not) gives Hugging Face's greedy tokens and that each row
    continues as it would alone. Returns the batch's ids and padding mask."""
    import torch

    width = max(map(len, rows))
    ids = np.zeros((len(rows), width), dtype=np.int64)
    padding = np.ones((len(rows), width), dtype=bool)
    for r, row in enumerate(rows):  # left padding: each prompt ends at the last column
        ids[r, width - len(row):], padding[r, width - len(row):] = row, False
    cached = model.generate(ids, new, temperature=0, key_padding_mask=padding)
    uncached = model.generate(ids, new, temperature=0, key_padding_mask=padding, use_cache=False)
    with torch.no_grad():
        attention_mask = torch.tensor((~padding).astype(np.int64))  # Hugging Face: 1 = a real token
        expected = reference.generate(torch.tensor(ids), attention_mask=attention_mask, max_new_tokens=new,
                                      min_new_tokens=new, do_sample=False, pad_token_id=0).numpy()
    np.testing.assert_array_equal(cached, expected)
    np.testing.assert_array_equal(uncached, expected)
    for r, row in enumerate(rows):
        np.testing.assert_array_equal(cached[r, width:], model.generate(row, new, temperature=0)[len(row):])
    return ids, padding
