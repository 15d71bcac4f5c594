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
INITS = ("default", "authors")  # PyTorch's initialisation | the authors' `Controller.reset_parameters`
AUTHORS_INIT_SHARE, AUTHORS_INIT_RANGE = 0.3, 0.1  # their share of tensors redrawn, and the range they are drawn from


@dataclass
class PolicySample:
    """A sampled subnet with the log-probability of its pick sequence and the decisions' entropy."""

    subnet: Subnet
    log_prob: Tensor  # scalar, differentiable
    entropy: Tensor  # scalar: sum over decisions of the entropy of each full distribution


# choose(logits (R, C) over C candidates, k, where) -> (picks (R, k) in pick order, log-probabilities (R,))
Chooser = Callable[[Tensor, int, tuple[int, int]], tuple[Tensor, Tensor]]


class ControllerPolicy(nn.Module):
    """LSTM policy pi_theta(alpha) over the subnets of one `SubnetSpace`.

    Several subnets are drawn in one walk, one LSTM batch row each: a controller step's
    C samples cost one pass of small ops instead of C.
    """

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
        logits = head(hidden)[:, :candidates]  # (R, C)
        if self.temperature is not None:
            logits = logits / self.temperature
        if self.tanh_constant is not None:
            logits = self.tanh_constant * torch.tanh(logits)
        return logits

    def _walk(self, rows: int, choose: Chooser) -> list[PolicySample]:
        """Run the LSTM over every decision for `rows` subnets at once, letting `choose` pick.

        A row whose block drops the residual branch makes no channel decisions: its
        LSTM state and input pass those steps unchanged and they add nothing to its
        log-probability or entropy, exactly as if it had skipped them alone.
        """
        inputs = self.initial_input.expand(rows, -1)
        state = (self.initial_state.expand(rows, -1), self.initial_state.expand(rows, -1))
        log_prob = inputs.new_zeros(rows)
        entropy = inputs.new_zeros(rows)
        picks: list[tuple[Tensor, list[Tensor]]] = []
        for b, spec in enumerate(self.space.blocks):
            state = self.lstm(inputs, state)
            logits = self._logits(self.path_head, state[0], 2)
            paths, lp = choose(logits, spec.keep_paths, (b, -1))
            log_prob, entropy = log_prob + lp, entropy + _entropy(logits, spec.keep_paths, 2)
            inputs = self.path_embedding(2 * b + paths).mean(1)
            branch = (paths == BRANCH).any(1)
            channels = []
            if bool(branch.any()):
                keep = branch[:, None]
                for j, (c, k) in enumerate(zip(spec.conv_channels, spec.keep_channels)):
                    stepped = self.lstm(inputs, state)
                    logits = self._logits(self.channel_head, stepped[0], c)
                    picked, lp, ent = _grouped_decision(choose, logits, k, (b, j), spec.groups(j))
                    log_prob = log_prob + torch.where(branch, lp, 0.0)
                    entropy = entropy + torch.where(branch, ent, 0.0)
                    picked_inputs = self.channel_embedding(self.channel_offsets[b][j] + picked).mean(1)
                    state = tuple(torch.where(keep, new, old) for new, old in zip(stepped, state))
                    inputs = torch.where(keep, picked_inputs, inputs)
                    channels.append(picked)
            picks.append((paths, channels))
        return [
            PolicySample(Subnet(tuple(_block_choice(paths[r], channels, r) for paths, channels in picks)),
                         log_prob[r], entropy[r])
            for r in range(rows)
        ]

    def sample(self, generator: torch.Generator | None = None) -> PolicySample:
        """Draw a subnet; `log_prob` is that of the pick sequence (what REINFORCE needs)."""
        return self.sample_many(1, generator)[0]

    def sample_many(self, count: int, generator: torch.Generator | None = None) -> list[PolicySample]:
        """Draw `count` independent subnets in one batched walk."""

        def choose(logits: Tensor, k: int, where: tuple[int, int]) -> tuple[Tensor, Tensor]:
            order = gumbel_top_k(logits.detach(), k, generator)
            return order, sequence_log_prob(logits, order)

        return self._walk(count, choose)

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
            rows, size = logits.shape  # one row per group of a grouped decision: each row's picks, made local
            order = torch.tensor(picked, dtype=torch.long, device=logits.device).view(rows, -1)
            order = order - size * torch.arange(rows, device=logits.device)[:, None]
            return order, torch.stack([set_log_prob(logits[r], order[r]) for r in range(rows)])

        return self._walk(1, choose)[0].log_prob


def authors_init(policy: ControllerPolicy, generator: torch.Generator | None = None) -> None:
    """The authors' initialisation: each parameter tensor, with probability 0.3, redrawn from U(-0.1, 0.1); the
    decision heads' biases zero.

    The other tensors keep PyTorch's initialisation, which for hidden size 100 is already
    U(-0.1, 0.1) for the LSTM and the heads, so in practice this redraws the embeddings, N(0, 1) by
    default, about a third of the time. Draws come from `generator` (default: the global stream).
    """
    with torch.no_grad():
        for param in policy.parameters():
            if float(torch.rand((), generator=generator)) < AUTHORS_INIT_SHARE:
                param.uniform_(-AUTHORS_INIT_RANGE, AUTHORS_INIT_RANGE, generator=generator)
        policy.path_head.bias.zero_()
        policy.channel_head.bias.zero_()


def _block_choice(paths: Tensor, channels: list[Tensor], row: int) -> BlockChoice:
    """Row `row`'s picks of one block as a sorted `BlockChoice` (no channels when its branch is dropped)."""
    kept_paths = tuple(sorted(paths.tolist()))
    if BRANCH not in kept_paths:
        return BlockChoice(kept_paths, ())
    return BlockChoice(kept_paths, tuple(tuple(sorted(picked[row].tolist())) for picked in channels))


def _grouped_decision(choose: Chooser, logits: Tensor, k: int, where: tuple[int, int], groups: int
                      ) -> tuple[Tensor, Tensor, Tensor]:
    """Picks, log-probabilities and entropies of one channel decision; a grouped one (ResNeXt) picks k / groups
    channels in each of `groups` equal groups, as independent decisions over each group's own softmax."""
    if groups == 1:
        picks, lp = choose(logits, k, where)
        return picks, lp, _entropy(logits, k, logits.shape[-1])
    rows, size = logits.shape[0], logits.shape[-1] // groups
    split = logits.reshape(rows * groups, size)
    picks, lp = choose(split, k // groups, where)
    offsets = size * torch.arange(groups, device=logits.device).repeat(rows)[:, None]
    entropy = _entropy(split, k // groups, size).view(rows, groups).sum(1)
    return (picks + offsets).reshape(rows, k), lp.view(rows, groups).sum(1), entropy


def gumbel_top_k(logits: Tensor, k: int, generator: torch.Generator | None) -> Tensor:
    """k indices per row (last dim), in pick order, distributed as k draws from softmax(logits) without replacement."""
    n = logits.shape[-1]
    if k >= n:
        return torch.arange(n, device=logits.device).expand(*logits.shape[:-1], n)
    uniform = torch.rand(logits.shape, generator=generator).clamp_(1e-20, 1.0).to(logits.device)
    gumbel = -torch.log(-torch.log(uniform))
    return torch.topk(logits + gumbel, k, dim=-1).indices


def sequence_log_prob(logits: Tensor, order: Tensor) -> Tensor:
    """log P(picking `order` in that order), renormalising over the remaining items after each pick (per row)."""
    if order.shape[-1] >= logits.shape[-1]:
        return logits.new_zeros(logits.shape[:-1])  # keeping everything is not a decision
    logp = F.log_softmax(logits.double(), dim=-1)
    picked = logp.gather(-1, order)
    taken_before = torch.cumsum(picked.exp(), dim=-1) - picked.exp()  # mass removed before each pick
    return (picked - torch.log1p(-taken_before.clamp(max=1 - 1e-12))).sum(-1).to(logits.dtype)


def set_log_prob(logits: Tensor, items: Tensor) -> Tensor:
    """log P(the unordered set `items`) under 1-D `logits`: log-sum-exp of `sequence_log_prob` over its orderings."""
    k = items.numel()
    if k >= logits.numel():
        return logits.new_zeros(())
    if math.factorial(k) > MAX_ORDERINGS:
        raise ValueError(f"exact set probability needs {k}! orderings; only sets of up to 8 items are supported")
    terms = [sequence_log_prob(logits, items[list(p)]) for p in permutations(range(k))]
    return torch.logsumexp(torch.stack(terms), dim=0)


def _entropy(logits: Tensor, k: int, n: int) -> Tensor:
    """Entropy of each row's full distribution; forced decisions (keep all) contribute none."""
    if k >= n:
        return logits.new_zeros(logits.shape[:-1])
    logp = F.log_softmax(logits, dim=-1)
    return -(logp.exp() * logp).sum(-1)
