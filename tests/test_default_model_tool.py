"""tools/default_model.py: the training digits it redraws look like what the Draw page hands the model."""

import numpy as np
from scipy import ndimage as ndi

from cnn_core import preprocess
from cnn_core.inference import Predictor
from tools import default_model


def test_redrawn_training_digits_are_read_back_like_mnist_and_keep_their_labels(mnist):
    x, y = mnist.x_train[:400], mnist.y_train[:400]
    images, labels = default_model.redrawn(x, y, 60, seed=3, workers=1)
    assert images.shape == (60, 28, 28) and images.dtype == np.uint8 and labels.dtype == y.dtype

    # Each is one of the training digits, redrawn (not the digit itself), under that digit's label:
    # the shipped model, which reads drawings, reads them as their labels.
    chosen = np.random.default_rng(3).permutation(len(x))[:60]
    assert sorted(labels.tolist()) == sorted(y[chosen].tolist())
    assert not any(np.array_equal(image, x[i]) for image, i in zip(images, chosen))
    assert (Predictor.load(None).predict_batch(images).argmax(1) == labels).mean() >= 0.9

    # As MNIST made its digits: the longer side of the box 20 px, the centre of mass at the field's centre.
    for image in images:
        ys, xs = np.nonzero(image > preprocess.NOISE_LEVEL * 255)
        assert max(ys.max() - ys.min(), xs.max() - xs.min()) + 1 in (19, 20, 21)
        assert np.allclose(ndi.center_of_mass(image.astype(float)), preprocess.CENTRE, atol=1.0)

    # Same seed, same digits; another seed, other drawings.
    again, _ = default_model.redrawn(x, y, 60, seed=3, workers=1)
    other, _ = default_model.redrawn(x, y, 60, seed=4, workers=1)
    assert np.array_equal(again, images) and not np.array_equal(other, images)
