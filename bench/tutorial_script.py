"""The classic first CNN in Keras, as the tutorial writes it: numpy arrays into fit, validation_split.

bench/train_vs_keras.py builds the network from here in its own process, and runs this file as a
learner runs it, a process of its own: python bench/tutorial_script.py MNIST_NPZ EPOCHS
"""

import sys


def build():
    import keras
    from keras import layers

    model = keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Flatten(),
        layers.Dense(64, activation="relu"),
        layers.Dense(10, activation="softmax"),
    ])
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    return model


def main(npz: str, epochs: int) -> None:
    import numpy as np

    with np.load(npz) as f:
        x_train, y_train, x_test, y_test = f["x_train"], f["y_train"], f["x_test"], f["y_test"]
    x_train = np.expand_dims(x_train.astype("float32") / 255, -1)
    x_test = np.expand_dims(x_test.astype("float32") / 255, -1)
    model = build()
    model.fit(x_train, y_train, batch_size=64, epochs=epochs, validation_split=0.1, verbose=2)
    print("test accuracy", model.evaluate(x_test, y_test, verbose=0)[1])


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
