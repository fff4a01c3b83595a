"""Reference implementation of the benchmarked work in pandas, pyarrow, scikit-learn and PyTorch.

`cargo xtask bench` runs this script beside the Rust implementation, alternating runs, and
compares the two. Each subcommand does the same work as one Rust measurement and prints one
JSON object on stdout:

- `train`: trains the MLP classifier or the autoencoder for a number of epochs on
  `train.parquet` of a preprocess stage and times the epochs.
- `score`: scores every row of `train.parquet` with a freshly initialised model.
- `ingest`: reads the KDD Cup 1999 gzip CSV and writes Parquet, with pyarrow or pandas.
- `fraud`: the fraud study of `configs/fraud.toml` end to end, from the raw CSV to test
  metrics for all 12 trials of its sweep.

Every subcommand takes `--threads` (PyTorch intra-op threads) and `--device` (`cpu`, `cuda`
or `cuda:N`), so the same script can measure PyTorch on a GPU.
"""

import argparse
import json
import sys
import time


def parse_widths(text):
    """Parse a comma-separated list of layer widths such as `64,32`."""
    return [int(part) for part in text.split(",") if part]


def import_torch(threads):
    """Import torch and set its intra-op and inter-op thread counts."""
    import torch

    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(threads)
    except RuntimeError:
        # The inter-op pool can only be sized before its first use; keep its size then.
        pass
    return torch


def synchronize(torch, device):
    """Wait for queued GPU work so that a timer reads finished work."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def build_network(torch, kind, features, widths, dropout):
    """Build the MLP (`widths` hidden layers, one logit) or the mirrored autoencoder.

    Layers, activations and initialisation match the Rust networks: ReLU after every layer
    but the last, dropout after each activation, and PyTorch's default uniform
    initialisation with bound 1/sqrt(fan_in), which the Rust side also draws from.
    """
    if kind == "mlp":
        sizes = [features, *widths, 1]
    else:
        sizes = [features, *widths, *reversed(widths[:-1]), features]
    layers = []
    for index in range(len(sizes) - 1):
        layers.append(torch.nn.Linear(sizes[index], sizes[index + 1]))
        if index + 2 < len(sizes):
            layers.append(torch.nn.ReLU())
            if dropout > 0:
                layers.append(torch.nn.Dropout(dropout))
    return torch.nn.Sequential(*layers)


def read_split(path):
    """Read a preprocess split: features as float32, labels as uint8."""
    import numpy as np
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    names = [name for name in table.column_names if name not in ("_row_id", "_label")]
    features = np.column_stack([table[name].to_numpy() for name in names]).astype(np.float32)
    labels = table["_label"].to_numpy().astype(np.uint8)
    return features, labels


def batch_loss(torch, kind, model, x, y, positive_weight):
    """Return the mean weighted BCE with logits (MLP) or the mean squared error."""
    output = model(x)
    if kind == "mlp":
        return torch.nn.functional.binary_cross_entropy_with_logits(
            output, y, pos_weight=positive_weight
        )
    return torch.nn.functional.mse_loss(output, x)


def train_epoch(torch, kind, model, optimizer, x, y, positive_weight, batch, generator):
    """Train one epoch over a fresh permutation and return the summed batch losses.

    The losses are accumulated on the device and read once by the caller, as the Rust side
    does, so no step waits for the device.
    """
    rows = x.shape[0]
    order = torch.randperm(rows, generator=generator).to(x.device)
    total = torch.zeros((), device=x.device)
    for start in range(0, rows, batch):
        index = order[start : start + batch]
        xb = x.index_select(0, index)
        yb = y.index_select(0, index) if kind == "mlp" else None
        loss = batch_loss(torch, kind, model, xb, yb, positive_weight)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += loss.detach() * index.shape[0]
    return total


def command_train(args):
    """Time `--epochs` epochs of training and print rows per second."""
    torch = import_torch(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(args.seed)
    features, labels = read_split(f"{args.split_dir}/train.parquet")
    x = torch.from_numpy(features).to(device)
    y = torch.from_numpy(labels.astype("float32")).reshape(-1, 1).to(device)
    positives = int(labels.sum())
    positive_weight = torch.tensor([(len(labels) - positives) / max(positives, 1)], device=device)
    model = build_network(torch, args.model, x.shape[1], parse_widths(args.widths), 0.0)
    model.to(device).train()
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=args.learning_rate, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0
    )
    generator = torch.Generator().manual_seed(args.seed)
    synchronize(torch, device)
    started = time.perf_counter()
    losses = []
    for _ in range(args.epochs):
        total = train_epoch(
            torch, args.model, model, optimizer, x, y, positive_weight, args.batch, generator
        )
        losses.append(float(total) / x.shape[0])
    synchronize(torch, device)
    seconds = time.perf_counter() - started
    result = {
        "seconds": seconds,
        "rows": x.shape[0],
        "features": x.shape[1],
        "epochs": args.epochs,
        "rows_per_second": x.shape[0] * args.epochs / seconds,
        "losses": losses,
    }
    print(json.dumps(result))


def command_score(args):
    """Score every row twice and print the rows per second of the second, timed pass."""
    torch = import_torch(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(args.seed)
    features, _ = read_split(f"{args.split_dir}/train.parquet")
    model = build_network(torch, args.model, features.shape[1], parse_widths(args.widths), 0.0)
    model.to(device).eval()

    def score(rows):
        scores = []
        with torch.inference_mode():
            for start in range(0, rows.shape[0], args.batch):
                x = torch.from_numpy(rows[start : start + args.batch]).to(device)
                output = model(x)
                if args.model == "mlp":
                    batch_scores = torch.sigmoid(output).squeeze(1)
                else:
                    batch_scores = (output - x).square().mean(dim=1)
                scores.append(batch_scores.to("cpu").double().numpy())
        return scores

    score(features)
    synchronize(torch, device)
    started = time.perf_counter()
    scores = score(features)
    synchronize(torch, device)
    seconds = time.perf_counter() - started
    total = sum(float(part.sum()) for part in scores)
    print(
        json.dumps(
            {
                "seconds": seconds,
                "rows": features.shape[0],
                "rows_per_second": features.shape[0] / seconds,
                "score_sum": total,
            }
        )
    )


def command_ingest(args):
    """Read a headerless gzip CSV, add `_row_id` and `_label`, and write zstd Parquet.

    Integer columns become float64 and text stays text, as in the Rust ingest stage, whose
    Parquet table stores every number as Float64.
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    started = time.perf_counter()
    names = args.columns.split(",")
    if args.engine == "pyarrow":
        import pyarrow.csv as pacsv

        table = pacsv.read_csv(
            args.input,
            read_options=pacsv.ReadOptions(column_names=names),
            convert_options=pacsv.ConvertOptions(strings_can_be_null=True),
        )
        label = table[args.label]
        anomaly = pc.not_equal(label, pa.scalar(args.normal))
        columns = [pa.array(range(table.num_rows), pa.uint64()), anomaly.cast(pa.uint8())]
        fields = ["_row_id", "_label"]
        for name in names:
            if name == args.label:
                continue
            column = table[name]
            if pa.types.is_integer(column.type):
                column = column.cast(pa.float64())
            columns.append(column)
            fields.append(name)
        out = pa.table(columns, names=fields)
        pq.write_table(out, args.output, compression="zstd")
        rows = out.num_rows
    else:
        import pandas as pd

        frame = pd.read_csv(args.input, header=None, names=names, compression="gzip")
        anomaly = (frame[args.label] != args.normal).astype("uint8")
        frame = frame.drop(columns=[args.label])
        for name in frame.columns:
            if pd.api.types.is_integer_dtype(frame[name]):
                frame[name] = frame[name].astype("float64")
        frame.insert(0, "_label", anomaly)
        frame.insert(0, "_row_id", range(len(frame)))
        frame["_row_id"] = frame["_row_id"].astype("uint64")
        frame.to_parquet(args.output, engine="pyarrow", compression="zstd", index=False)
        rows = len(frame)
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "rows": rows, "rows_per_second": rows / seconds}))


def fraud_trials():
    """Return the 12 trials of the sweep in `configs/fraud.toml`, in its grid order."""
    trials = []
    for learning_rate in (0.0003, 0.001):
        for hidden in ([32, 16], [64, 32]):
            for positive_weight in ("auto", 1.0):
                trials.append(
                    {
                        "stage": "mlp",
                        "model": "mlp",
                        "learning_rate": learning_rate,
                        "hidden": hidden,
                        "positive_weight": positive_weight,
                        "dropout": 0.1,
                        "weight_decay": 0.0001,
                        "epochs": 40,
                        "batch_size": 128,
                        "patience": 8,
                    }
                )
    for encoder in ([20, 8], [16, 4]):
        for epochs in (30, 60):
            trials.append(
                {
                    "stage": "autoencoder",
                    "model": "autoencoder",
                    "learning_rate": 0.001,
                    "encoder": encoder,
                    "dropout": 0.0,
                    "weight_decay": 0.0,
                    "epochs": epochs,
                    "batch_size": 64,
                    "patience": 10,
                }
            )
    return trials


def best_f1_threshold(labels, scores):
    """Return the score threshold with the highest F1 on these rows (flag `score >= t`)."""
    import numpy as np
    from sklearn.metrics import precision_recall_curve

    precision, recall, thresholds = precision_recall_curve(labels, scores)
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0)
    return float(thresholds[int(np.argmax(f1[:-1]))])


def fraud_trial(torch, trial, data, seed, device):
    """Train one trial with early stopping on validation AP and return its test metrics."""
    import numpy as np
    from sklearn.metrics import average_precision_score, f1_score, precision_score
    from sklearn.metrics import recall_score, roc_auc_score

    started = time.perf_counter()
    torch.manual_seed(seed)
    kind = trial["model"]
    train_x, train_y = data["train"]
    validation_x, validation_y = data["validation"]
    test_x, test_y = data["test"]
    if kind == "autoencoder":
        train_x = train_x[train_y == 0]
        train_y = train_y[train_y == 0]
    widths = trial["hidden"] if kind == "mlp" else trial["encoder"]
    model = build_network(torch, kind, train_x.shape[1], widths, trial["dropout"]).to(device)
    optimizer = torch.optim.AdamW(
        model.parameters(),
        lr=trial["learning_rate"],
        betas=(0.9, 0.999),
        eps=1e-8,
        weight_decay=trial["weight_decay"],
    )
    positives = int(train_y.sum())
    if trial.get("positive_weight") == "auto":
        weight = (len(train_y) - positives) / max(positives, 1)
    else:
        weight = float(trial.get("positive_weight", 1.0))
    positive_weight = torch.tensor([weight], device=device)
    x = torch.from_numpy(train_x).to(device)
    y = torch.from_numpy(train_y.astype(np.float32)).reshape(-1, 1).to(device)
    vx = torch.from_numpy(validation_x).to(device)
    vy = torch.from_numpy(validation_y.astype(np.float32)).reshape(-1, 1).to(device)
    generator = torch.Generator().manual_seed(seed + 2)

    def scores_of(rows):
        model.eval()
        with torch.inference_mode():
            output = model(rows)
            if kind == "mlp":
                scores = torch.sigmoid(output).squeeze(1)
            else:
                scores = (output - rows).square().mean(dim=1)
        model.train()
        return output, scores

    best_ap, best_epoch, best_state = -float("inf"), 0, None
    epochs_run = 0
    for epoch in range(1, trial["epochs"] + 1):
        model.train()
        total = train_epoch(
            torch, kind, model, optimizer, x, y, positive_weight, trial["batch_size"], generator
        )
        train_loss = float(total) / x.shape[0]
        if not np.isfinite(train_loss):
            raise RuntimeError(f"{trial['stage']}: the loss diverged in epoch {epoch}")
        output, scores = scores_of(vx)
        if kind == "mlp":
            with torch.inference_mode():
                torch.nn.functional.binary_cross_entropy_with_logits(
                    output, vy, pos_weight=positive_weight
                ).item()
        validation_scores = scores.to("cpu").double().numpy()
        ap = average_precision_score(validation_y, validation_scores)
        epochs_run = epoch
        if ap > best_ap:
            best_ap, best_epoch = ap, epoch
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        if epoch - best_epoch >= trial["patience"]:
            break
    model.load_state_dict(best_state)

    validation_scores = scores_of(vx)[1].to("cpu").double().numpy()
    test_scores = scores_of(torch.from_numpy(test_x).to(device))[1].to("cpu").double().numpy()
    threshold = best_f1_threshold(validation_y, validation_scores)
    flagged = (test_scores >= threshold).astype(np.uint8)
    metrics = {
        "roc_auc": roc_auc_score(test_y, test_scores),
        "average_precision": average_precision_score(test_y, test_scores),
        "f1": f1_score(test_y, flagged, zero_division=0),
        "precision": precision_score(test_y, flagged, zero_division=0),
        "recall": recall_score(test_y, flagged, zero_division=0),
    }
    params = {k: v for k, v in trial.items() if k not in ("stage", "model")}
    return {
        "stage": trial["stage"],
        "model": kind,
        "params": params,
        "validation_average_precision": best_ap,
        "best_epoch": best_epoch,
        "epochs_run": epochs_run,
        "metrics": metrics,
        "seconds": time.perf_counter() - started,
    }


def command_fraud(args):
    """Run the fraud study end to end and print every trial's test metrics.

    The split assignment (`row_id,split` per raw row) comes from `--splits`, so that both
    implementations train and test on the same rows. Everything else happens here: reading
    the CSV with pandas, dropping `Time`, `log1p` of `Amount`, standard scaling fitted on the
    training rows, training with early stopping, choosing the threshold on validation and
    scoring the test rows.
    """
    started = time.perf_counter()
    import numpy as np
    import pandas as pd
    from sklearn.preprocessing import StandardScaler

    torch = import_torch(args.threads)
    device = torch.device(args.device)
    frame = pd.read_csv(args.csv)
    splits = pd.read_csv(args.splits)
    frame = frame.drop(columns=["Time"])
    frame["Amount"] = np.log1p(frame["Amount"])
    labels = frame.pop("Class").to_numpy().astype(np.uint8)
    values = frame.to_numpy(dtype=np.float64)
    parts = {}
    for name in ("train", "validation", "test"):
        rows = splits.loc[splits["split"] == name, "row_id"].to_numpy()
        parts[name] = (values[rows], labels[rows])
    scaler = StandardScaler().fit(parts["train"][0])
    data = {
        name: (scaler.transform(x).astype(np.float32), y) for name, (x, y) in parts.items()
    }
    trials = [
        fraud_trial(torch, trial, data, args.seed, device) for trial in fraud_trials()
    ]
    result = {"seconds": time.perf_counter() - started, "trials": trials}
    print(json.dumps(result))


def main():
    """Parse the command line and run one subcommand."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    def common(command):
        command.add_argument("--threads", type=int, default=2, help="PyTorch threads")
        command.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
        command.add_argument("--seed", type=int, default=42)

    train = sub.add_parser("train", help="time training epochs")
    common(train)
    train.add_argument("--split-dir", required=True, help="preprocess stage directory")
    train.add_argument("--model", choices=["mlp", "autoencoder"], required=True)
    train.add_argument("--widths", required=True, help="hidden (MLP) or encoder widths")
    train.add_argument("--batch", type=int, default=256, help="rows per minibatch")
    train.add_argument("--epochs", type=int, default=2)
    train.add_argument("--learning-rate", type=float, default=0.001)

    score = sub.add_parser("score", help="time scoring every row")
    common(score)
    score.add_argument("--split-dir", required=True, help="preprocess stage directory")
    score.add_argument("--model", choices=["mlp", "autoencoder"], required=True)
    score.add_argument("--widths", required=True, help="hidden (MLP) or encoder widths")
    score.add_argument("--batch", type=int, default=8192, help="rows scored at once")

    ingest = sub.add_parser("ingest", help="time CSV to Parquet")
    ingest.add_argument("--engine", choices=["pyarrow", "pandas"], required=True)
    ingest.add_argument("--input", required=True, help="headerless CSV, gzip or plain")
    ingest.add_argument("--output", required=True, help="Parquet file to write")
    ingest.add_argument("--columns", required=True, help="comma-separated column names")
    ingest.add_argument("--label", required=True, help="label column")
    ingest.add_argument("--normal", required=True, help="label value of normal rows")

    fraud = sub.add_parser("fraud", help="run the fraud study end to end")
    common(fraud)
    fraud.add_argument("--csv", required=True, help="creditcard_sample.csv")
    fraud.add_argument("--splits", required=True, help="CSV of row_id,split")

    args = parser.parse_args()
    handlers = {
        "train": command_train,
        "score": command_score,
        "ingest": command_ingest,
        "fraud": command_fraud,
    }
    handlers[args.command](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
