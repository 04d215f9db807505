"""ROCKET (Dempster, Petitjean & Webb 2020): random convolutional kernels, then a ridge classifier.

Each kernel has length 7, 9 or 11, weights drawn from N(0, 1) and centred, a
bias from U(-1, 1), a dilation 2^U(0, log2((L - 1) / (length - 1))) for the
training cases' longest length L, and "same" zero padding half the time.
On several channels a kernel reads a random few of them (the multivariate
variant of the reference code). Each kernel gives two features: the
proportion of positive values and the maximum, over the case's own output
steps only, so a padded case gets the features it would get alone.

The classifier is one-vs-rest ridge regression on the standardized features,
its penalty chosen from ``alphas`` by exact leave-one-out error, in closed
form (``fit``): nothing is trained by gradient. Kernels and the ridge's
coefficients are buffers, saved with the weights; the same shape, kernel
count and seed draw the same kernels.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from convseq.models.registry import CaseShape, register_model

WIDEST = 11  # kernels of 7, 9 and 11 steps are held as 11, centred, zeros around the shorter


def draw_kernels(channels: int, length: int, count: int, seed: int) -> dict[int, list]:
    """dilation -> [(weights (channels, 11) centred, bias, margin)], seeded; ``margin`` is the
    steps at each end of a case where the kernel has no output (0 with "same" padding)."""
    rng = np.random.default_rng(seed)
    groups: dict[int, list] = {}
    for size in rng.choice([7, 9, 11], size=count):
        size = int(size)
        weights = np.zeros((channels, WIDEST))
        if channels == 1:
            read = [0]
        else:
            few = int(2 ** rng.uniform(0, np.log2(min(channels, size) + 1)))
            read = rng.choice(channels, size=min(max(few, 1), channels), replace=False)
        offset = (WIDEST - size) // 2
        for c in read:
            drawn = rng.normal(0.0, 1.0, size)
            weights[c, offset : offset + size] = drawn - drawn.mean()
        bias = rng.uniform(-1.0, 1.0)
        top = np.log2((length - 1) / (size - 1)) if length > size else 0.0
        dilation = int(2 ** rng.uniform(0, top))
        margin = 0 if rng.integers(2) else (size - 1) * dilation // 2
        groups.setdefault(dilation, []).append((weights, bias, margin))
    return groups


class Rocket(nn.Module):
    def __init__(self, shape: CaseShape, kernels: int, seed: int, alphas: list[float]):
        super().__init__()
        self.outputs, self.alphas = shape.num_outputs, alphas
        self.dilations = []
        drawn = draw_kernels(shape.num_channels, shape.length, kernels, seed)
        for i, (dilation, members) in enumerate(sorted(drawn.items())):
            weights, biases, margins = zip(*members, strict=True)
            self.register_buffer(
                f"weight_{i}", torch.tensor(np.stack(weights), dtype=torch.float32)
            )
            self.register_buffer(f"bias_{i}", torch.tensor(biases, dtype=torch.float32))
            self.register_buffer(f"margin_{i}", torch.tensor(margins, dtype=torch.int64))
            self.dilations.append(dilation)
        classes = max(2, shape.num_outputs)
        self.register_buffer("mean", torch.zeros(2 * kernels))
        self.register_buffer("scale", torch.ones(2 * kernels))
        self.register_buffer("coef", torch.zeros(2 * kernels, classes))
        self.register_buffer("intercept", torch.zeros(classes))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """NaN-padded ``(B, T, C)`` -> ``(B, 2 * kernels)``: every kernel's PPV and max.

        One convolution per dilation, its output indexed by the kernel's centre:
        a kernel's outputs are the centres from its margin to the case's length
        less its margin, as the kernel alone (padded or not) gives them.
        """
        present = ~torch.isnan(x).any(dim=2)  # (B, T)
        lengths = present.sum(dim=1)
        x = torch.where(present.unsqueeze(-1), x, torch.zeros_like(x)).transpose(1, 2)
        centres = torch.arange(x.shape[2], device=x.device)[None, None, :]
        ppv, top = [], []
        for i, dilation in enumerate(self.dilations):
            out = F.conv1d(x, getattr(self, f"weight_{i}"), getattr(self, f"bias_{i}"),
                           padding=WIDEST // 2 * dilation, dilation=dilation)  # fmt: skip
            margin = getattr(self, f"margin_{i}")[None, :, None]  # (1, K, 1)
            valid = (centres >= margin) & (centres < lengths[:, None, None] - margin)
            steps = (lengths[:, None] - 2 * margin[..., 0]).clamp(min=0)  # (B, K)
            ppv.append(((out > 0) & valid).to(out.dtype).sum(dim=2) / steps.clamp(min=1))
            highest = torch.where(valid, out, torch.full_like(out, float("-inf"))).amax(dim=2)
            top.append(torch.where(steps > 0, highest, torch.zeros_like(highest)))
        return torch.cat([*ppv, *top], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scores = ((self.features(x) - self.mean) / self.scale) @ self.coef + self.intercept
        return scores[:, 1] - scores[:, 0] if self.outputs == 1 else scores

    @torch.no_grad()
    def fit(self, x: torch.Tensor, labels: np.ndarray, batch: int = 64) -> float:
        """Fit the ridge on NaN-padded cases ``x`` and class ids ``labels``; the chosen alpha."""
        features = torch.cat([self.features(x[i : i + batch]) for i in range(0, len(x), batch)])
        fitted = fit_ridge(
            features.double().numpy(), np.asarray(labels), len(self.intercept), self.alphas
        )
        for buffer, value in zip(
            (self.mean, self.scale, self.coef, self.intercept), fitted[:4], strict=True
        ):
            buffer.copy_(torch.from_numpy(value))
        return fitted[4]


def fit_ridge(features: np.ndarray, labels: np.ndarray, classes: int, alphas: list[float]):
    """One-vs-rest ridge on {-1, +1} targets with a free intercept, alpha by exact leave-one-out
    squared error (through the eigenvectors of the cases' Gram matrix: cheap when cases are
    fewer than features). Returns (mean, scale, coef, intercept, alpha): the features are
    standardized by mean and scale."""
    mean = features.mean(axis=0)
    scale = features.std(axis=0)
    scale = np.where(scale < 1e-12, 1.0, scale)
    z = (features - mean) / scale
    n = len(labels)
    targets = -np.ones((n, classes))
    targets[np.arange(n), labels] = 1.0
    offset = targets.mean(axis=0)
    centred = targets - offset
    values, vectors = np.linalg.eigh(z @ z.T)
    values = np.clip(values, 0.0, None)
    projected = vectors.T @ centred
    errors = []
    for alpha in alphas:
        shrink = values / (values + alpha)
        leverage = (vectors**2) @ shrink + 1.0 / n
        residual = centred - vectors @ (shrink[:, None] * projected)
        errors.append(np.mean((residual / (1.0 - leverage)[:, None]) ** 2))
    alpha = float(alphas[int(np.argmin(errors))])
    coef = z.T @ (vectors @ (projected / (values + alpha)[:, None]))
    return mean, scale, coef, offset, alpha


@register_model(
    "rocket",
    "classify",
    "ROCKET (Dempster et al. 2020): 10,000 random dilated kernels (PPV and max of each), "
    "ridge classifier with leave-one-out alpha; fitted in closed form, no epochs",
    help={
        "kernels": "random convolution kernels (two features each)",
        "kernel_seed": "seed that draws the kernels (--seed does not: pass both to vary them)",
        "alphas": "ridge penalties tried (the best by leave-one-out error is kept)",
    },
    trainable=False,
    example_settings={"kernels": 50},
)
def rocket(shape: CaseShape, *, kernels: int = 10_000, kernel_seed: int = 0,
           alphas: list[float] = [0.001, 0.00464, 0.0215, 0.1, 0.464, 2.15, 10.0, 46.4, 215.0, 1000.0],  # noqa: B006
           ) -> nn.Module:  # fmt: skip
    return Rocket(shape, kernels, kernel_seed, alphas)
