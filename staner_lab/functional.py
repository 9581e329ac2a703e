"""The paper's equations (Eq. 1-16) as pure tensor functions, named after its symbols.

The paper: S. Li, X. Zheng, X. Zhang, X. Chen and W. Li, "Facial Expression Recognition Based on
Deep Spatio-Temporal Attention Network". Each function cites its equation. Where the paper is
ambiguous, the docstring gives the reading taken (docs/model.md has the reasons).

Modules only gather inputs and call these; nothing else in staner_lab re-implements them. The
kit's own additions, which the paper does not have, are apart at the end of this module, under
"Not in the paper" (:data:`ADDITIONS` lists them).

Notation: B batch, C channels (or classes, where it says so), H x W a feature map, T time steps,
K classes, D LSTM input size, N LSTM hidden size.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

__all__ = [
    "ADDITIONS",
    "LSTMStep",
    "accuracy",
    "apply_attention",
    "attention_map",
    "binary_accuracy",
    "candidate_cell",
    "cell_state",
    "class_weighted_cross_entropy",
    "concatenate_regions",
    "cross_entropy",
    "cross_entropy_from_logits",
    "decision",
    "flat_attention_map",
    "forget_gate",
    "fuse_probabilities",
    "hidden_state",
    "input_gate",
    "joint_loss",
    "log_softmax",
    "lstm_step",
    "output_gate",
    "residual_attention",
    "softmax",
    "spatial_softmax_map",
]


# --- SGAER: Eq. 1-4 --------------------------------------------------------------------------


def attention_map(scores: Tensor) -> Tensor:
    """Eq. 1, the last step: M = sigma(scores), weights in [0, 1].

    ``scores`` is the output of the attention module's convolutions, Conv[w; AvgPool(U)]:
    (B, 1, H, W) for the spatial reading of Fig. 3, or (B, C, 1, 1) for the literal
    global-average-pool reading.
    """
    return torch.sigmoid(scores)


def apply_attention(U: Tensor, M: Tensor) -> Tensor:
    """Eq. 2: F = (1 + M) (x) U, element-wise with broadcasting.

    The residual "1 +" means attention can only amplify features (by up to 2x), never erase them.

    Args:
        U: (B, C, H, W) front-end features.
        M: (B, 1, H, W) spatial map or (B, C, 1, 1) channel gate, values in [0, 1].

    Returns:
        F: (B, C, H, W).
    """
    return (1 + M) * U


def softmax(x: Tensor, dim: int = -1) -> Tensor:
    """Eq. 3 and Eq. 12: S(x)_c = exp(x_c) / sum_i exp(x_i).

    Computed as exp(x_c - max x) / sum_i exp(x_i - max x), equal in exact arithmetic and safe
    from overflow.
    """
    shifted = x - x.amax(dim=dim, keepdim=True)
    e = shifted.exp()
    return e / e.sum(dim=dim, keepdim=True)


def log_softmax(x: Tensor, dim: int = -1) -> Tensor:
    """ln S(x) of Eq. 3 and Eq. 12, computed stably as (x - max) - ln sum exp(x - max)."""
    shifted = x - x.amax(dim=dim, keepdim=True)
    return shifted - shifted.exp().sum(dim=dim, keepdim=True).log()


def cross_entropy(P: Tensor, y: Tensor) -> Tensor:
    """Eq. 4 and Eq. 13: Loss = -sum_i y_i ln P_i, averaged over the batch.

    Args:
        P: (B, K) class probabilities.
        y: (B,) class indices, or (B, K) one-hot / soft targets.

    Returns:
        scalar loss. For training, prefer :func:`cross_entropy_from_logits` (same value, stable).
    """
    y = _as_distribution(y, P.shape[-1], P.dtype)
    return -(y * P.clamp_min(torch.finfo(P.dtype).tiny).log()).sum(-1).mean()


def cross_entropy_from_logits(logits: Tensor, y: Tensor) -> Tensor:
    """Eq. 4 / 13 with P = softmax(logits), using ln S(x) = log_softmax(x) for stability.

    Computed in float32 or wider whatever the dtype of ``logits`` (under bf16 autocast a sum of K
    log-probabilities in bf16 loses about 3 significant digits); returns a float32 (or float64) scalar.
    """
    return _per_sample_cross_entropy(logits, y).mean()


def _per_sample_cross_entropy(logits: Tensor, y: Tensor) -> Tensor:
    dtype = torch.promote_types(logits.dtype, torch.float32)
    y = _as_distribution(y, logits.shape[-1], dtype)
    return -(y * log_softmax(logits.to(dtype))).sum(-1)  # (B,)


def _as_distribution(y: Tensor, num_classes: int, dtype: torch.dtype) -> Tensor:
    if y.dim() == 1:
        return torch.nn.functional.one_hot(y.long(), num_classes).to(dtype)
    return y.to(dtype)


# --- TLER: Eq. 5-10, one LSTM step ------------------------------------------------------------
# The paper writes W_f x_t + W_f h_{t-1}; the two matrices are different in any LSTM (input-to-
# hidden and hidden-to-hidden), so here they are W (N, D) and R (N, N), as in torch.nn.LSTM.


def forget_gate(x: Tensor, h_prev: Tensor, W_f: Tensor, R_f: Tensor, b_f: Tensor) -> Tensor:
    """Eq. 5: f_t = sigma(W_f x_t + R_f h_{t-1} + b_f). Shapes: x (B, D), h (B, N) -> (B, N)."""
    return torch.sigmoid(x @ W_f.T + h_prev @ R_f.T + b_f)


def input_gate(x: Tensor, h_prev: Tensor, W_i: Tensor, R_i: Tensor, b_i: Tensor) -> Tensor:
    """Eq. 6: i_t = sigma(W_i x_t + R_i h_{t-1} + b_i)."""
    return torch.sigmoid(x @ W_i.T + h_prev @ R_i.T + b_i)


def candidate_cell(x: Tensor, h_prev: Tensor, W_g: Tensor, R_g: Tensor, b_g: Tensor) -> Tensor:
    """Eq. 7: g_t = tanh(W_g x_t + R_g h_{t-1} + b_g)."""
    return torch.tanh(x @ W_g.T + h_prev @ R_g.T + b_g)


def cell_state(f: Tensor, c_prev: Tensor, i: Tensor, g: Tensor) -> Tensor:
    """Eq. 8: c_t = f_t (x) c_{t-1} + i_t (x) g_t."""
    return f * c_prev + i * g


def output_gate(x: Tensor, h_prev: Tensor, W_o: Tensor, R_o: Tensor, b_o: Tensor) -> Tensor:
    """Eq. 9: o_t = sigma(W_o x_t + R_o h_{t-1} + b_o)."""
    return torch.sigmoid(x @ W_o.T + h_prev @ R_o.T + b_o)


def hidden_state(o: Tensor, c: Tensor) -> Tensor:
    """Eq. 10: h_t = o_t (x) tanh(c_t)."""
    return o * torch.tanh(c)


class LSTMStep(NamedTuple):
    """Everything one LSTM step computes, each (B, N)."""

    f: Tensor
    i: Tensor
    g: Tensor
    o: Tensor
    c: Tensor
    h: Tensor


def lstm_step(
    x: Tensor, h_prev: Tensor, c_prev: Tensor, W: Tensor, R: Tensor, b: Tensor
) -> LSTMStep:
    """Eq. 5-10 for one time step, with weights stacked as torch.nn.LSTM stores them.

    Args:
        x: (B, D) input x_t.
        h_prev, c_prev: (B, N) previous hidden and cell state.
        W: (4N, D) input weights, rows ordered [i; f; g; o] (torch.nn.LSTM's ``weight_ih``).
        R: (4N, N) recurrent weights, same order (``weight_hh``).
        b: (4N,) bias (``bias_ih + bias_hh``).
    """
    W_i, W_f, W_g, W_o = W.chunk(4, dim=0)
    R_i, R_f, R_g, R_o = R.chunk(4, dim=0)
    b_i, b_f, b_g, b_o = b.chunk(4, dim=0)
    f = forget_gate(x, h_prev, W_f, R_f, b_f)  # Eq. 5
    i = input_gate(x, h_prev, W_i, R_i, b_i)  # Eq. 6
    g = candidate_cell(x, h_prev, W_g, R_g, b_g)  # Eq. 7
    c = cell_state(f, c_prev, i, g)  # Eq. 8
    o = output_gate(x, h_prev, W_o, R_o, b_o)  # Eq. 9
    h = hidden_state(o, c)  # Eq. 10
    return LSTMStep(f=f, i=i, g=g, o=o, c=c, h=h)


# --- Eq. 11: F' = Concatenation(F_e : F_n : F_m) ---------------------------------------------


def concatenate_regions(features: list[Tensor] | tuple[Tensor, ...], dim: int = -1) -> Tensor:
    """Eq. 11: F' = [F_e : F_n : F_m], concatenated along the feature axis.

    Args:
        features: per-region temporal features, each (B, T, N) (or (B, N)).

    Returns:
        (B, T, 3N) (or (B, 3N)).
    """
    return torch.cat(list(features), dim=dim)


# --- Eq. 14-16: fusion, joint loss, accuracy ---------------------------------------------------


def fuse_probabilities(P_G: Tensor, P_L: Tensor, alpha: float | Tensor = 0.5) -> Tensor:
    """Eq. 14, inside the argmax: P = alpha P_G + (1 - alpha) P_L. Rows still sum to 1."""
    return alpha * P_G + (1.0 - alpha) * P_L


def decision(P: Tensor) -> Tensor:
    """Eq. 14: O = argmax_C P(C). (B, K) -> (B,) class indices."""
    return P.argmax(dim=-1)


def joint_loss(loss_G: Tensor, loss_T: Tensor) -> Tensor:
    """Eq. 15: Loss = Loss_G + Loss_T (the two branches are trained together, unweighted)."""
    return loss_G + loss_T


def accuracy(predicted: Tensor, target: Tensor) -> Tensor:
    """Eq. 16 for K classes: the fraction of samples whose predicted class is the true one.

    The paper writes (TP + TN) / (TP + TN + FP + FN), a binary formula; for K classes the
    reported figure is multi-class accuracy = trace(confusion) / total, which is what this returns.
    """
    return (predicted == target).float().mean()


def binary_accuracy(tp: Tensor | float, tn: Tensor | float, fp: Tensor | float, fn: Tensor | float):
    """Eq. 16 as printed: (TP + TN) / (TP + TN + FP + FN), for one class against the rest."""
    return (tp + tn) / (tp + tn + fp + fn)


# === Not in the paper: the kit's additions ====================================================
# Each was added for a measured reason (docs/model.md) and is off in the paper's reading unless the
# config asks for it; the models call them only then.


def spatial_softmax_map(scores: Tensor) -> Tensor:
    """Not in the paper (``AttentionConfig.normalise="softmax"``). A variant of Eq. 1 where positions compete: M = H*W * softmax(scores) over the H*W positions.

    M has mean 1 over positions (a uniform map is all ones), so attending to one place means
    attending less elsewhere; with sigmoid every position can sit at 1 at once.

    Args:
        scores: (B, 1, H, W).

    Returns:
        M: (B, 1, H, W), non-negative, mean 1 per example.
    """
    B, _, H, W = scores.shape
    return torch.softmax(scores.reshape(B, 1, H * W).float(), dim=-1).reshape(B, 1, H, W).to(scores.dtype) * (H * W)


def flat_attention_map(M: Tensor) -> Tensor:
    """Not in the paper (a probe of ``staner-lab health`` and notebook 07). A counterfactual M with no preference: each example's map replaced by its own mean, so every
    position (or channel) gets the same weight and Eq. 2 amplifies U by the same total. Comparing
    SGAER's decision under M and under this map asks what the decision owes to where M points.

    Args:
        M: (B, 1, H, W) spatial map or (B, C, 1, 1) channel gate.

    Returns:
        (B, ...) the same shape, constant within each example.
    """
    return M.mean(dim=tuple(range(1, M.dim())), keepdim=True).expand_as(M)


def residual_attention(U: Tensor, M: Tensor, residual: float) -> Tensor:
    """Not in the paper (``AttentionConfig.residual``): F = (residual + M) (x) U; 1 is Eq. 2
    (:func:`apply_attention`), 0 gives F = M (x) U, where attention can erase features."""
    return (residual + M) * U


def class_weighted_cross_entropy(logits: Tensor, y: Tensor, weight: Tensor) -> Tensor:
    """Not in the paper (``TrainConfig.class_balance="loss"``): Eq. 4 / 13 with each sample weighted by
    its class, sum_b w_{y_b} loss_b / sum_b w_{y_b} (as ``torch.nn.functional.cross_entropy(weight=...)``).

    Args:
        logits: (B, K); y: (B,) class indices or (B, K) targets; weight: (K,) one weight per class.
    """
    per_sample = _per_sample_cross_entropy(logits, y)
    y = _as_distribution(y, logits.shape[-1], per_sample.dtype)
    w = y @ weight.to(y.device, per_sample.dtype)  # (B,) the weight of each sample's class
    return (w * per_sample).sum() / w.sum()


#: The functions of the "Not in the paper" section.
ADDITIONS = ("class_weighted_cross_entropy", "flat_attention_map", "residual_attention", "spatial_softmax_map")
