"""The LSTM controller: a policy over the subnet space (paper Sec. 3.2, Supplement A).

For each block the LSTM first decides which paths to keep, then, if the residual
branch is kept, which output channels each branch conv keeps. Every path and every
channel has its own learnable embedding; the mean embedding of the picked items is
the next LSTM input. One linear head per decision kind is sized to the largest
candidate count and a decision with C candidates uses its first C logits.

Several items are picked by sampling without replacement, done with the Gumbel-top-k
trick (an exact sample of sequential sampling without replacement, in one vectorised
call), and the log-probability renormalises after each pick, which the authors' code
omits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import permutations
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..subnets import BRANCH, BlockChoice, Subnet, SubnetSpace

# Largest k! summed over when computing the exact probability of an unordered pick set.
MAX_ORDERINGS = 40320


@dataclass
class PolicySample:
    """A sampled subnet with the log-probability of its pick sequence and the decisions' entropy."""

    subnet: Subnet
    log_prob: Tensor  # scalar, differentiable
    entropy: Tensor  # scalar: sum over decisions of the entropy of each full distribution


# choose(logits over C candidates, k, where) -> (picked indices in pick order, log-probability)
Chooser = Callable[[Tensor, int, tuple[int, int]], tuple[Tensor, Tensor]]


class ControllerPolicy(nn.Module):
    """LSTM policy pi_theta(alpha) over the subnets of one `SubnetSpace`."""

    def __init__(
        self,
        space: SubnetSpace,
        *,
        hidden_size: int = 100,
        embedding_size: int = 100,
        temperature: float | None = None,
        tanh_constant: float | None = None,
    ) -> None:
        super().__init__()
        self.space = space
        self.temperature = temperature
        self.tanh_constant = tanh_constant
        self.lstm = nn.LSTMCell(embedding_size, hidden_size)
        self.path_embedding = nn.Embedding(2 * len(space.blocks), embedding_size)
        offsets, total = [], 0
        for spec in space.blocks:
            block_offsets = []
            for channels in spec.conv_channels:
                block_offsets.append(total)
                total += channels
            offsets.append(tuple(block_offsets))
        self.channel_offsets = tuple(offsets)
        self.channel_embedding = nn.Embedding(total, embedding_size)
        self.path_head = nn.Linear(hidden_size, 2)
        self.channel_head = nn.Linear(hidden_size, max(max(s.conv_channels) for s in space.blocks))
        self.register_buffer("initial_input", torch.zeros(1, embedding_size))  # constant, as in the paper
        self.register_buffer("initial_state", torch.zeros(1, hidden_size))

    def _logits(self, head: nn.Linear, hidden: Tensor, candidates: int) -> Tensor:
        logits = head(hidden)[0, :candidates]  # (C,)
        if self.temperature is not None:
            logits = logits / self.temperature
        if self.tanh_constant is not None:
            logits = self.tanh_constant * torch.tanh(logits)
        return logits

    def _walk(self, choose: Chooser) -> PolicySample:
        """Run the LSTM over every decision, letting `choose` pick; collects the subnet."""
        inputs = self.initial_input
        state = (self.initial_state, self.initial_state)
        log_prob = inputs.new_zeros(())
        entropy = inputs.new_zeros(())
        blocks = []
        for b, spec in enumerate(self.space.blocks):
            state = self.lstm(inputs, state)
            logits = self._logits(self.path_head, state[0], 2)
            paths, lp = choose(logits, spec.keep_paths, (b, -1))
            log_prob, entropy = log_prob + lp, entropy + _entropy(logits, spec.keep_paths, 2)
            inputs = self.path_embedding(2 * b + paths).mean(0, keepdim=True)
            channels = []
            if BRANCH in paths.tolist():
                for j, (c, k) in enumerate(zip(spec.conv_channels, spec.keep_channels)):
                    state = self.lstm(inputs, state)
                    logits = self._logits(self.channel_head, state[0], c)
                    picked, lp = choose(logits, k, (b, j))
                    log_prob, entropy = log_prob + lp, entropy + _entropy(logits, k, c)
                    inputs = self.channel_embedding(self.channel_offsets[b][j] + picked).mean(0, keepdim=True)
                    channels.append(tuple(sorted(picked.tolist())))
            blocks.append(BlockChoice(tuple(sorted(paths.tolist())), tuple(channels)))
        return PolicySample(Subnet(tuple(blocks)), log_prob, entropy)

    def sample(self, generator: torch.Generator | None = None) -> PolicySample:
        """Draw a subnet; `log_prob` is that of the pick sequence (what REINFORCE needs)."""

        def choose(logits: Tensor, k: int, where: tuple[int, int]) -> tuple[Tensor, Tensor]:
            order = gumbel_top_k(logits.detach(), k, generator)
            return order, sequence_log_prob(logits, order)

        return self._walk(choose)

    def log_prob(self, subnet: Subnet) -> Tensor:
        """Exact log-probability of an unordered subnet: every pick order summed (small spaces only).

        The LSTM inputs are means of picked embeddings, so later decisions depend on the
        picked *set* only and the probability factorises over decisions.
        """
        self.space.validate(subnet)

        def choose(logits: Tensor, k: int, where: tuple[int, int]) -> tuple[Tensor, Tensor]:
            b, j = where
            choice = subnet.blocks[b]
            picked = choice.paths if j < 0 else choice.channels[j]
            order = torch.tensor(picked, dtype=torch.long, device=logits.device)
            return order, set_log_prob(logits, order)

        return self._walk(choose).log_prob


def gumbel_top_k(logits: Tensor, k: int, generator: torch.Generator | None) -> Tensor:
    """k indices, in pick order, distributed as k draws from softmax(logits) without replacement."""
    n = logits.numel()
    if k >= n:
        return torch.arange(n, device=logits.device)
    uniform = torch.rand(n, generator=generator).clamp_(1e-20, 1.0).to(logits.device)
    gumbel = -torch.log(-torch.log(uniform))
    return torch.topk(logits + gumbel, k).indices


def sequence_log_prob(logits: Tensor, order: Tensor) -> Tensor:
    """log P(picking `order` in that order), renormalising over the remaining items after each pick."""
    if order.numel() >= logits.numel():
        return logits.new_zeros(())  # keeping everything is not a decision
    logp = F.log_softmax(logits.double(), dim=0)
    picked = logp[order]
    taken_before = torch.cumsum(picked.exp(), dim=0) - picked.exp()  # mass removed before each pick
    return (picked - torch.log1p(-taken_before.clamp(max=1 - 1e-12))).sum().to(logits.dtype)


def set_log_prob(logits: Tensor, items: Tensor) -> Tensor:
    """log P(the unordered set `items`): log-sum-exp of `sequence_log_prob` over its orderings."""
    k = items.numel()
    if k >= logits.numel():
        return logits.new_zeros(())
    if math.factorial(k) > MAX_ORDERINGS:
        raise ValueError(f"exact set probability needs {k}! orderings; only sets of up to 8 items are supported")
    terms = [sequence_log_prob(logits, items[list(p)]) for p in permutations(range(k))]
    return torch.logsumexp(torch.stack(terms), dim=0)


def _entropy(logits: Tensor, k: int, n: int) -> Tensor:
    """Entropy of a decision's full distribution; forced decisions (keep all) contribute none."""
    if k >= n:
        return logits.new_zeros(())
    logp = F.log_softmax(logits, dim=0)
    return -(logp.exp() * logp).sum()
