"""Explanations on real models: the shipped default model and tiny real trainings.

Faithfulness (deletion test), the sanity check of Adebayo et al. (2018), the convolution arithmetic
against Keras' own outputs, sweeps, FGSM, confusion-matrix cells, and bad input.
"""

import keras
import numpy as np
import pytest
from scipy import ndimage as ndi
from scipy.stats import spearmanr

from cnn_core import explain, inference, stepthrough
from cnn_core.config import TrainConfig
from cnn_core.errors import UserError
from cnn_core.evaluate import confusion_matrix
from cnn_core.explain import METHODS, Explainer, ExplainError
from cnn_core.inference import Predictor
from cnn_core.model import build_model, compile_model
from cnn_core.stepthrough import SWEEPS, Stepper


def train_tiny(mnist, config: TrainConfig, n: int = 512):
    """A real training: a few steps on n digits (enough to have learnt something, seconds on a CPU).
    Seeded, shuffling included: after other tests the global generators were elsewhere, and a model
    trained 8 steps from there once gave an all-zero Grad-CAM map for the class it predicted."""
    keras.utils.set_random_seed(config.seed)
    model = build_model(config)
    compile_model(model, config)
    x = mnist.x_train[:n, :, :, None].astype(np.float32) / 255
    model.fit(x, mnist.y_train[:n], batch_size=64, epochs=1, verbose=0)
    return model


@pytest.fixture(scope="module")
def default():
    if not inference.DEFAULT_MODEL.is_file():
        pytest.skip("models/default.keras not shipped")
    return Explainer(Predictor.load())


@pytest.fixture(scope="module")
def deep(mnist):
    """2 blocks x 2 convs with batch norm: deeper layers sum over several input channels."""
    return train_tiny(mnist, TrainConfig(filters=(4, 8), convs_per_block=2, batch_norm=True, dense_units=16))


@pytest.fixture(scope="module")
def flat(mnist):
    """One block, no pooling, no dense layer."""
    return train_tiny(mnist, TrainConfig(filters=(6,), pooling=False, dense_units=0))


@pytest.fixture(scope="module")
def no_conv():
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(10, activation="softmax")])
    return model


# --- heatmaps ---

@pytest.mark.parametrize("method", list(METHODS))
def test_deletion_test_hot_pixels_matter_at_least_twice_as_much_as_random_ones(default, mnist, method):
    hot, rand = explain.deletion_drops(default, mnist.x_test[:200], method)
    assert len(hot) == 200
    assert hot.mean() >= 2 * rand.mean() > 0, (method, hot.mean(), rand.mean())


def test_deletion_test_scores_a_flat_map_like_chance(default, mnist):
    """The test itself can fail: a map that points nowhere (all ties) is no better than random."""
    class Flat(Explainer):
        def heatmaps(self, images, targets, method=None):
            return np.zeros((len(images), 28, 28), np.float32)

    hot, rand = explain.deletion_drops(Flat(default.predictor), mnist.x_test[:200], "gradient")
    assert 0.6 < hot.mean() / rand.mean() < 1.5


@pytest.mark.parametrize("method", list(METHODS))
def test_sanity_check_maps_of_a_reinitialised_model_differ(default, mnist, method):
    """Adebayo et al. 2018: a map that survives randomising the weights explains the image, not the model."""
    fresh = keras.models.clone_model(default.model)  # same architecture, newly initialised weights
    x = mnist.x_test[:20]
    targets = default.predictor.predict_batch(x).argmax(1)
    trained, random_maps = default.heatmaps(x, targets, method), Explainer(fresh).heatmaps(x, targets, method)
    rho = np.mean([spearmanr(a.ravel(), b.ravel()).statistic for a, b in zip(trained, random_maps)])
    assert rho < 0.5, (method, rho)


@pytest.mark.parametrize("method", list(METHODS))
def test_heatmap_shape_range_and_default_target_on_every_kind_of_model(default, deep, flat, mnist, method):
    for ex in (default, Explainer(deep), Explainer(flat)):
        image = mnist.x_test[1]
        heat = ex.heatmap(image, method=method)
        assert heat.target == ex.predictor.predict_image(image).digit
        assert heat.values.shape == (28, 28) and heat.values.dtype == np.float32
        assert np.isfinite(heat.values).all() and heat.values.min() >= 0 and heat.values.max() > 0
        np.testing.assert_allclose(heat.image, mnist.x_test[1] / 255, atol=1e-7)
        assert heat.normalised().max() == pytest.approx(1.0)
        other = ex.heatmap(image, target=(heat.target + 1) % 10, method=method)
        assert not np.array_equal(other.values, heat.values)


def test_gradcam_upsampling_puts_the_heat_over_the_ink_better_than_a_plain_resize(default, mnist):
    """Valid convolutions shrink the map from the edges: a plain resize stretches the heat outwards."""
    import tensorflow as tf

    x = mnist.x_test[:50]
    targets = default.predictor.predict_batch(x).argmax(1)
    aligned = default.heatmaps(x, targets, "gradcam")
    small = default._compiled("gradcam")(tf.constant(x[..., None] / np.float32(255)),
                                         tf.constant(np.eye(10, dtype=np.float32)[targets]))
    plain = np.maximum(tf.image.resize(small[..., None], [28, 28]).numpy()[..., 0], 0)
    near_ink = np.stack([ndi.binary_dilation(img > 25, iterations=1) for img in x])

    def on_ink(maps):
        return np.mean([m[ink].sum() / max(m.sum(), 1e-12) for m, ink in zip(maps, near_ink)])

    assert on_ink(aligned) > on_ink(plain) + 0.03, (on_ink(aligned), on_ink(plain))


@pytest.mark.parametrize("method", list(METHODS))
def test_contrast_is_the_difference_of_the_two_signed_maps(default, mnist, method):
    image = mnist.x_test[0]  # a 7
    c = default.contrast(image, 7, 1, method)
    eye = np.eye(10, dtype=np.float32)
    a, b = default.signed_maps(image[None], eye[[7]], method)[0], default.signed_maps(image[None], eye[[1]], method)[0]
    np.testing.assert_allclose(c.values, a - b, atol=1e-4 * np.abs(a - b).max())
    np.testing.assert_allclose(default.contrast(image, 1, 7, method).values, -c.values,
                               atol=1e-4 * np.abs(c.values).max())
    assert (c.values > 0).any() and (c.values < 0).any()  # signed


def test_functions_are_compiled_once_per_model(default, mnist):
    default.heatmap(mnist.x_test[0], method="gradient")
    first = default._compiled("gradient")
    for image in mnist.x_test[:3]:
        default.heatmap(image, method="gradient")
    assert default._compiled("gradient") is first


def test_gradcam_on_a_model_without_conv_layers_says_why_and_offers_the_gradient(no_conv, mnist):
    ex = Explainer(no_conv)
    assert "gradcam" not in ex.methods()
    with pytest.raises(UserError, match="convolution layer.*'gradient'"):
        ex.heatmap(mnist.x_test[0], method="gradcam")
    heat = ex.heatmap(mnist.x_test[0], method="gradient")
    assert heat.values.max() > 0


@pytest.mark.parametrize("bad", [10, -1, 3.5, "7", None])
def test_a_class_outside_0_to_9_is_a_clear_error(default, mnist, bad):
    with pytest.raises(ExplainError, match="class|0 to 9"):
        if bad is None:
            default.contrast(mnist.x_test[0], 7, "x")
        else:
            default.heatmap(mnist.x_test[0], target=bad)


def test_bad_method_and_bad_image_are_clear_errors(default, mnist):
    with pytest.raises(ExplainError, match="unknown method 'lime'; choose one of gradcam"):
        default.heatmap(mnist.x_test[0], method="lime")
    with pytest.raises(ExplainError, match=r"\(28, 28\).*got shape \(27, 28\)"):
        default.heatmap(mnist.x_test[0][1:])


# --- convolution step by step ---

def _positions(rng, shape, n=6):
    h, w, c = shape
    picked = [(int(rng.integers(c)), int(rng.integers(h)), int(rng.integers(w))) for _ in range(n)]
    return picked + [(c - 1, h - 1, w - 1)]


@pytest.mark.parametrize("which", ["default", "deep", "flat"])
def test_conv_step_equals_keras_at_random_positions_of_every_conv_layer(request, mnist, which):
    source = request.getfixturevalue(which)
    st = Stepper(source.predictor if isinstance(source, Explainer) else source)
    image = mnist.x_test[3]
    acts = st.activations(image)
    rng = np.random.default_rng(0)
    for layer in st.conv_layers():
        block_out = keras.Model(st.model.inputs, _block_end(st.model, layer).output)([image[None, :, :, None] / 255.0])
        for f, r, c in _positions(rng, acts[layer].shape):
            step = st.conv_step(image, layer, f, r, c)
            expected = float(np.asarray(block_out)[0, r, c, f])  # Keras' own output, from a separate model
            assert abs(step.value - expected) <= 1e-5 * max(1, abs(expected)), (layer, f, r, c)
            assert step.keras_value == pytest.approx(expected, abs=1e-6)
            np.testing.assert_allclose(step.products, step.patch * step.kernel.astype(np.float64))
            assert step.channel_sums.shape == (step.kernel.shape[2],)
            assert step.total == pytest.approx(step.products.sum())
            assert step.pre_activation == pytest.approx(step.total + step.bias)
            assert (step.batch_norm is not None) == (which == "deep")
            assert step.activation == "relu"
            # The patch is the source map's own values where the kernel sits.
            src = acts[step.source]
            np.testing.assert_array_equal(step.patch, src[step.rows[0]:step.rows[1], step.cols[0]:step.cols[1]])


def _block_end(model, conv_name):
    layers = model.layers
    i = [layer.name for layer in layers].index(conv_name)
    while i + 1 < len(layers) and type(layers[i + 1]).__name__ in ("BatchNormalization", "Activation"):
        i += 1
    return layers[i]


def test_pool_step_names_the_max(default, mnist):
    st = Stepper(default.predictor)
    image = mnist.x_test[0]
    acts = st.activations(image)
    for layer in st.pool_layers():
        for ch, r, c in _positions(np.random.default_rng(1), acts[layer].shape):
            step = st.pool_step(image, layer, ch, r, c)
            assert step.value == step.keras_value == acts[layer][r, c, ch]
            assert step.window.shape == (2, 2)
            src = acts[st._source([x.name for x in st.layers].index(layer))]
            assert src[step.argmax[0], step.argmax[1], ch] == step.value


@pytest.mark.parametrize("args, words", [
    (("conv9", 0, 0, 0), "no conv layer named 'conv9'.*conv1, conv2"),
    (("pool1", 0, 0, 0), "no conv layer named 'pool1'"),
    (("conv1", 32, 0, 0), "filter 32 is outside this map: choose 0 to 31"),
    (("conv1", 0, 26, 0), "row 26 is outside this map: choose 0 to 25"),
    (("conv1", 0, 0, -1), "col -1 is outside"),
    (("conv2", 0, 1.5, 0), "row 1.5"),
])
def test_conv_step_out_of_range_is_a_clear_error(default, mnist, args, words):
    with pytest.raises(ExplainError, match=words):
        Stepper(default.predictor).conv_step(mnist.x_test[0], *args)


def test_pool_step_out_of_range_is_a_clear_error(default, mnist):
    st = Stepper(default.predictor)
    with pytest.raises(ExplainError, match="no pooling layer named 'conv1'"):
        st.pool_step(mnist.x_test[0], "conv1", 0, 0, 0)
    with pytest.raises(ExplainError, match="row 13 is outside this map: choose 0 to 12"):
        st.pool_step(mnist.x_test[0], "pool1", 0, 13, 0)


# --- what if: sweeps ---

def test_sweeps_reproduce_the_prediction_at_the_identity(default, deep, mnist):
    for predictor in (default.predictor, Predictor(deep)):
        image = mnist.x_test[0] / np.float32(255)
        normal = predictor.predict_image(image).probabilities
        result = stepthrough.sweeps(predictor, image)
        assert set(result) == set(SWEEPS)
        for s in result.values():
            np.testing.assert_array_equal(s.probabilities[s.identity], normal)  # exactly
            np.testing.assert_array_equal(s.images[s.identity], image)
            assert s.probabilities.shape == (len(s.values), 10)
            np.testing.assert_allclose(s.probabilities.sum(axis=1), 1, atol=1e-9)
            assert len({img.tobytes() for img in s.images}) == len(s.values)  # every step changes the drawing
            assert s.images.min() >= 0 and s.images.max() <= 1


def test_sweep_transforms_do_what_they_say(mnist):
    image = mnist.x_test[0] / np.float32(255)
    cy, cx = ndi.center_of_mass(image)
    assert ndi.center_of_mass(stepthrough.transform(image, "shift_x", 3))[1] == pytest.approx(cx + 3, abs=0.3)
    assert ndi.center_of_mass(stepthrough.transform(image, "shift_y", -3))[0] == pytest.approx(cy - 3, abs=0.3)
    for kind, more, less in (("stroke", 1, -1), ("scale", 1.5, 0.5)):
        bigger, smaller = stepthrough.transform(image, kind, more), stepthrough.transform(image, kind, less)
        assert bigger.sum() > image.sum() > smaller.sum(), kind
    with pytest.raises(ExplainError, match="unknown sweep 'blur'"):
        stepthrough.sweep_values("blur")
    with pytest.raises(ExplainError, match="odd number"):
        stepthrough.sweep_values("rotate", 8)


# --- fool it: FGSM ---

def test_fgsm_respects_the_bounds_and_accuracy_falls_as_epsilon_grows(default, mnist):
    x, y = mnist.x_test[:500] / np.float32(255), mnist.y_test[:500]
    accuracies = []
    for eps in (0.0, 0.05, 0.1, 0.2):
        adv = default.fgsm_batch(x, y, eps)
        assert adv.min() >= 0 and adv.max() <= 1
        assert np.abs(adv - x).max() <= eps
        accuracies.append((default.predictor.predict_batch(adv).argmax(1) == y).mean())
    assert accuracies[0] > 0.95
    assert all(a > b for a, b in zip(accuracies, accuracies[1:])), accuracies


def test_fgsm_on_one_drawing(default, mnist):
    attack = default.fgsm(mnist.x_test[0], 0.15)
    assert attack.original.digit == 7
    np.testing.assert_allclose(attack.image - attack.perturbation, mnist.x_test[0] / np.float32(255), atol=1e-6)
    assert np.abs(attack.perturbation).max() <= 0.15
    assert attack.prediction.probabilities[7] < attack.original.probabilities[7]
    with pytest.raises(ExplainError, match="epsilon 2 is outside 0 to 1"):
        default.fgsm(mnist.x_test[0], 2)


# --- the confusion matrix, cell by cell ---

def test_confusion_cells_hold_exactly_the_cells_digits(default, flat, mnist):
    y = mnist.y_test
    pred_a = default.predictor.predict_batch(mnist.x_test).argmax(1)
    pred_b = Predictor(flat).predict_batch(mnist.x_test).argmax(1)
    matrix = confusion_matrix(y, pred_a)
    for t in range(10):
        for p in range(10):
            cell = explain.confusion_cell(y, pred_a, t, p)
            assert len(cell) == matrix[t, p]
            assert (y[cell] == t).all() and (pred_a[cell] == p).all()
    diff = explain.confusion_difference(y, pred_a, pred_b)
    assert (diff.sum(axis=1) == 0).all() and diff.any()
    np.testing.assert_array_equal(diff, confusion_matrix(y, pred_b) - matrix)


def test_confusion_cell_bad_input(mnist):
    y = mnist.y_test[:100]
    with pytest.raises(ExplainError, match="differ in shape"):
        explain.confusion_cell(y, y[:50], 1, 1)
    with pytest.raises(ExplainError, match="predicted label 10 is outside"):
        explain.confusion_cell(y, y, 1, 10)
    with pytest.raises(ExplainError, match="whole class numbers"):
        explain.confusion_difference(y, y, y + 10)
