"""Test-set metrics: accuracy, loss, confusion matrix and the misclassified digits."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EVAL_BATCH = 1024


@dataclass(frozen=True)
class Evaluation:
    test_accuracy: float
    test_loss: float
    confusion: np.ndarray  # (10, 10) int: rows = true label, columns = predicted
    probabilities: np.ndarray  # (n, 10) float32

    @property
    def predicted(self) -> np.ndarray:
        return self.probabilities.argmax(axis=1)

    def per_class_accuracy(self) -> np.ndarray:
        totals = self.confusion.sum(axis=1)
        return np.divide(np.diag(self.confusion), totals, out=np.zeros(10), where=totals > 0)

    def to_json(self) -> dict:
        return {
            "test_accuracy": self.test_accuracy,
            "test_loss": self.test_loss,
            "confusion_matrix": self.confusion.tolist(),
        }


def probabilities(model, x_uint8: np.ndarray, batch: int = EVAL_BATCH) -> np.ndarray:
    """Class probabilities for (n, 28, 28) uint8 images, batched direct calls (no model.predict)."""
    out = []
    for start in range(0, len(x_uint8), batch):
        xb = x_uint8[start:start + batch, :, :, None].astype(np.float32) / 255.0
        out.append(np.asarray(model(xb, training=False), dtype=np.float32))
    return np.concatenate(out) if out else np.zeros((0, 10), np.float32)


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n: int = 10) -> np.ndarray:
    return np.bincount(np.asarray(y_true, int) * n + np.asarray(y_pred, int), minlength=n * n).reshape(n, n)


def evaluate(model, x_test: np.ndarray, y_test: np.ndarray) -> Evaluation:
    probs = probabilities(model, x_test)
    y = np.asarray(y_test, int)
    # Same loss Keras reports: mean sparse categorical cross-entropy, clipped like Keras' epsilon.
    p_true = np.clip(probs[np.arange(len(y)), y], 1e-7, 1.0)
    loss = float(-np.log(p_true).mean()) if len(y) else float("nan")
    pred = probs.argmax(axis=1)
    acc = float((pred == y).mean()) if len(y) else float("nan")
    return Evaluation(acc, loss, confusion_matrix(y, pred), probs)
