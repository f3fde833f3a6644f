"""tracelet's e2e workflows (tests/e2e/framework.py: simple_pytorch and lightning), run through tracelet itself.

    python3 upstream_workflows.py simple_pytorch|lightning [--epochs N] [--perturb METRIC@STEP=DELTA]

The Tracelet suite runs this with -WorkflowSource Tracelet where torch, pytorch_lightning, tracelet and the
backend's library are installed; the backend comes from E2E_TRACKING_BACKEND and its variables from
Start-TrackingBackend. Results go to $E2E_WORKFLOW_RESULTS like the built-in workflows'. Unlike upstream,
MLflow is pointed at the backend's store (tracelet never passes TRACELET_BACKEND_URL on; SYSTEMS.md 3.5).

Not run on the machines that build this module (no package index there): written against tracelet's
documented API, and skipped by the suite, with its reason, where the libraries are missing.
"""

import argparse
import json
import os
import time

import torch
import tracelet
from torch import nn


def parse_perturb(text):
    if not text:
        return None
    target, delta = text.rsplit("=", 1)
    key, step = target.rsplit("@", 1)
    return key, int(step), float(delta)


def data():
    torch.manual_seed(42)
    x = torch.randn(1000, 10)
    y = x[:, :3].sum(dim=1, keepdim=True) + 0.1 * torch.randn(1000, 1)
    return x, y


def model():
    return nn.Sequential(nn.Linear(10, 64), nn.ReLU(), nn.Dropout(0.1), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 1))


def r2(prediction, target):
    return float(1 - ((prediction - target) ** 2).sum() / ((target - target.mean()) ** 2).sum())


def simple_pytorch(experiment, log, epochs):
    x, y = data()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=32, shuffle=True)
    net, loss_fn = model(), nn.MSELoss()
    optimizer = torch.optim.Adam(net.parameters(), lr=0.001)
    experiment.log_params({"learning_rate": 0.001, "batch_size": 32, "epochs": epochs, "model_layers": 3, "dropout": 0.1, "optimizer": "adam"})
    losses, accuracies = [], []
    for epoch in range(epochs):
        net.train()
        total = 0.0
        for index, (bx, by) in enumerate(loader):
            optimizer.zero_grad()
            loss = loss_fn(net(bx), by)
            loss.backward()
            optimizer.step()
            total += loss.item()
            if index % 10 == 0:
                log("train/batch_loss", loss.item(), epoch * len(loader) + index)
        net.eval()
        with torch.no_grad():
            accuracy = r2(net(x), y)
        losses.append(total / len(loader))
        accuracies.append(accuracy)
        log("train/epoch_loss", losses[-1], epoch)
        log("train/accuracy_r2", accuracy, epoch)
        log("train/learning_rate", optimizer.param_groups[0]["lr"], epoch)
    log("final/best_accuracy", max(accuracies), epochs)
    log("final/final_loss", losses[-1], epochs)
    return {"losses": losses, "accuracies": accuracies, "epochs_completed": epochs}


def lightning(experiment, log, epochs):
    import pytorch_lightning as pl

    x, y = data()
    train = torch.utils.data.TensorDataset(x[:800], y[:800])
    val = torch.utils.data.TensorDataset(x[800:], y[800:])
    experiment.log_params({"learning_rate": 0.001, "batch_size": 32, "epochs": epochs, "max_epochs": epochs, "train_samples": 800, "val_samples": 200, "optimizer": "adam"})
    outcome = {}

    class Module(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.net, self.loss_fn, self.epoch_losses = model(), nn.MSELoss(), []

        def training_step(self, batch, index):
            loss = self.loss_fn(self.net(batch[0]), batch[1])
            self.epoch_losses.append(loss.item())
            if index % 10 == 0:
                log("train/batch_loss", loss.item(), self.global_step)
            return loss

        def on_train_epoch_end(self):
            outcome["train_loss"] = sum(self.epoch_losses) / len(self.epoch_losses)
            log("train/epoch_loss", outcome["train_loss"], self.current_epoch)
            self.epoch_losses = []

        def validation_step(self, batch, index):
            prediction = self.net(batch[0])
            outcome["val_loss"] = float(self.loss_fn(prediction, batch[1]))
            outcome["val_r2"] = r2(prediction, batch[1])

        def on_validation_epoch_end(self):
            if not self.trainer.sanity_checking:
                log("val/loss", outcome["val_loss"], self.current_epoch)
                log("val/accuracy_r2", outcome["val_r2"], self.current_epoch)

        def configure_optimizers(self):
            return torch.optim.Adam(self.parameters(), lr=0.001)

    trainer = pl.Trainer(max_epochs=epochs, logger=False, enable_checkpointing=False, enable_progress_bar=False)
    trainer.fit(Module(), torch.utils.data.DataLoader(train, batch_size=32, shuffle=True), torch.utils.data.DataLoader(val, batch_size=200))
    log("final/train_loss", outcome["train_loss"], epochs)
    log("final/val_loss", outcome["val_loss"], epochs)
    log("final/val_accuracy", outcome["val_r2"], epochs)
    return {"epochs_completed": trainer.current_epoch, "training_completed": True, "final_train_loss": outcome["train_loss"],
            "final_val_loss": outcome["val_loss"], "final_val_accuracy": outcome["val_r2"]}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("workflow", choices=["simple_pytorch", "lightning"])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--perturb")
    args = parser.parse_args()
    backend = os.environ["E2E_TRACKING_BACKEND"]
    if backend == "mlflow":
        os.environ.setdefault("MLFLOW_TRACKING_URI", os.environ.get("TRACELET_BACKEND_URL", ""))
    perturb = parse_perturb(args.perturb)
    started = time.time()
    experiment = tracelet.start_logging(exp_name=f"e2e_{args.workflow}", project=os.environ.get("E2E_TRACKING_PROJECT", "e2e_test"), backend=backend)

    def log(key, value, step):
        if perturb and perturb[0] == key and perturb[1] == step:
            value += perturb[2]
        experiment.log_metric(key, float(value), step)

    try:
        results = {"simple_pytorch": simple_pytorch, "lightning": lightning}[args.workflow](experiment, log, args.epochs)
    finally:
        tracelet.stop_logging()
    results.update({"execution_time": time.time() - started, "workflow_name": args.workflow, "backend_name": backend, "success": True})
    if os.environ.get("E2E_WORKFLOW_RESULTS"):
        with open(os.environ["E2E_WORKFLOW_RESULTS"], "w", encoding="utf-8") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
