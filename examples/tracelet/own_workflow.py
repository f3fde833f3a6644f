"""A training workflow of your own that logs through the module's logger (e2e_tracking) into whichever backend
Invoke-TrainingWorkflow gives it, and says its run id in the results file, so Get-TrackedRun can read it back:

    Invoke-TrainingWorkflow -Backend $backend -Workflow ./examples/tracelet/own_workflow.py

It uses torch where the interpreter has it (E2E_TORCH_PYTHON, or -Python) and plain Python otherwise; both fit
w to (1, 2, 3) by gradient descent and log the same metric names.
"""

import json
import os

import e2e_tracking

TARGET = (1.0, 2.0, 3.0)
STEPS = 20
LEARNING_RATE = 0.1


def fit_with_torch(log):
    import torch

    torch.manual_seed(1)
    w = torch.zeros(len(TARGET), requires_grad=True)
    optimizer = torch.optim.SGD([w], lr=LEARNING_RATE)
    for step in range(STEPS):
        loss = ((w - torch.tensor(TARGET)) ** 2).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        log("train/loss", loss.item(), step)
    return "torch"


def fit_by_hand(log):
    w = [0.0] * len(TARGET)
    for step in range(STEPS):
        loss = sum((wi - ti) ** 2 for wi, ti in zip(w, TARGET))
        w = [wi - LEARNING_RATE * 2 * (wi - ti) for wi, ti in zip(w, TARGET)]
        log("train/loss", loss, step)
    return "python"


def main():
    run = e2e_tracking.start_run("own_workflow", tags={"workflow": "own_workflow"})
    try:
        import torch  # noqa: F401
        fit = fit_with_torch
    except ImportError:
        fit = fit_by_hand
    engine = fit(run.log_metric)
    run.finish(0)
    with open(os.environ["E2E_WORKFLOW_RESULTS"], "w", encoding="utf-8") as results:
        json.dump({"run_id": getattr(run, "run_id", None) or run.task_id, "engine": engine}, results)


if __name__ == "__main__":
    main()
