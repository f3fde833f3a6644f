"""tracelet's e2e workflows in real PyTorch, logged through e2e_tracking (run by e2e_workflows.py --source torch).

* simple_pytorch: SimplePyTorchWorkflow (seed 42, X = randn(1000, 10), y = sum(X[:, :3]) + 0.1 noise, MLP 10-64-32-1
  with dropout 0.1, Adam lr 1e-3, batches of 32, 10 epochs);
* lightning: the LightningWorkflow's data (800/200 split), model, loops and metric names. It runs under
  pytorch_lightning's Trainer where that is installed; otherwise the same train and validation loops are written
  out in torch, and the results say so ("trainer");
* computer_vision: ComputerVisionWorkflow (SimpleCNN on synthetic 3x32x32 images, 10 classes, 800/200, Adam,
  StepLR(5, 0.5), 8 epochs);
* time_series: TimeSeriesWorkflow (2-layer LSTM, hidden 64, on noisy sine waves of 49 points predicting the 50th,
  Adam, ReduceLROnPlateau(3, 0.5), 10 epochs).

Each is seeded and run on one thread with deterministic algorithms, so the same workflow logs the same floats to
every backend. TensorBoard files and sample plots of the upstream workflows are left out: they are not tracked
metrics. The device is CPU unless E2E_TORCH_DEVICE names another (cuda), which tools/Test-Gpu.ps1 uses.
"""

import math
import os

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

BATCH_SIZE = 32
LEARNING_RATE = 0.001


def device():
    return torch.device(os.environ.get("E2E_TORCH_DEVICE", "cpu"))


def prepare():
    """One thread and deterministic kernels: a run's floats depend on the seed only, not on the machine's load."""
    # Deterministic CUDA matmuls need this before CUDA starts (tools/Test-Gpu.ps1 runs these on a GPU).
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.set_num_threads(int(os.environ.get("E2E_TORCH_THREADS", "1")))
    torch.use_deterministic_algorithms(True)


def regression_data():
    torch.manual_seed(42)
    x = torch.randn(1000, 10)
    y = x[:, :3].sum(dim=1, keepdim=True) + 0.1 * torch.randn(1000, 1)
    return x, y


def regression_model():
    return nn.Sequential(nn.Linear(10, 64), nn.ReLU(), nn.Dropout(0.1), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 1))


def r2(prediction, target):
    return float(1 - ((prediction - target) ** 2).sum() / ((target - target.mean()) ** 2).sum())


def loader(x, y, shuffle):
    generator = torch.Generator().manual_seed(42)
    return DataLoader(TensorDataset(x, y), batch_size=BATCH_SIZE, shuffle=shuffle, generator=generator)


def train_epoch(net, loss_fn, optimizer, data, log, epoch):
    """One pass over the batches; every 10th batch's loss is logged at the global step, as tracelet's loop and
    Lightning's log_every_n_steps do. Returns the mean batch loss."""
    on = device()
    net.train()
    total = 0.0
    for index, (bx, by) in enumerate(data):
        optimizer.zero_grad()
        loss = loss_fn(net(bx.to(on)), by.to(on))
        loss.backward()
        optimizer.step()
        total += loss.item()
        if index % 10 == 0:
            log.metric("train/batch_loss", loss.item(), epoch * len(data) + index)
    return total / len(data)


def simple_pytorch(log, epochs):
    x, y = regression_data()
    on = device()
    data = loader(x, y, shuffle=True)
    net, loss_fn = regression_model().to(on), nn.MSELoss()
    optimizer = torch.optim.Adam(net.parameters(), lr=LEARNING_RATE)
    log.run.log_params({"learning_rate": LEARNING_RATE, "batch_size": BATCH_SIZE, "epochs": epochs,
                        "model_layers": 3, "dropout": 0.1, "optimizer": "adam"})
    losses, accuracies = [], []
    for epoch in range(epochs):
        epoch_loss = train_epoch(net, loss_fn, optimizer, data, log, epoch)
        net.eval()
        with torch.no_grad():
            accuracy = r2(net(x.to(on)), y.to(on))
        log.metric("train/epoch_loss", epoch_loss, epoch)
        log.metric("train/accuracy_r2", accuracy, epoch)
        log.metric("train/learning_rate", optimizer.param_groups[0]["lr"], epoch)
        losses.append(epoch_loss)
        accuracies.append(accuracy)
    log.metric("final/best_accuracy", max(accuracies), epochs)
    log.metric("final/final_loss", losses[-1], epochs)
    return {"losses": losses, "accuracies": accuracies, "epochs_completed": epochs}


def lightning(log, epochs):
    x, y = regression_data()
    train, val = loader(x[:800], y[:800], shuffle=True), loader(x[800:], y[800:], shuffle=False)
    log.run.log_params({"learning_rate": LEARNING_RATE, "batch_size": BATCH_SIZE, "epochs": epochs, "max_epochs": epochs,
                        "train_samples": 800, "val_samples": 200, "optimizer": "adam"})
    # Only the import decides: an ImportError inside a Trainer run is that run's failure, not a reason to fall back.
    try:
        import pytorch_lightning  # noqa: F401
        has_lightning = True
    except ImportError:
        has_lightning = False
    if has_lightning:
        train_loss, val_loss, val_r2 = _lightning_trainer(log, epochs, train, val)
        trainer = "pytorch_lightning"
    else:
        train_loss, val_loss, val_r2 = _lightning_loops(log, epochs, train, val)
        trainer = "torch loops in Lightning's order (pytorch_lightning is not installed)"
    log.metric("final/train_loss", train_loss, epochs)
    log.metric("final/val_loss", val_loss, epochs)
    log.metric("final/val_accuracy", val_r2, epochs)
    return {"epochs_completed": epochs, "training_completed": True, "final_train_loss": train_loss,
            "final_val_loss": val_loss, "final_val_accuracy": val_r2, "trainer": trainer}


def _lightning_loops(log, epochs, train, val):
    """What Trainer.fit does for this module: per epoch, the training steps, then the validation loop, then the
    epoch-end logging of the means."""
    on = device()
    net, loss_fn = regression_model().to(on), nn.MSELoss()
    optimizer = torch.optim.Adam(net.parameters(), lr=LEARNING_RATE)
    train_loss = val_loss = val_r2 = float("nan")
    for epoch in range(epochs):
        train_loss = train_epoch(net, loss_fn, optimizer, train, log, epoch)
        net.eval()
        with torch.no_grad():
            predictions = torch.cat([net(bx.to(on)) for bx, _ in val])
            targets = torch.cat([by.to(on) for _, by in val])
            val_loss = float(loss_fn(predictions, targets))
            val_r2 = r2(predictions, targets)
        log.metric("train/epoch_loss", train_loss, epoch)
        log.metric("val/loss", val_loss, epoch)
        log.metric("val/accuracy_r2", val_r2, epoch)
    return train_loss, val_loss, val_r2


def _lightning_trainer(log, epochs, train, val):
    import pytorch_lightning as pl

    class Regression(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.net, self.loss_fn = regression_model(), nn.MSELoss()
            self.train_losses, self.val_outputs, self.history = [], [], (float("nan"),) * 3

        def training_step(self, batch, index):
            loss = self.loss_fn(self.net(batch[0]), batch[1])
            self.train_losses.append(loss.item())
            if index % 10 == 0:
                log.metric("train/batch_loss", loss.item(), self.current_epoch * len(train) + index)
            return loss

        def validation_step(self, batch, index):
            self.val_outputs.append((self.net(batch[0]), batch[1]))

        def on_validation_epoch_end(self):
            if self.trainer.sanity_checking:
                self.val_outputs.clear()
                return
            predictions = torch.cat([p for p, _ in self.val_outputs])
            targets = torch.cat([t for _, t in self.val_outputs])
            self.val_outputs.clear()
            train_loss = sum(self.train_losses) / max(len(self.train_losses), 1)
            self.train_losses.clear()
            val_loss, val_r2 = float(self.loss_fn(predictions, targets)), r2(predictions, targets)
            log.metric("train/epoch_loss", train_loss, self.current_epoch)
            log.metric("val/loss", val_loss, self.current_epoch)
            log.metric("val/accuracy_r2", val_r2, self.current_epoch)
            self.history = (train_loss, val_loss, val_r2)

        def configure_optimizers(self):
            return torch.optim.Adam(self.parameters(), lr=LEARNING_RATE)

    module = Regression()
    trainer = pl.Trainer(max_epochs=epochs, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         num_sanity_val_steps=0, deterministic=True, accelerator="cpu" if device().type == "cpu" else "auto")
    trainer.fit(module, train, val)
    return module.history


class SimpleCNN(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(64, 128, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d((4, 4)))
        self.classifier = nn.Sequential(nn.Dropout(0.5), nn.Linear(128 * 4 * 4, 256), nn.ReLU(), nn.Dropout(0.5), nn.Linear(256, num_classes))

    def forward(self, x):
        return self.classifier(self.features(x).flatten(1))


def synthetic_images(samples, size=32, classes=10):
    torch.manual_seed(42)
    return torch.randn(samples, 3, size, size), torch.randint(0, classes, (samples,))


def computer_vision(log, epochs):
    on = device()
    train, val = loader(*synthetic_images(800), shuffle=True), loader(*synthetic_images(200), shuffle=False)
    torch.manual_seed(42)
    model = SimpleCNN().to(on)
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=5, gamma=0.5)
    criterion = nn.CrossEntropyLoss()
    log.run.log_params({"model": "SimpleCNN", "learning_rate": LEARNING_RATE, "batch_size": BATCH_SIZE, "epochs": epochs,
                        "num_classes": 10, "optimizer": "Adam", "scheduler": "StepLR", "train_samples": 800,
                        "val_samples": 200, "input_size": "32x32x3"})
    results = {"train_losses": [], "train_accuracies": [], "val_losses": [], "val_accuracies": [], "epochs_completed": 0, "best_val_accuracy": 0.0}
    for epoch in range(epochs):
        model.train()
        total, correct, seen = 0.0, 0, 0
        for index, (images, labels) in enumerate(train):
            images, labels = images.to(on), labels.to(on)
            optimizer.zero_grad()
            output = model(images)
            loss = criterion(output, labels)
            loss.backward()
            optimizer.step()
            total += loss.item()
            correct += int((output.argmax(dim=1) == labels).sum())
            seen += labels.numel()
            if index % 10 == 0:
                step = epoch * len(train) + index
                log.metric("train/batch_loss", loss.item(), step)
                log.metric("train/batch_accuracy", 100.0 * correct / seen, step)
        model.eval()
        val_total, val_correct, val_seen = 0.0, 0, 0
        with torch.no_grad():
            for images, labels in val:
                images, labels = images.to(on), labels.to(on)
                output = model(images)
                val_total += criterion(output, labels).item()
                val_correct += int((output.argmax(dim=1) == labels).sum())
                val_seen += labels.numel()
        train_loss, train_accuracy = total / len(train), 100.0 * correct / seen
        val_loss, val_accuracy = val_total / len(val), 100.0 * val_correct / val_seen
        for key, value in (("train_losses", train_loss), ("train_accuracies", train_accuracy), ("val_losses", val_loss), ("val_accuracies", val_accuracy)):
            results[key].append(value)
        results["best_val_accuracy"] = max(results["best_val_accuracy"], val_accuracy)
        log.metric("train/epoch_loss", train_loss, epoch)
        log.metric("train/epoch_accuracy", train_accuracy, epoch)
        log.metric("val/epoch_loss", val_loss, epoch)
        log.metric("val/epoch_accuracy", val_accuracy, epoch)
        log.metric("train/learning_rate", optimizer.param_groups[0]["lr"], epoch)
        log.metric("val/best_accuracy", results["best_val_accuracy"], epoch)
        scheduler.step()
        results["epochs_completed"] = epoch + 1
    done = results["epochs_completed"]
    log.metric("final/best_val_accuracy", results["best_val_accuracy"], done)
    log.metric("final/final_train_loss", results["train_losses"][-1], done)
    log.metric("final/final_val_loss", results["val_losses"][-1], done)
    return results


class LSTMPredictor(nn.Module):
    def __init__(self, hidden_size=64, num_layers=2):
        super().__init__()
        self.lstm = nn.LSTM(1, hidden_size, num_layers, batch_first=True, dropout=0.2)
        self.fc = nn.Sequential(nn.Linear(hidden_size, 32), nn.ReLU(), nn.Dropout(0.2), nn.Linear(32, 1))

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.fc(out[:, -1, :])


def sine_waves(length, count):
    """Noisy sine waves of random frequency, phase and amplitude: the first length-1 points predict the last."""
    torch.manual_seed(42)
    t = torch.linspace(0, 4 * math.pi, length)
    freq = 0.5 + torch.rand(count, 1) * 2.0
    phase = torch.rand(count, 1) * 2 * math.pi
    amplitude = 0.5 + torch.rand(count, 1) * 1.5
    signal = amplitude * torch.sin(freq * t + phase) + 0.1 * torch.randn(count, length)
    return signal[:, :-1].unsqueeze(-1), signal[:, -1:]


def time_series(log, epochs):
    on = device()
    train, val = loader(*sine_waves(50, 800), shuffle=True), loader(*sine_waves(50, 200), shuffle=False)
    torch.manual_seed(42)
    model = LSTMPredictor().to(on)
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, patience=3, factor=0.5)
    criterion = nn.MSELoss()
    log.run.log_params({"model": "LSTMPredictor", "hidden_size": 64, "num_layers": 2, "learning_rate": LEARNING_RATE,
                        "batch_size": BATCH_SIZE, "epochs": epochs, "sequence_length": 49, "optimizer": "Adam",
                        "scheduler": "ReduceLROnPlateau"})
    results = {"train_losses": [], "val_losses": [], "train_maes": [], "val_maes": [], "epochs_completed": 0, "best_val_mae": float("inf")}
    for epoch in range(epochs):
        model.train()
        total, total_mae = 0.0, 0.0
        for index, (series, targets) in enumerate(train):
            series, targets = series.to(on), targets.to(on)
            optimizer.zero_grad()
            outputs = model(series)
            loss = criterion(outputs, targets)
            loss.backward()
            optimizer.step()
            total += loss.item()
            total_mae += float(torch.mean(torch.abs(outputs - targets)))
            if index % 10 == 0:
                log.metric("train/batch_loss", loss.item(), epoch * len(train) + index)
        model.eval()
        val_total, val_mae = 0.0, 0.0
        with torch.no_grad():
            for series, targets in val:
                series, targets = series.to(on), targets.to(on)
                outputs = model(series)
                val_total += criterion(outputs, targets).item()
                val_mae += float(torch.mean(torch.abs(outputs - targets)))
        train_loss, train_mae = total / len(train), total_mae / len(train)
        val_loss, val_mae = val_total / len(val), val_mae / len(val)
        for key, value in (("train_losses", train_loss), ("train_maes", train_mae), ("val_losses", val_loss), ("val_maes", val_mae)):
            results[key].append(value)
        results["best_val_mae"] = min(results["best_val_mae"], val_mae)
        log.metric("train/epoch_loss", train_loss, epoch)
        log.metric("train/epoch_mae", train_mae, epoch)
        log.metric("val/epoch_loss", val_loss, epoch)
        log.metric("val/epoch_mae", val_mae, epoch)
        log.metric("train/learning_rate", optimizer.param_groups[0]["lr"], epoch)
        log.metric("val/best_mae", results["best_val_mae"], epoch)
        scheduler.step(val_loss)
        results["epochs_completed"] = epoch + 1
    done = results["epochs_completed"]
    log.metric("final/best_val_mae", results["best_val_mae"], done)
    log.metric("final/final_train_loss", results["train_losses"][-1], done)
    log.metric("final/final_val_loss", results["val_losses"][-1], done)
    return results


WORKFLOWS = {"simple_pytorch": simple_pytorch, "lightning": lightning, "computer_vision": computer_vision, "time_series": time_series}

# The upstream defaults: computer_vision trains for 8 epochs, the others for 10.
DEFAULT_EPOCHS = {"computer_vision": 8}
