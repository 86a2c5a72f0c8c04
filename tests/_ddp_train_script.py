"""Run by test_detect_train.py under torch.distributed.run (2 CPU processes, gloo).

Arguments: data root, then optionally batch size, epochs and accumulation steps.
"""

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import torch
import torch.distributed as dist
from _detect_data import TinyBackbone

from hrr import TrainConfig
from hrr.data import scan_dataset
from hrr.detect import Detector, train_detector

root = Path(sys.argv[1])
batch_size, epochs, accumulate = (int(v) for v in (sys.argv[2:] + ["4", "2", "1"][len(sys.argv) - 2:]))
torch.manual_seed(0)
m = Detector(TinyBackbone())
r = train_detector(m, scan_dataset(root / "train"), root / "run", val_samples=scan_dataset(root / "val"),
                   config=TrainConfig(epochs=epochs, batch_size=batch_size, accumulate=accumulate, crop_size=32,
                                      blur_prob=0, jpeg_prob=0, lr=1e-2),
                   progress=False)
w = m.head.weight.detach().clone()
gathered = [torch.zeros_like(w) for _ in range(dist.get_world_size())]
dist.all_gather(gathered, w)
if dist.get_rank() == 0:
    same = all(torch.equal(g, w) for g in gathered)
    failed = sorted(Path(p).name for p, _ in r.failures)
    print(json.dumps({"world": dist.get_world_size(), "same": same, "epochs": r.epochs_run, "failed": failed,
                      "steps": [row["steps"] for row in r.history]}))
dist.barrier()
dist.destroy_process_group()
# Every check above has run. Skip the interpreter's teardown: with torch 2.14 and gloo it sometimes aborts there
# ("terminate called without an active exception", SIGABRT) after destroy_process_group, which would fail the
# launch for reasons outside the code under test.
sys.stdout.flush()
sys.stderr.flush()
os._exit(0)
