"""The pinned installs: constraints.txt, scripts/setup and environment.yml agree, and this environment
holds the pinned versions (on the Python and platform the pins were taken on)."""

import re
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]


def _pins():
    lines = [line for line in (ROOT / "constraints.txt").read_text().splitlines() if line and not line.startswith("#")]
    return [Requirement(line) for line in lines]


def test_constraints_setup_and_environment_agree():
    pins = _pins()
    names = [canonicalize_name(p.name) for p in pins]
    assert len(names) == len(set(names)) and len(pins) > 50
    assert "torch" not in names and "staner-lab" not in names  # scripts/setup installs torch itself, per build
    assert all(str(p.specifier).startswith("==") for p in pins)
    markers = {str(p.marker) for p in pins}
    assert len(markers) == 1
    lock_python = re.search(r'python_version == "([\d.]+)"', markers.pop()).group(1)
    env = (ROOT / "environment.yml").read_text()
    setup = (ROOT / "scripts" / "setup").read_text()
    assert f"python={lock_python}" in env and "-c constraints.txt" in env
    torch_version = re.search(r"^TORCH_VERSION=(\S+)", setup, re.MULTILINE).group(1)
    assert f"torch=={torch_version}+cpu" in env
    extras = set(re.search(r"-e \.\[([\w,]+)\]", env).group(1).split(","))
    assert extras == {"dev", "notebooks", "teaching", "cluster"}
    assert set(",".join(re.findall(r'-e "\.\[([\w,]+)\]"', setup)).split(",")) == extras


def test_this_environment_holds_the_pinned_versions():
    pins = _pins()
    if not pins[0].marker.evaluate():
        pytest.skip(f"the pins are for {pins[0].marker}, not this interpreter")
    pinned = {canonicalize_name(p.name): str(p.specifier)[2:] for p in pins}
    wrong = {}
    for dist in metadata.distributions():
        name = canonicalize_name(dist.metadata["Name"])
        if name in pinned and dist.version != pinned[name]:
            wrong[name] = (dist.version, pinned[name])
    assert not wrong, f"installed != constraints.txt {wrong}: rerun scripts/setup, or refresh with scripts/setup --lock"
    # every dependency of this package, extras included, is pinned (torch excepted)
    needed = {canonicalize_name(Requirement(r).name) for r in metadata.requires("staner-lab") or []}
    assert needed - {"torch"} <= set(pinned), sorted(needed - {"torch"} - set(pinned))
    assert any("ray" in r and 'extra == "cluster"' in r for r in metadata.requires("staner-lab"))
