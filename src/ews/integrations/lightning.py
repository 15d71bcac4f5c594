"""`EWSCallback`: EWS in a Lightning training loop (optional extra `ews[lightning]`).

Like Lightning's `StochasticWeightAveraging`, the feature is one callback: it builds
`ews.EWS` on the module's network at `setup`, runs the weak-subnet searches on Lightning's
epoch events (or at an epoch's first batch, when a resumed run enters it without its start
event), and saves the controller with every checkpoint (`state_dict`), so a run resumed
with `ckpt_path=` continues the search exactly. The module's `training_step`
adds the subnet term through `self.ews`:

    def training_step(self, batch, batch_idx):
        x, y = batch
        return self.ews.loss(x, y).total            # or: ce + self.ews.enhance(x, y, logits).total
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

from torch.utils.data import DistributedSampler

from ..errors import ConfigError
from ..method import EWS

try:
    import lightning.pytorch as pl
except ImportError as error:  # pragma: no cover - exercised only without the extra
    raise ImportError("ews.integrations.lightning needs Lightning: pip install 'ews-robust[lightning]'") from error

SearchData = Iterable | Callable[[], Iterable]


class EWSCallback(pl.Callback):
    """Enhance weak subnets of `pl_module.<model_attr>` (the module itself when `model_attr` is None).

    `search_data` is D_s (about 10% of the training images, unaugmented): a DataLoader, or
    a function returning one (called at each search). Without it, the datamodule's
    `search_dataloader()` is used. `settings` are `ews.EWS`'s keyword arguments (rho, lam,
    strategy, K, schedule, ...). Under DDP a search loader with a `DistributedSampler`
    gives each rank its own shard; any other loader is taken to hold the same batches on
    every rank, and each rank scores its share of them.
    """

    def __init__(self, *, search_data: SearchData | None = None, model_attr: str | None = "model",
                 **settings: Any) -> None:
        super().__init__()
        self.search_data = search_data
        self.model_attr = model_attr
        self.settings = settings
        self.ews: EWS | None = None
        self._pending_state: dict[str, Any] | None = None

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage != "fit" or self.ews is not None:
            return
        model = pl_module if self.model_attr is None else getattr(pl_module, self.model_attr, None)
        if model is None:
            raise ConfigError(f"EWSCallback(model_attr={self.model_attr!r}): {type(pl_module).__name__} has no such "
                              "attribute; name the attribute holding the network, or None for the module itself")
        if getattr(pl_module, "ews", None) is not None:
            raise ConfigError(f"{type(pl_module).__name__} already has an attribute 'ews'; EWSCallback binds its "
                              "EWS object there")
        self.ews = EWS(model, **self.settings)
        pl_module.ews = self.ews
        if self._pending_state is not None:
            self.ews.load_state_dict(self._pending_state)
            self._pending_state = None

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Algorithm 1's search before every K-th epoch (and the first), run as the epoch starts.

        Searching at the start rather than the end of the epoch before spends nothing after
        the last epoch, and a run resumed with a larger `max_epochs` searches exactly where
        an uninterrupted one would.
        """
        self._search_when_due(trainer, pl_module)

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any,
                             batch_idx: int) -> None:
        """Run the epoch's due search before its first batch if `on_train_epoch_start` did not.

        Resumed from a checkpoint saved on an epoch's last batch (`ModelCheckpoint(every_n_train_steps=...)`),
        Lightning enters the next epoch without calling `on_train_epoch_start`. EWS's state
        records the last searched epoch; a state from before it did (None) cannot tell, and
        is left as it was.
        """
        searched = self.ews.searched_epoch
        if searched is not None and searched < trainer.current_epoch + 1:
            self._search_when_due(trainer, pl_module)

    def _search_when_due(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        epoch = trainer.current_epoch + 1  # counted from 1, as Algorithm 1 and `EWS.due` count
        if not self.ews.due(epoch):
            return
        data = self._search_data(trainer)
        shared = trainer.world_size > 1 and not isinstance(getattr(data, "sampler", None), DistributedSampler)
        stats = self.ews.before_epoch(epoch, data, batch_on_every_rank=shared)
        for name, value in (("search_subnet_accuracy", stats.mean_subnet_accuracy),
                            ("search_random_accuracy", stats.random_subnet_accuracy)):
            if value is not None:
                pl_module.log(f"ews/{name}", value, rank_zero_only=True)

    def _search_data(self, trainer: pl.Trainer) -> Iterable | None:
        data = self.search_data
        if data is None and hasattr(trainer.datamodule, "search_dataloader"):
            data = trainer.datamodule.search_dataloader
        return data() if callable(data) else data

    def state_dict(self) -> dict[str, Any]:
        return {} if self.ews is None else self.ews.state_dict()

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if not state_dict:
            return
        if self.ews is None:  # restored before `setup` built it
            self._pending_state = state_dict
        else:
            self.ews.load_state_dict(state_dict)
