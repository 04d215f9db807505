"""Exact, faster inference for the reference text convnet (``text-cnn``).

An embedding followed by a convolution is a sum of per-token projections:
``conv1(E[ids])[t] = b + sum_k W_k E[ids[t+k]]``. With the tables
``T_k = E W_k^T`` (vocabulary x channels, one per tap) computed once, the
128-channel convolution becomes K row look-ups summed by one ``embedding_bag``,
about 100x fewer multiply-adds.

With padding in front, every window that sees only padding gives the same
value, so whole pooling steps of pure padding are cut off before the
convolution; one full second-layer window of them is kept, so the global max
still sees that value. The result is the same function up to float rounding.
``from_model`` checks that on random input and returns None for any model it
cannot reproduce, and callers then use the model itself.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def _plain_conv(conv) -> bool:
    return (
        isinstance(conv, nn.Conv1d)
        and conv.stride == (1,)
        and conv.padding == (0,)
        and conv.dilation == (1,)
        and conv.groups == 1
        and conv.bias is not None
        and conv.padding_mode == "zeros"
    )


class FoldedTextCNN:
    def __init__(self, model: nn.Module, pad_id: int, padding: str):
        embedding, conv1 = model.embedding, model.conv1
        self.conv2, self.head = model.conv2, model.head
        self.channels, _, self.k1 = conv1.weight.shape
        self.k2 = self.conv2.weight.shape[2]
        self.pool = model.pool.kernel_size
        self.pool = self.pool[0] if isinstance(self.pool, tuple) else self.pool
        self.pad_id, self.trim = pad_id, padding == "pre"
        vocab = embedding.weight.shape[0]
        with torch.no_grad():
            tables = torch.einsum("vd,cdk->kvc", embedding.weight, conv1.weight).contiguous()
            tables[0] += conv1.bias  # every output takes exactly one row of the first table
            self.tables = tables.reshape(self.k1 * vocab, self.channels)
        self.shift = torch.arange(self.k1) * vocab
        weight = self.conv2.weight.detach()  # (channels_out, channels_in, k2)
        self.conv2_taps = [weight[:, :, k].T.contiguous() for k in range(self.k2)]
        self.conv2_bias = self.conv2.bias.detach()

    @classmethod
    def from_model(cls, model: nn.Module, pad_id: int, padding: str) -> FoldedTextCNN | None:
        """The folded form of a reference text convnet, or None when ``model`` is not one."""
        if type(model).__name__ != "ReferenceTextCNN":
            return None
        parts = [getattr(model, n, None) for n in ("embedding", "conv1", "pool", "conv2", "head")]
        embedding, conv1, pool, conv2, head = parts
        if not (
            isinstance(embedding, nn.Embedding)
            and embedding.max_norm is None
            and _plain_conv(conv1)
            and _plain_conv(conv2)
            and isinstance(pool, nn.MaxPool1d)
            and pool.kernel_size == pool.stride
            and pool.padding == 0
            and pool.dilation == 1
            and not pool.ceil_mode
            and isinstance(head, nn.Linear)
        ):
            return None
        folded = cls(model, pad_id, padding)
        return folded if folded._agrees_with(model) else None

    def _agrees_with(self, model: nn.Module) -> bool:
        length = max(getattr(model, "min_length", 1) * 3, 120)
        generator = torch.Generator().manual_seed(0)
        ids = torch.randint(0, self.tables.shape[0] // self.k1, (6, length), generator=generator)
        for row, pad in enumerate((0, 5, 37, length // 2, length - 3, length)):
            if self.trim:
                ids[row, :pad] = self.pad_id
            else:
                ids[row, length - pad :] = self.pad_id
        with torch.inference_mode():
            was_training = model.training
            model.eval()
            expected = model(ids)
            model.train(was_training)
            got = self.forward(ids, trim=self._trim_steps(ids.numpy()).min())
        return expected.shape == got.shape and torch.allclose(expected, got, atol=1e-5, rtol=1e-4)

    def _trim_steps(self, ids: np.ndarray) -> np.ndarray:
        """Per row, how many leading pooling steps see only padding and can be cut off."""
        if not self.trim:
            return np.zeros(len(ids), dtype=np.int64)
        real = ids != self.pad_id
        leading = np.where(real.any(axis=1), real.argmax(axis=1), ids.shape[1])
        # pooled step j sees only padding when its last input pos*j + pool - 1 + k1 - 1 < leading
        last_padding_step = (leading - self.k1 - self.pool + 1) // self.pool
        return np.maximum(0, last_padding_step - self.k2 + 1)

    def forward(self, ids: torch.Tensor, trim: int = 0) -> torch.Tensor:
        ids = ids[:, trim * self.pool :]
        batch, length = ids.shape
        steps = length - self.k1 + 1
        index = (ids.unfold(1, self.k1, 1) + self.shift).reshape(batch * steps, self.k1)
        conv1 = F.embedding_bag(index, self.tables, mode="sum").view(batch, steps, self.channels)
        pooled_steps = steps // self.pool
        pooled = conv1[:, : pooled_steps * self.pool]
        pooled = pooled.reshape(batch, pooled_steps, self.pool, self.channels).amax(dim=2)
        pooled = torch.relu_(pooled)
        # the second convolution as a sum of one small matrix product per tap: every batch has its
        # own length, and plain products avoid building a new convolution kernel for each
        outputs = pooled_steps - self.k2 + 1
        conv2 = torch.matmul(pooled[:, :outputs], self.conv2_taps[0])
        for k in range(1, self.k2):
            conv2.add_(torch.matmul(pooled[:, k : k + outputs], self.conv2_taps[k]))
        x = torch.relu_(conv2.add_(self.conv2_bias)).amax(dim=1)
        out = self.head(x)
        return out.squeeze(-1) if self.head.out_features == 1 else out

    @torch.inference_mode()
    def logits(self, ids: np.ndarray, batch_size: int) -> np.ndarray:
        """Outputs for every row; rows are batched by padding so each batch trims the most."""
        steps = self._trim_steps(ids)
        order = np.argsort(-steps, kind="stable")
        outputs = []
        for start in range(0, len(ids), batch_size):
            rows = order[start : start + batch_size]
            batch = torch.from_numpy(ids[rows])
            outputs.append(self.forward(batch, trim=int(steps[rows].min())))
        result = torch.cat(outputs).numpy() if outputs else np.zeros((0,), np.float32)
        unsorted = np.empty_like(result)
        unsorted[order] = result
        return unsorted
