"""RBM hidden probabilities as features for a linear classifier, against raw pixels.

A Bernoulli RBM is trained by PCD on the training images *without their labels*; each
image is then represented by its hidden probabilities ``p(h = 1 | v)``, and a
multinomial logistic regression is fitted on those features and, for comparison, on
the raw pixels (the same classifier and regularisation for both). The script reports
the test accuracy of both.

The classifier is scikit-learn's ``LogisticRegression`` when scikit-learn is installed
(``pip install numpyro_ebm[bench]``), else an L2-regularised softmax regression in JAX,
fitted by full-batch L-BFGS (``optax.lbfgs``) on the same objective
(``--classifier sklearn|jax`` chooses explicitly; ``auto`` is the default).

Data: the embedded 8x8 digits by default; MNIST with ``--mnist PATH`` or
``NUMPYRO_EBM_MNIST``.

Run: ``python examples/rbm_features_classifier.py --out features_output`` (under a minute).

References
----------
Hinton, G. E. (2010). A practical guide to training restricted Boltzmann machines,
section 16 (RBM features for discrimination).
Coates, A., Ng, A. Y. & Lee, H. (2011). An analysis of single-layer networks in
unsupervised feature learning. *AISTATS*.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

from numpyro_ebm.energies import bernoulli_rbm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _shared import load_images, train_rbm  # noqa: E402


def softmax_regression_loss(weights, x, y, l2: float):
    """Mean cross-entropy plus ``l2 / 2 * |W|^2`` (the bias is not penalised)."""
    W, b = weights
    logits = x @ W + b
    log_norm = jax.nn.logsumexp(logits, axis=1)
    chosen = jnp.take_along_axis(logits, y[:, None], axis=1)[:, 0]
    return jnp.mean(log_norm - chosen) + 0.5 * l2 * jnp.sum(W * W)


@partial(jax.jit, static_argnames=("n_classes", "iterations"))
def fit_softmax_regression(x, y, *, n_classes: int, l2: float, iterations: int):
    """Full-batch L-BFGS (``optax.lbfgs`` with its zoom line search)."""
    weights = (jnp.zeros((x.shape[1], n_classes), x.dtype), jnp.zeros((n_classes,), x.dtype))

    def loss(w):
        return softmax_regression_loss(w, x, y, l2)

    optimizer = optax.lbfgs()
    value_and_grad = optax.value_and_grad_from_state(loss)

    def step(carry, _):
        weights, state = carry
        value, grad = value_and_grad(weights, state=state)
        updates, state = optimizer.update(
            grad, state, weights, value=value, grad=grad, value_fn=loss
        )
        return (optax.apply_updates(weights, updates), state), value

    (weights, _), values = jax.lax.scan(
        step, (weights, optimizer.init(weights)), None, length=iterations
    )
    return weights, values


def classify(kind: str, x_train, y_train, x_test, *, c: float, iterations: int):
    """Fit a multinomial logistic regression with inverse regularisation ``c`` (scikit-learn's
    ``C``: the penalty is ``|W|^2 / (2 c)`` against the *summed* log-loss) and return the
    predicted test labels."""
    if kind == "sklearn":
        from sklearn.linear_model import LogisticRegression

        model = LogisticRegression(C=c, max_iter=iterations)
        return model.fit(x_train, y_train).predict(x_test)
    n_classes = int(y_train.max()) + 1
    weights, _ = fit_softmax_regression(
        jnp.asarray(x_train, jnp.float32),
        jnp.asarray(y_train, jnp.int32),
        n_classes=n_classes,
        l2=1.0 / (c * len(x_train)),  # the same objective divided by n
        iterations=iterations,
    )
    W, b = weights
    return np.asarray(jnp.argmax(jnp.asarray(x_test, jnp.float32) @ W + b, axis=1))


def plot_results(accuracies, params, image_shape, path, title):
    """Accuracy bars next to the RBM's filters (columns of W)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    W = np.asarray(params.W)
    show = min(W.shape[1], 32)
    columns = 8
    rows = -(-show // columns)
    fig = plt.figure(figsize=(10, max(3.0, 1.1 * rows + 0.6)))
    grid = fig.add_gridspec(rows, columns + 5)
    ax = fig.add_subplot(grid[:, :4])
    names = list(accuracies)
    bars = ax.bar(range(len(names)), [100 * accuracies[k] for k in names], color=["C0", "C1"])
    ax.set_xticks(range(len(names)), names, fontsize=8)
    for bar, name in zip(bars, names, strict=True):
        ax.text(
            bar.get_x() + bar.get_width() / 2,
            bar.get_height(),
            f"{100 * accuracies[name]:.1f}%",
            ha="center",
            va="bottom",
            fontsize=8,
        )
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_title(title, fontsize=8)
    for i in range(show):
        sub = fig.add_subplot(grid[i // columns, 5 + i % columns])
        bound = float(np.max(np.abs(W[:, i]))) or 1.0
        sub.imshow(W[:, i].reshape(image_shape), cmap="RdBu_r", vmin=-bound, vmax=bound)
        sub.axis("off")
    fig.suptitle(f"RBM filters (first {show} hidden units), red positive", x=0.67, fontsize=9)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mnist", default=None, help="MNIST .npz or IDX directory")
    parser.add_argument("--digits", action="store_true", help="ignore NUMPYRO_EBM_MNIST")
    parser.add_argument(
        "--train-size", type=int, default=None, help="use the first N training images"
    )
    parser.add_argument("--test-size", type=int, default=None, help="use the first N test images")
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=20)
    parser.add_argument("--learning-rate", type=float, default=3e-3)
    parser.add_argument("--pcd-chains", type=int, default=100)
    parser.add_argument("--classifier", choices=["auto", "sklearn", "jax"], default="auto")
    parser.add_argument("--C", type=float, default=1.0, help="inverse L2 regularisation")
    parser.add_argument("--iterations", type=int, default=300, help="classifier iterations")
    parser.add_argument("--out", default="rbm_features_output")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    kind = args.classifier
    if kind == "auto":
        kind = "sklearn" if importlib.util.find_spec("sklearn") is not None else "jax"

    split, image_shape, data_name = load_images(args.mnist, args.digits, args.seed)
    x_train, y_train = split.x_train[: args.train_size], split.y_train[: args.train_size]
    x_test, y_test = split.x_test[: args.test_size], split.y_test[: args.test_size]
    params = train_rbm(
        jax.random.key(args.seed),
        x_train,
        n_hidden=args.hidden,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        n_chains=args.pcd_chains,
    )
    trained = time.perf_counter() - started
    print(
        f"{data_name}: {x_train.shape[1]}-{args.hidden} RBM, PCD-1, {args.epochs} epochs on "
        f"{len(x_train)} unlabelled training images ({trained:.1f} s)"
    )

    features_train = np.asarray(bernoulli_rbm.hidden_probs(params, jnp.asarray(x_train)))
    features_test = np.asarray(bernoulli_rbm.hidden_probs(params, jnp.asarray(x_test)))
    classifier = (
        "scikit-learn LogisticRegression"
        if kind == "sklearn"
        else "JAX softmax regression (L-BFGS)"
    )
    accuracies = {}
    for name, train_x, test_x in (
        ("raw pixels", x_train, x_test),
        (f"RBM features ({args.hidden})", features_train, features_test),
    ):
        predicted = classify(kind, train_x, y_train, test_x, c=args.C, iterations=args.iterations)
        accuracies[name] = float(np.mean(predicted == y_test))
    print(f"\n{classifier}, C = {args.C:g}, {len(x_test)} test images")
    for name, accuracy in accuracies.items():
        print(f"{name:>24s}: test accuracy {100 * accuracy:.2f}%")

    paths = [
        plot_results(
            accuracies,
            params,
            image_shape,
            out / "rbm_features.png",
            f"{data_name}: {classifier}",
        )
    ]
    seconds = time.perf_counter() - started
    print(f"\nwrote {', '.join(str(p) for p in paths)} in {seconds:.1f} s")
    return {
        "data": data_name,
        "classifier": kind,
        "raw_accuracy": accuracies["raw pixels"],
        "rbm_accuracy": accuracies[f"RBM features ({args.hidden})"],
        "plots": [str(p) for p in paths],
        "seconds": seconds,
    }


if __name__ == "__main__":
    main()
