"""The digits feature extractor: a small CNN classifier (as MNIST work uses LeNet features for FID).

Saved as ``model.safetensors`` + ``config.json`` in a folder (the committed one is
``model_cards/zoo/digits-extractor``). Inputs are (N, 1, 16, 16) float in [0, 1]; ``features`` are the
64-d outputs of the penultimate linear layer taken BEFORE its ReLU (after a ReLU many units are exactly 0
on some classes and the covariance becomes singular); ``logits`` are the 10 class scores.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from harness.core.errors import WeightsNotFoundError
from harness.metrics.weights import sha256_of

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"


class ZooClassifier(nn.Module, ABC):
    """A zoo classifier: a convolutional trunk (``trunk``: inputs → a flat vector), then ``fc1`` whose outputs
    BEFORE the ReLU are the features, then dropout and ``fc2`` (the class logits). Subclasses build the trunk
    first and then call :meth:`_head`, so the weights are drawn in the same order as ever."""

    def _head(self, trunk_out: int, feature_dim: int, num_classes: int, dropout: float) -> None:
        self.fc1 = nn.Linear(trunk_out, feature_dim)
        self.drop = nn.Dropout(dropout)
        self.fc2 = nn.Linear(feature_dim, num_classes)

    @abstractmethod
    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        """Inputs → the flat vector ``fc1`` reads."""

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Pre-ReLU penultimate features (N, feature_dim)."""
        return self.fc1(self.trunk(x))

    def head(self, feats: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.drop(torch.relu(feats)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def conv_trunk(
    conv: type[nn.Module], pool: type[nn.Module], c0: int, c1: int, c_in: int = 1
) -> nn.Sequential:
    """conv c_in→c0, ReLU, conv c0→c0, ReLU, pool 2, conv c0→c1, ReLU, pool 2 (2-D or 3-D by ``conv``/``pool``)."""
    return nn.Sequential(
        conv(c_in, c0, 3, padding=1),
        nn.ReLU(),
        conv(c0, c0, 3, padding=1),
        nn.ReLU(),
        pool(2),
        conv(c0, c1, 3, padding=1),
        nn.ReLU(),
        pool(2),
    )


class DigitsNet(ZooClassifier):
    """Images (N, 1, size, size) in [0, 1] → features (N, feature_dim) → logits (N, num_classes)."""

    def __init__(
        self,
        channels: tuple[int, int] = (32, 64),
        feature_dim: int = 64,
        num_classes: int = 10,
        dropout: float = 0.3,
        size: int = 16,
    ):
        super().__init__()
        c0, c1 = channels
        self.size = size
        self.conv = conv_trunk(nn.Conv2d, nn.MaxPool2d, c0, c1)
        self._head(c1 * (size // 4) ** 2, feature_dim, num_classes, dropout)

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv((x - 0.5) / 0.5).flatten(1)


def save_net(net: nn.Module, folder: str | Path, config: dict[str, Any]) -> str:
    """Write ``model.safetensors`` + ``config.json`` (with the weights' sha256, returned): every zoo
    extractor is saved this way."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    save_file(state, str(folder / WEIGHTS_FILE), metadata={"format": "pt"})
    digest = sha256_of(folder / WEIGHTS_FILE)
    (folder / CONFIG_FILE).write_text(
        json.dumps({**config, "weights_sha256": digest}, indent=2, sort_keys=True) + "\n"
    )
    return digest


save_extractor = save_net  # the digits extractor's name for it


class ZooExtractor(ABC):
    """A loaded zoo classifier: pre-ReLU features, class predictions, and its identity (weights sha256).

    Subclasses build the network from ``config.json``'s ``architecture`` (``build_net``); loading, batching
    and the missing-file error are shared by the image, video and audio extractors.
    """

    zoo_name: str | None = None  # the recipe that rebuilds it (None: the folder's name)

    def __init__(self, folder: str | Path, device: str = "cpu", batch_size: int = 1000):
        from safetensors.torch import load_file

        folder = Path(folder)
        name = self.zoo_name or folder.name
        weights, cfg_path = folder / WEIGHTS_FILE, folder / CONFIG_FILE
        for p in (weights, cfg_path):
            if not p.is_file():
                raise WeightsNotFoundError(
                    f"zoo extractor {name}: {p} not found (looked in {folder}); it ships with the repository "
                    f"(model_cards/zoo/{name}) and `harness zoo train {name}` rebuilds it"
                )
        self.folder = folder
        self.config = json.loads(cfg_path.read_text())
        self.net, self.dim, self.num_classes = self.build_net(self.config["architecture"])
        self.net.load_state_dict(load_file(str(weights)))
        self.net.eval().to(device)
        self.device = device
        self.batch_size = batch_size
        self.sha256 = sha256_of(weights)

    @abstractmethod
    def build_net(self, arch: dict[str, Any]) -> tuple[nn.Module, int, int]:
        """(network, feature dimension, number of classes) from the config's ``architecture``."""

    @torch.no_grad()
    def run(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Inputs → (features float64 (N, d), logits float32 (N, classes)), in batches of ``batch_size``."""
        feats, logits = [], []
        for i in range(0, len(x), self.batch_size):
            b = torch.from_numpy(np.ascontiguousarray(x[i : i + self.batch_size], dtype=np.float32))
            f = self.net.features(b.to(self.device))
            feats.append(f.double().cpu().numpy())
            logits.append(self.net.head(f).float().cpu().numpy())
        return np.concatenate(feats), np.concatenate(logits)

    def features(self, x: np.ndarray) -> np.ndarray:
        return self.run(x)[0]

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.run(x)[1].argmax(axis=1)


class DigitsExtractor(ZooExtractor):
    """The digits classifier: inputs (N, 1, 16, 16) float in [0, 1]."""

    zoo_name = "digits-extractor"

    def build_net(self, arch: dict[str, Any]) -> tuple[nn.Module, int, int]:
        net = DigitsNet(
            channels=tuple(arch["channels"]),
            feature_dim=arch["feature_dim"],
            num_classes=arch["num_classes"],
            dropout=arch.get("dropout", 0.0),
            size=arch["size"],
        )
        self.size = int(arch["size"])
        return net, int(arch["feature_dim"]), int(arch["num_classes"])
