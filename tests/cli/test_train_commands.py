"""The training block of the README, run as written on a synthetic workspace, and what the
commands refuse."""

from __future__ import annotations

import csv
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import onnx
import pytest
import torch
from typer.testing import CliRunner

from synsetlab.cli.app import app
from synsetlab.train import load_checkpoint
from synsetlab.versions import load_version
from synsetlab.workspace import open_workspace
from tests.cli.test_readme import code_blocks
from tests.tiny_version import picture

runner = CliRunner(env={"COLUMNS": "200"})
#: A quarter-width model at 32 px, so that each command takes seconds.
SMALL = "--set 'model_kwargs={channels: [8, 16, 32, 64], stem_width: 8}' --set data.image_size=32"


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each run takes OMP_NUM_THREADS for its torch threads: one, beside the other tests."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


def run(line: str, *, code: int = 0) -> str:
    result = runner.invoke(app, shlex.split(line, comments=True)[1:])
    assert result.exit_code == code, f"{line}\n{result.output}"
    return result.output


@pytest.fixture(scope="module")
def version(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("train-cli")
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("SYNSETLAB_WORKSPACE", raising=False)
        mp.chdir(root)
        run("synsetlab init ws")
        mp.chdir(root / "ws")
        run("synsetlab synthetic generate shapes --per-class 10")
        run("synsetlab ingest manifest shapes/manifest.csv --workers 0")
        # Images without a label, for `pretrain --use-unlabelled`: files directly under an
        # imagefolder root.
        (root / "ws" / "loose").mkdir()
        for i in range(12):
            (root / "ws" / "loose" / f"{i}.jpg").write_bytes(picture(i % 3, seed=500 + i))
        run("synsetlab ingest imagefolder loose --workers 0")
        run("synsetlab split --val-per-class 2 --test-per-class 2")
        run("synsetlab version freeze --name v1")
    return root / "ws"


def test_the_training_block_runs_as_written(version: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(version)
    torch.set_num_threads(1)
    lines = [line for line in code_blocks("## Training")[0] if line.startswith("synsetlab ")]
    outputs = []
    for line in lines:
        if line.startswith("synsetlab train"):
            line = line.split("#")[0] + " " + SMALL + " --batch-size 16"
        outputs.append(run(line))
    assert "best val top-1 error" in outputs[0]
    run_dir = version / "runs" / "tiny-cpu-v1"
    records = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2, 3]
    assert {"train_loss", "val_top1_error", "val_top5_error"} <= records[0].keys()
    assert (run_dir / "curves.png").stat().st_size > 10_000
    assert any((run_dir / "tensorboard").iterdir())
    assert "stopped at the step budget: 1 epochs, 5 steps" in outputs[1]  # 4 steps an epoch
    resumed = load_checkpoint(version / "runs" / "b" / "last.pt")
    assert (resumed["epoch"], resumed["global_step"]) == (40, 40 * 4)  # tiny-cpu: 40 epochs

    evaluation = json.loads((run_dir / "eval-v1-val-flip" / "metrics.json").read_text())
    # 20 val entries, 19 contents: the generator plants one byte-identical pair, counted once.
    assert evaluation["n_images"] == 19 and 0 <= evaluation["top1_error"] <= 1
    assert (evaluation["tta"], evaluation["version"], evaluation["weights"]) == (
        "flip",
        "v1",
        "model",
    )
    assert evaluation["checkpoint"] == "runs/tiny-cpu-v1/best.pt"
    assert (run_dir / "eval-v1-val-flip" / "confusion.png").exists()
    plain = json.loads((run_dir / "eval-v1-val" / "metrics.json").read_text())  # no TTA
    assert plain["tta"] == "none" and plain["version_id"] == evaluation["version_id"]
    assert "top-5 error" in outputs[3]

    with (version / "top5.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert {r["rank"] for r in rows} == {"1", "2", "3", "4", "5"}
    assert rows[0]["wnid"].startswith("n") and 0 < float(rows[0]["probability"]) <= 1

    with (version / "submission.csv").open() as f:
        submission = list(csv.reader(f))
    assert submission[0] == ["ImageId", "PredictionString"]
    assert len(submission) == 1 + 20 and all(len(r[1].split()) == 5 for r in submission[1:])

    meta = {p.key: p.value for p in onnx.load(version / "model.onnx").metadata_props}
    assert len(json.loads(meta["classes"])) == 10

    assert "ensemble" in outputs[8] and "runs/b/best.pt" in outputs[8]
    robustness = json.loads((run_dir / "eval-v1-val" / "robustness.json").read_text())
    assert set(robustness) == {"pgd", "corruptions"}
    assert "mean corruption error" in outputs[9]

    ssl = [
        json.loads(x) for x in (version / "runs" / "ssl" / "metrics.jsonl").read_text().splitlines()
    ]
    assert len(ssl) == 2 and all(r["train_loss"] > 0 for r in ssl)
    ws = open_workspace(version)
    splits = load_version(ws, "v1").manifest.splits
    ws.close()
    pooled = splits["train"] + splits["val"] + 12  # the 12 loose images
    assert f"{pooled} images of train, val, the unlabelled pool" in outputs[10]
    tuned = load_checkpoint(version / "runs" / "ssl-ft" / "last.pt")
    assert tuned["config"]["pretrained"] == "runs/ssl/last.pt" and tuned["epoch"] == 2

    probe = load_checkpoint(version / "runs" / "finetune-resnet10t-v1" / "last.pt")
    assert probe["config"]["finetune"] == "linear" and probe["epoch"] == 2
    assert probe["config"]["model_kwargs"]["channels"] == [8, 16, 32, 64]  # the source's


def test_bad_input_gets_a_clear_error(version: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(version)
    out = run("synsetlab train v9 --recipe tiny-cpu", code=1)
    assert "no version 'v9'" in out
    out = run("synsetlab train v1 --recipe nope", code=1)
    assert "no recipe 'nope'; shipped recipes: resnet18-sgd, resnet50-a3, tiny-cpu" in out
    out = run("synsetlab train v1 --recipe tiny-cpu --set optim.lr=-1", code=1)
    assert "optim.lr: Input should be greater than 0" in out
    corrupt = version / "corrupt.pt"
    corrupt.write_bytes(b"not a checkpoint")
    out = run(f"synsetlab train v1 --recipe tiny-cpu --resume {corrupt}", code=1)
    assert "cannot be read as a checkpoint" in out and "corrupt, truncated or not a" in out
    out = run(f"synsetlab evaluate {corrupt} v1", code=1)
    assert "cannot be read" in out and "weights_only" not in out  # not torch's advice
    out = run("synsetlab evaluate runs/tiny-cpu-v1 v1", code=1)
    assert "is a folder, not a checkpoint file; did you mean runs/tiny-cpu-v1/best.pt?" in out
    out = run("synsetlab train v1 --recipe tiny-cpu --resume runs/tiny-cpu-v1", code=1)
    assert "is a folder, not a checkpoint file; did you mean runs/tiny-cpu-v1/last.pt?" in out
    out = run("synsetlab evaluate runs/ssl/last.pt v1", code=1)
    assert "self-supervised backbone" in out and "finetune VERSION --from" in out
    out = run("synsetlab evaluate runs/tiny-cpu-v1/best.pt v1 --split test", code=1)
    assert "labels are hidden" in out
    out = run("synsetlab predict runs/tiny-cpu-v1/best.pt nowhere/", code=1)
    assert "nowhere does not exist" in out
    out = run("synsetlab evaluate runs/tiny-cpu-v1/best.pt v1 --device gpu", code=1)
    assert "unknown device 'gpu': use auto, cpu, cuda or cuda:N" in out
    if not torch.cuda.is_available():
        out = run("synsetlab evaluate runs/tiny-cpu-v1/best.pt v1 --device cuda", code=1)
        assert "CUDA is not available here; use --device cpu or auto" in out

    # predict: the count is of what was written; undecodable files are left out, named.
    out = run("synsetlab predict runs/tiny-cpu-v1/best.pt shapes/images --out top.csv")
    with Path("top.csv").open() as f:
        paths = {row["path"] for row in csv.DictReader(f)}
    assert f"wrote predictions of {len(paths)} images to top.csv" in out
    assert "could not be decoded and are left out" in out  # the planted corrupt files
    Path("notes.txt").write_text("not an image")
    out = run("synsetlab predict runs/tiny-cpu-v1/best.pt notes.txt --out n.csv", code=1)
    assert "none of the 1 file(s) could be decoded" in out and not Path("n.csv").exists()
    out = run("synsetlab predict runs/tiny-cpu-v1/best.pt shapes/images --out runs", code=1)
    assert "runs is a folder: give the path of the file to write" in out
    out = run("synsetlab submission runs/tiny-cpu-v1/best.pt v1 runs", code=1)
    assert "runs is a folder: give the path of the file to write" in out

    out = run(
        "synsetlab finetune v1 --from runs/tiny-cpu-v1/best.pt --mode linear --layer-decay 0.75",
        code=1,
    )
    assert "trains the classifier alone: drop it, or fine-tune fully" in out

    # A step budget that ends before the first epoch: no best.pt yet, and it is not listed.
    out = run(f"synsetlab train v1 --recipe tiny-cpu --out runs/short --max-steps 1 {SMALL}")
    assert "checkpoints: runs/short/last.pt (best.pt comes with the first whole epoch)" in out


def test_finetune_resumes_its_own_run(version: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(version)
    source = "runs/tiny-cpu-v1/best.pt"
    run(f"synsetlab finetune v1 --from {source} --mode linear --epochs 2 --max-steps 1 "
        "--out runs/ft --workers 0")  # fmt: skip
    # No --mode, --epochs or folder again: resuming takes the run's own config.
    out = run(f"synsetlab finetune v1 --from {source} --resume runs/ft/last.pt")
    assert "done: 2 epochs" in out
    resumed = load_checkpoint(version / "runs" / "ft" / "last.pt")
    assert resumed["config"]["finetune"] == "linear" and resumed["epoch"] == 2


def test_ctrl_c_saves_a_checkpoint_and_prints_how_to_resume(
    version: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C as a terminal sends it: SIGINT to the whole process group, loader workers
    included, while the first epoch is under way."""
    monkeypatch.chdir(version)
    out = version / "runs" / "sigint"
    # save_every_steps=1: last.pt shows that steps are under way.
    line = (f"synsetlab train v1 --recipe tiny-cpu --out runs/sigint --epochs 300 --workers 2 "
            f"--batch-size 8 --set save_every_steps=1 {SMALL}")  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
    env.pop("SYNSETLAB_WORKSPACE", None)
    process = subprocess.Popen(
        [sys.executable, "-m", *shlex.split(line)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not (out / "last.pt").exists() and process.poll() is None:
            assert time.monotonic() < deadline, "the run did not start"
            time.sleep(0.05)
        assert process.poll() is None, process.communicate()[0]
        os.killpg(process.pid, signal.SIGINT)
        output, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 130, output
    assert "interrupted; resume with: synsetlab train v1 --resume runs/sigint/last.pt" in output
    assert "Traceback" not in output
    saved = load_checkpoint(out / "last.pt")
    assert saved["epoch"] == 0 and saved["global_step"] >= 1  # mid-epoch
    assert saved["epoch_partial"]["loss_steps"] == saved["epoch_step"]
    # The printed command, with a step budget so that it ends soon.
    resumed = run(f"synsetlab train v1 --resume runs/sigint/last.pt --max-steps "
                  f"{saved['global_step'] + 2}")  # fmt: skip
    assert "stopped at the step budget" in resumed
    assert load_checkpoint(out / "last.pt")["global_step"] == saved["global_step"] + 2


def test_ctrl_c_in_pretrain_saves_and_prints_how_to_resume(
    version: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pretrain stops as train does: the step finishes, last.pt is saved, the resume command
    is printed (with the execution options given) and the exit status is 130."""
    monkeypatch.chdir(version)
    out = version / "runs" / "ssl-sigint"
    line = ("synsetlab pretrain v1 --model resnet10t --image-size 32 --epochs 300 "
            "--batch-size 8 --workers 1 --out runs/ssl-sigint")  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
    env.pop("SYNSETLAB_WORKSPACE", None)
    process = subprocess.Popen(
        [sys.executable, "-m", *shlex.split(line)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
        start_new_session=True,
    )  # fmt: skip
    try:
        # The first epoch's record shows that steps are under way.
        deadline = time.monotonic() + 180
        metrics = out / "metrics.jsonl"
        while not (metrics.exists() and metrics.read_text().strip()) and process.poll() is None:
            assert time.monotonic() < deadline, "the run did not start"
            time.sleep(0.05)
        assert process.poll() is None, process.communicate()[0]
        os.killpg(process.pid, signal.SIGINT)
        output, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 130, output
    expected = "interrupted; resume with: synsetlab pretrain v1 --resume runs/ssl-sigint/last.pt"
    assert f"{expected} --workers 1" in output
    assert "Traceback" not in output and "Aborted" not in output
    assert load_checkpoint(out / "last.pt")["global_step"] >= 1
