"""Standard-library training workflows with the data shapes, seeds, metric names and steps of
tracelet's e2e workflows (simple_pytorch and lightning), logged through e2e_tracking.

    python3 e2e_workflows.py simple_pytorch|lightning [--epochs N] [--perturb METRIC@STEP=DELTA]
    python3 e2e_workflows.py --source torch simple_pytorch|lightning|computer_vision|time_series [...]
    python3 e2e_workflows.py environment        (the report's environment_info as JSON)

With --source torch the workflows are real PyTorch (e2e_torch_workflows.py); the results say which ran ("source").

Data: seed 42, X = 1000 x 10 standard normal, y = X[:,0] + X[:,1] + X[:,2] + 0.1 * noise. The model
is a small MLP (10 -> 8 -> 1, ReLU) trained with Adam (lr 1e-3) on batches of 32, written out in
plain Python so that it runs anywhere; the same seed gives the same floats on every backend.
--perturb adds DELTA to one logged value (a deliberately different backend, for the comparison test).
The results JSON goes to $E2E_WORKFLOW_RESULTS when it is set.
"""

import argparse
import json
import math
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_tracking  # noqa: E402

BATCH_SIZE = 32
LEARNING_RATE = 0.001
HIDDEN = 8


def make_data(seed=42, samples=1000, features=10):
    rng = random.Random(seed)
    xs = [[rng.gauss(0.0, 1.0) for _ in range(features)] for _ in range(samples)]
    ys = [x[0] + x[1] + x[2] + 0.1 * rng.gauss(0.0, 1.0) for x in xs]
    return xs, ys, rng


class Mlp:
    """10 -> HIDDEN -> 1 with ReLU, trained by Adam on mean squared error."""

    def __init__(self, rng, features=10, hidden=HIDDEN):
        scale = math.sqrt(2.0 / features)
        self.params = [[rng.gauss(0.0, scale) for _ in range(features)] for _ in range(hidden)]  # w1 rows
        self.params.append([0.0] * hidden)  # b1
        self.params.append([rng.gauss(0.0, math.sqrt(1.0 / hidden)) for _ in range(hidden)])  # w2
        self.params.append([0.0])  # b2
        self.m = [[0.0] * len(p) for p in self.params]
        self.v = [[0.0] * len(p) for p in self.params]
        self.t = 0
        self.hidden = hidden

    def predict(self, x):
        h = self.hidden
        w1, b1, w2, b2 = self.params[:h], self.params[h], self.params[h + 1], self.params[h + 2][0]
        out = b2
        for j in range(h):
            a = b1[j] + sum(wi * xi for wi, xi in zip(w1[j], x))
            if a > 0.0:
                out += w2[j] * a
        return out

    def step(self, batch_x, batch_y, lr):
        h = self.hidden
        w1, b1, w2 = self.params[:h], self.params[h], self.params[h + 1]
        grads = [[0.0] * len(p) for p in self.params]
        loss = 0.0
        n = len(batch_x)
        for x, y in zip(batch_x, batch_y):
            acts = [b1[j] + sum(wi * xi for wi, xi in zip(w1[j], x)) for j in range(h)]
            out = self.params[h + 2][0] + sum(w2[j] * a for j, a in enumerate(acts) if a > 0.0)
            err = out - y
            loss += err * err
            d_out = 2.0 * err / n
            grads[h + 2][0] += d_out
            for j, a in enumerate(acts):
                if a > 0.0:
                    grads[h + 1][j] += d_out * a
                    d_a = d_out * w2[j]
                    grads[h][j] += d_a
                    row = grads[j]
                    for i, xi in enumerate(x):
                        row[i] += d_a * xi
        self.t += 1
        beta1, beta2, eps = 0.9, 0.999, 1e-8
        c1, c2 = 1.0 - beta1 ** self.t, 1.0 - beta2 ** self.t
        for p, g, m, v in zip(self.params, grads, self.m, self.v):
            for i in range(len(p)):
                m[i] = beta1 * m[i] + (1.0 - beta1) * g[i]
                v[i] = beta2 * v[i] + (1.0 - beta2) * g[i] * g[i]
                p[i] -= lr * (m[i] / c1) / (math.sqrt(v[i] / c2) + eps)
        return loss / n


def mse_and_r2(model, xs, ys):
    predictions = [model.predict(x) for x in xs]
    mean = sum(ys) / len(ys)
    residual = sum((p - y) ** 2 for p, y in zip(predictions, ys))
    total = sum((y - mean) ** 2 for y in ys)
    return residual / len(ys), 1.0 - residual / total


class Logger:
    """Logs through e2e_tracking, applying --perturb to the one named value."""

    def __init__(self, run, perturb):
        self.run = run
        self.perturb = perturb

    def metric(self, key, value, step):
        if self.perturb and self.perturb[0] == key and self.perturb[1] == step:
            value += self.perturb[2]
        self.run.log_metric(key, value, step)


def batches(order, size):
    for start in range(0, len(order), size):
        yield order[start:start + size]


def train_epoch(model, xs, ys, order, rng, log, epoch):
    """One shuffled pass in batches of BATCH_SIZE; every 10th batch's loss is logged at the global step
    (as tracelet's loop and Lightning's log_every_n_steps do). Returns the mean batch loss."""
    per_epoch = math.ceil(len(xs) / BATCH_SIZE)
    rng.shuffle(order)
    total = 0.0
    for index, batch in enumerate(batches(order, BATCH_SIZE)):
        loss = model.step([xs[i] for i in batch], [ys[i] for i in batch], LEARNING_RATE)
        total += loss
        if index % 10 == 0:
            log.metric("train/batch_loss", loss, epoch * per_epoch + index)
    return total / per_epoch


def simple_pytorch(log, epochs):
    xs, ys, rng = make_data()
    model = Mlp(rng)
    log.run.log_params({"learning_rate": LEARNING_RATE, "batch_size": BATCH_SIZE, "epochs": epochs,
                        "model_layers": 3, "dropout": 0.1, "optimizer": "adam"})
    order = list(range(len(xs)))
    losses, accuracies = [], []
    for epoch in range(epochs):
        epoch_loss = train_epoch(model, xs, ys, order, rng, log, epoch)
        _, r2 = mse_and_r2(model, xs, ys)
        log.metric("train/epoch_loss", epoch_loss, epoch)
        log.metric("train/accuracy_r2", r2, epoch)
        log.metric("train/learning_rate", LEARNING_RATE, epoch)
        losses.append(epoch_loss)
        accuracies.append(r2)
    log.metric("final/best_accuracy", max(accuracies), epochs)
    log.metric("final/final_loss", losses[-1], epochs)
    return {"losses": losses, "accuracies": accuracies, "epochs_completed": epochs}


def lightning(log, epochs):
    xs, ys, rng = make_data()
    train_x, train_y, val_x, val_y = xs[:800], ys[:800], xs[800:], ys[800:]
    model = Mlp(rng)
    log.run.log_params({"learning_rate": LEARNING_RATE, "batch_size": BATCH_SIZE, "epochs": epochs, "max_epochs": epochs,
                        "train_samples": len(train_x), "val_samples": len(val_x), "optimizer": "adam"})
    order = list(range(len(train_x)))
    train_loss = val_loss = val_r2 = float("nan")
    for epoch in range(epochs):
        train_loss = train_epoch(model, train_x, train_y, order, rng, log, epoch)
        val_loss, val_r2 = mse_and_r2(model, val_x, val_y)
        log.metric("train/epoch_loss", train_loss, epoch)
        log.metric("val/loss", val_loss, epoch)
        log.metric("val/accuracy_r2", val_r2, epoch)
    log.metric("final/train_loss", train_loss, epochs)
    log.metric("final/val_loss", val_loss, epochs)
    log.metric("final/val_accuracy", val_r2, epochs)
    return {"epochs_completed": epochs, "training_completed": True, "final_train_loss": train_loss,
            "final_val_loss": val_loss, "final_val_accuracy": val_r2}


WORKFLOWS = {"simple_pytorch": simple_pytorch, "lightning": lightning}


def parse_perturb(text):
    if not text:
        return None
    target, delta = text.rsplit("=", 1)
    key, step = target.rsplit("@", 1)
    return key, int(step), float(delta)


PACKAGES = ("torch", "torchvision", "pytorch_lightning", "mlflow", "clearml", "wandb", "numpy", "matplotlib")


def environment():
    """The report's environment_info: Python, platform, and the versions of the packages tracelet's runner lists."""
    import importlib.metadata
    import platform
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name.replace("_", "-"))
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return {"python_version": sys.version, "platform": platform.platform(), "available_packages": versions}


def main(argv):
    if argv == ["environment"]:
        print(json.dumps(environment()))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", choices=("stdlib", "torch"), default="stdlib")
    parser.add_argument("workflow")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--perturb", help="METRIC@STEP=DELTA: add DELTA to that one logged value")
    args = parser.parse_args(argv)
    started = time.time()
    workflows, epochs, extra = WORKFLOWS, args.epochs or 10, {"source": "stdlib"}
    if args.source == "torch":
        import e2e_torch_workflows as torch_workflows
        import torch

        torch_workflows.prepare()
        workflows, epochs = torch_workflows.WORKFLOWS, args.epochs or torch_workflows.DEFAULT_EPOCHS.get(args.workflow, 10)
        extra = {"source": "torch", "torch_version": torch.__version__, "device": str(torch_workflows.device())}
    if args.workflow not in workflows:
        parser.error(f"{args.workflow!r} is not a {args.source} workflow ({', '.join(sorted(workflows))})")
    run = e2e_tracking.start_run(f"e2e_{args.workflow}", tags={"workflow": args.workflow, "workflow_source": args.source})
    log = Logger(run, parse_perturb(args.perturb))
    exit_code = 1
    try:
        results = workflows[args.workflow](log, epochs)
        exit_code = 0
    finally:
        run.finish(exit_code)
    results.update(extra)
    results.update({"execution_time": time.time() - started, "workflow_name": args.workflow,
                    "backend_name": os.environ.get("E2E_TRACKING_BACKEND", ""), "success": True,
                    "run_id": getattr(run, "run_id", None) or getattr(run, "task_id", None)})
    target = os.environ.get("E2E_WORKFLOW_RESULTS")
    if target:
        with open(target, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=2)
    print(json.dumps({k: v for k, v in results.items() if not isinstance(v, list)}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
