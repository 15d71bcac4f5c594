"""The `search:` config section: how weak subnets are searched (paper Sec. 3.2, Algorithm 1).

Defined here, beside the samplers it configures, so the search layer never imports
`ews.config` (which reads it from here and still exports it as `ews.config.SearchConfig`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class SearchConfig:
    strategy: str = "controller"  # controller (LSTM + REINFORCE) | random (uniform) | l1 (lowest weight L1)
    fraction: float = 0.1  # D_s: a fixed stratified fraction of the training set, not augmented
    schedule: str = "epochs"  # epochs: search every ews.K epochs over D_s (Algorithm 1) | iterations (authors' code)
    every_iterations: int = 10  # schedule iterations: one controller step every N training steps, on that batch
    before_training: bool = True  # also search before epoch 1, so training never starts from an untrained policy
    passes: int = 1  # passes over D_s in one search round (one controller step per batch)
    measure_gap: bool = True  # each round also scores as many random subnets on its batches: the search gap
    batch_size: int = 128  # D_s batch size
    subnets_per_step: int = 8  # C: subnets sampled per controller step
    lr: float = 3e-4  # controller Adam learning rate (betas 0.5, 0.999 as the authors)
    entropy_weight: float = 0.005
    # leave-one-out: mean reward of the step's other subnets | moving-average: running mean of the rewards |
    # authors: their scripts' running mean of the advantages (r - b), from 0. Both running means restart every round of
    # the epochs schedule and run over the whole run under iterations
    baseline: str = "leave-one-out"
    baseline_decay: float = 0.99  # moving-average and authors: decay of the running mean
    grad_clip: float = 3.0
    hidden_size: int = 100
    embedding_size: int = 100
    temperature: float | None = None  # logits / temperature
    tanh_constant: float | None = None  # logits -> c * tanh(logits) (the authors' --controller_tanh_constant C is C / 2.5)
    # the controller's initialisation: default (PyTorch's) | authors (each tensor with probability 0.3 redrawn from
    # U(-0.1, 0.1), the heads' biases zero: their Controller.reset_parameters)
    init: str = "default"
