"""zennit is imported without torchvision until ``zennit.torchvision`` is used."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import sys
import torch
import signxai
from signxai import explain

model = torch.nn.Sequential(torch.nn.Linear(3, 2)).eval()
explain(model, torch.randn(2, 3), "lrp_epsilon_0_1", target_class=0)
assert "torchvision" not in sys.modules, "torchvision imported by signxai"
# torch.testing imports torch.distributed, which scans every module's metadata (inspect.getmodule):
# before, that loaded torchvision in the middle of the import and failed (a circular import)
torch.testing.assert_close(torch.ones(2), torch.ones(2))
assert "torchvision" not in sys.modules, "torchvision imported by a metadata lookup"
import zennit.torchvision

assert zennit.torchvision.ResNetCanonizer.__name__ == "ResNetCanonizer"  # loads on first use
assert "torchvision" in sys.modules
print("ok")
"""


def test_signxai_imports_zennit_without_torchvision_and_tools_can_scan_modules() -> None:
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "ok"
