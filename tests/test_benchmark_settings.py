"""The benchmarks that take ``--set`` name a bad setting and its fix as ``staner-lab`` does: a usage
error (exit 2), not a traceback."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("script", ["attention_localisation.py", "branch_learning.py", "leave_uniform.py"])
def test_a_bad_setting_is_a_usage_error_that_names_the_field(script):
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), "--data", "data_samples/synthetic_ckplus",
                          "--set", "sgaer.no_such_field=1"], check=False, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 2
    assert "Traceback" not in run.stderr
    assert f"{script}: error: --set sgaer.no_such_field" in run.stderr
    assert "its fields:" in run.stderr  # the fix: the fields there are
