"""Checkpoint round trip, weights_only loading, corrupt/foreign files; ImageNet VGG weights."""

import pickle

import pytest
import torch

from staner_lab.config import FrontEndConfig, StanerConfig, preset
from staner_lab.models import STANER, VGGFrontEnd, VGGWeightsError, load_vgg16_weights
from staner_lab.training.checkpoint import CheckpointError, load_checkpoint, load_model, save_checkpoint


def test_round_trip_gives_identical_outputs_and_config(tmp_path):
    torch.manual_seed(0)
    model = STANER(preset("classroom")).eval()
    path = save_checkpoint(tmp_path / "m.pt", model, extra={"epoch": 3, "note": "x"})
    loaded = load_model(path)
    assert loaded.config == model.config
    peak, regions = model.example_inputs(2)
    with torch.no_grad():
        assert torch.equal(model(peak, regions).P, loaded(peak, regions).P)
    assert load_checkpoint(path)["extra"] == {"epoch": 3, "note": "x"}
    assert not list(tmp_path.glob("*.tmp"))  # atomic write left no temporary file


def test_checkpoint_with_code_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "evil.pt"
    torch.save({"format": "staner-lab/1", "x": Evil()}, path)
    with pytest.raises(CheckpointError, match="refused for safety"):
        load_checkpoint(path)


def test_corrupt_foreign_and_missing_checkpoints_give_clear_errors(tmp_path):
    model = STANER(preset("classroom"))
    good = save_checkpoint(tmp_path / "good.pt", model)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="truncated.pt.*not a readable"):
        load_model(truncated)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weight": torch.zeros(3)}, foreign)
    with pytest.raises(CheckpointError, match="not a staner-lab checkpoint"):
        load_model(foreign)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(pickle.dumps([1, 2, 3]) + b"garbage")
    with pytest.raises(CheckpointError):
        load_model(junk)
    with pytest.raises(CheckpointError, match="not found"):
        load_model(tmp_path / "nope.pt")


def test_checkpoint_from_another_preset_or_class_list_is_refused(tmp_path):
    path = save_checkpoint(tmp_path / "m.pt", STANER(preset("classroom")))
    with pytest.raises(CheckpointError, match="classes"):
        load_model(path, expect=preset("classroom", class_names=("a", "b")))
    with pytest.raises(CheckpointError, match="'classroom' model"):
        load_model(path, expect=StanerConfig())


def _torchvision_like_vgg16_state(seed=0):
    """A state dict with torchvision vgg16's names and shapes (features + classifier)."""
    g = torch.Generator().manual_seed(seed)
    state, in_ch, idx = {}, 3, 0
    for v in [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]:
        if v == "M":
            idx += 1
            continue
        state[f"features.{idx}.weight"] = torch.randn(v, in_ch, 3, 3, generator=g) * 0.01
        state[f"features.{idx}.bias"] = torch.randn(v, generator=g) * 0.01
        in_ch, idx = v, idx + 2
    state["classifier.0.weight"] = torch.zeros(4, 4)  # shape irrelevant; must be ignored
    return state


def test_imagenet_vgg16_state_dict_loads_and_gray_sum_matches_repeat(tmp_path):
    state = _torchvision_like_vgg16_state()
    path = tmp_path / "vgg16.pth"
    torch.save(state, path)
    cfg = preset("paper").sgaer.frontend
    fe_sum = VGGFrontEnd(cfg).eval()
    loaded = load_vgg16_weights(fe_sum, path)
    assert "features.21.weight" in loaded and len(loaded) == 20
    torch.testing.assert_close(fe_sum.features[21].weight, state["features.21.weight"])
    import dataclasses
    fe_rep = VGGFrontEnd(dataclasses.replace(cfg, grayscale="repeat")).eval()
    load_vgg16_weights(fe_rep, path)
    x = torch.rand(1, 1, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(fe_sum(x), fe_rep(x), atol=1e-5, rtol=1e-4)


def test_vgg_weights_missing_or_mismatched_give_the_fix(tmp_path):
    fe = VGGFrontEnd(preset("paper").sgaer.frontend)
    with pytest.raises(VGGWeightsError, match="never downloads"):
        load_vgg16_weights(fe, tmp_path / "absent.pth")
    path = tmp_path / "vgg16.pth"
    torch.save(_torchvision_like_vgg16_state(), path)
    with pytest.raises(VGGWeightsError, match="width=1.0"):
        load_vgg16_weights(VGGFrontEnd(FrontEndConfig(width=0.125)), path)
    with pytest.raises(VGGWeightsError, match="no batch norm"):
        load_vgg16_weights(VGGFrontEnd(preset("classroom").sgaer.frontend), path)
    other = tmp_path / "resnet.pth"
    torch.save({"conv1.weight": torch.zeros(1)}, other)
    with pytest.raises(VGGWeightsError, match="torchvision vgg16"):
        load_vgg16_weights(fe, other)


def test_the_compatibility_step_leaves_a_checkpoint_of_todays_code_unchanged(tmp_path):
    """upgrade_config only fills what an old config lacks: today's configs (every preset and variant,
    and options set away from their defaults) load equal and predict the same."""
    import dataclasses
    import json

    from staner_lab.config import TrainConfig, ablation_config, with_settings
    from staner_lab.training.checkpoint import LEGACY_VALUES, read_train_config, upgrade_config

    changed = with_settings(preset("classroom"), {"inputs.stabilise": "false", "sgaer.end_norm": "none",
                                                  "tler.clstm.difference_input": "false"})
    for cfg in (preset("classroom"), preset("paper"), ablation_config(preset("classroom"), "C3"), changed):
        data = json.loads(cfg.to_json())
        assert upgrade_config(data) == data
    torch.manual_seed(0)
    model = STANER(changed).eval()
    save_checkpoint(tmp_path / "today.pt", model)
    loaded = load_model(tmp_path / "today.pt")
    assert loaded.config == changed
    peak, regions = model.example_inputs(batch_size=2)
    with torch.no_grad():
        torch.testing.assert_close(loaded(peak, regions).P, model(peak, regions).P, rtol=0, atol=0)
    train = dataclasses.replace(TrainConfig(), grad_clip=2.0)
    assert read_train_config(train.to_json()) == train
    # a field the checkpoint lacks gets the value it was trained with, not today's default
    old = json.loads(changed.to_json())
    del old["sgaer"]["end_norm"], old["inputs"]["stabilise"]
    upgraded = StanerConfig.from_dict(upgrade_config(old))
    assert upgraded.sgaer.end_norm == LEGACY_VALUES["sgaer"]["end_norm"] != preset("classroom").sgaer.end_norm
    assert upgraded.inputs.stabilise is False


def test_a_retired_field_loads_when_it_holds_the_value_still_built_and_is_refused_otherwise(tmp_path):
    import json

    from staner_lab.training.checkpoint import upgrade_config

    old = json.loads(preset("classroom").to_json())
    old["sgaer"]["frontend"]["in_channels"] = 1  # written before FrontEndConfig.in_channels was retired
    assert StanerConfig.from_dict(upgrade_config(old)) == preset("classroom")
    torch.manual_seed(0)
    model = STANER(preset("classroom")).eval()
    payload = {"format": "staner-lab/1", "config": json.dumps(old), "model": model.state_dict(), "extra": {}}
    torch.save(payload, tmp_path / "old.pt")
    assert load_model(tmp_path / "old.pt").config == preset("classroom")
    old["sgaer"]["frontend"]["in_channels"] = 3
    payload["config"] = json.dumps(old)
    torch.save(payload, tmp_path / "rgb.pt")
    with pytest.raises(CheckpointError, match="sgaer.frontend.in_channels is no longer an option"):
        load_checkpoint(tmp_path / "rgb.pt")
    old["sgaer"]["frontend"]["in_channels"] = 1
    old["tler"]["clstm"]["frame_input"] = False  # TLER on motion alone, retired (docs/training.md)
    payload["config"] = json.dumps(old)
    torch.save(payload, tmp_path / "motion_alone.pt")
    with pytest.raises(CheckpointError, match="tler.clstm.frame_input is no longer an option"):
        load_checkpoint(tmp_path / "motion_alone.pt")
    old["tler"]["clstm"]["frame_input"] = True
    assert StanerConfig.from_dict(upgrade_config(old)) == preset("classroom")


@pytest.mark.parametrize("field, kept, refused", [("optimizer", "adam", "sgd"), ("clip", "global", "per_branch")])
def test_a_run_written_with_a_retired_training_field_resumes_and_another_value_is_refused(field, kept, refused):
    import json

    from staner_lab.config import TrainConfig
    from staner_lab.training.checkpoint import read_train_config

    old = json.loads(TrainConfig().to_json())
    old[field] = kept  # written before TrainConfig.<field> was retired
    assert read_train_config(json.dumps(old)) == TrainConfig()
    old[field] = refused
    with pytest.raises(ValueError, match=f"train.{field} is no longer an option"):
        read_train_config(json.dumps(old))


def test_a_checkpoint_with_a_retired_value_is_refused_with_the_reason(tmp_path):
    import json

    old = json.loads(preset("classroom").to_json())
    old["sgaer"]["end_norm"] = "pooled"
    torch.save({"format": "staner-lab/1", "config": json.dumps(old), "model": {}, "extra": {}}, tmp_path / "p.pt")
    with pytest.raises(CheckpointError, match=r"sgaer.end_norm='pooled' is no longer built .*retrain"):
        load_checkpoint(tmp_path / "p.pt")
