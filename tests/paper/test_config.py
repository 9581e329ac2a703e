import dataclasses
import re

import pytest

from staner_lab.config import VARIANTS, PreprocessConfig, StanerConfig, TrainConfig, ablation_config, preset


@pytest.mark.parametrize("name", ["paper", "classroom"])
def test_presets_round_trip_through_json(name):
    cfg = preset(name)
    assert StanerConfig.from_json(cfg.to_json()) == cfg
    for variant in VARIANTS:
        v = ablation_config(cfg, variant)
        assert StanerConfig.from_json(v.to_json()) == v
    assert TrainConfig.from_json(TrainConfig().to_json()) == TrainConfig()
    assert PreprocessConfig.from_json(PreprocessConfig().to_json()) == PreprocessConfig()


def test_paper_defaults_of_training():
    t = TrainConfig()
    assert (t.epochs, t.batch_size, t.lr, t.lr_drop_epoch, t.lr_after) == (150, 64, 1e-4, 100, 1e-5)
    assert preset("paper").alpha == 0.5


def test_a_shorter_run_drops_the_learning_rate_at_two_thirds_of_it():
    paper = TrainConfig()  # 150 epochs, drop at 100
    assert paper.with_epochs(150) == paper
    assert paper.with_epochs(120).lr_drop_epoch == 100  # the run goes past the drop: it stays
    assert (paper.with_epochs(40).epochs, paper.with_epochs(40).lr_drop_epoch) == (40, 26)
    assert paper.with_epochs(100).lr_drop_epoch == 66 and paper.with_epochs(1).lr_drop_epoch == 1
    assert TrainConfig(lr_drop_epoch=30).with_epochs(40).lr_drop_epoch == 30  # a drop set by hand stays


def test_bad_configs_name_the_field():
    with pytest.raises(ValueError, match="unknown field"):
        StanerConfig.from_dict({"colour": 1})
    with pytest.raises(ValueError, match="sgaer.attention.kind"):
        d = preset("classroom").to_dict()
        d["sgaer"]["attention"]["kind"] = "global"
        StanerConfig.from_dict(d)
    with pytest.raises(ValueError, match="alpha"):
        dataclasses.replace(preset("classroom"), alpha=1.5)
    with pytest.raises(ValueError, match="unknown preset"):
        preset("huge")
    with pytest.raises(ValueError, match="unknown variant"):
        ablation_config(preset("classroom"), "C9")


@pytest.mark.parametrize("face_size", [8, 24, 100])
def test_a_face_size_the_front_end_cannot_halve_three_times_is_refused_where_the_config_is_built(face_size):
    from staner_lab.models.staner import STANER

    classroom = preset("classroom")
    inputs = dataclasses.replace(classroom.inputs, face_size=face_size)
    with pytest.raises(ValueError, match=rf"inputs.face_size {face_size}: .* multiple of 8 of at least 32"):
        dataclasses.replace(classroom, inputs=inputs)
    d = classroom.to_dict()
    d["inputs"]["face_size"] = face_size
    with pytest.raises(ValueError, match=rf"inputs.face_size {face_size}"):  # a config read from JSON too
        StanerConfig.from_dict(d)
    # TLER alone (C2) never sees the face: any size goes; 96 is fine for SGAER and its M has 12 x 12 cells
    assert dataclasses.replace(ablation_config(classroom, "C2"), inputs=inputs).inputs.face_size == face_size
    model = STANER(dataclasses.replace(classroom, inputs=dataclasses.replace(classroom.inputs, face_size=96)))
    assert model.sgaer.forward_intermediates(model.example_inputs(batch_size=1)[0]).M.shape[-2:] == (12, 12)


@pytest.mark.parametrize("field, value, words", [
    ("epochs", 0, "TrainConfig.epochs (--epochs) must be a whole number of at least 1, got 0"),
    ("batch_size", 0, "TrainConfig.batch_size (--batch-size) must be a whole number of at least 1, got 0"),
    ("lr", -1.0, "TrainConfig.lr (--lr) must be above 0, got -1.0"),
    ("lr_after", 0.0, "TrainConfig.lr_after (--set train.lr_after) must be above 0"),
    ("lr_drop_epoch", -1, "TrainConfig.lr_drop_epoch (--set train.lr_drop_epoch) must be at least 0"),
    ("weight_decay", -0.1, "TrainConfig.weight_decay (--set train.weight_decay) must be at least 0"),
    ("grad_clip", 0.0, "TrainConfig.grad_clip (--set train.grad_clip) must be above 0, or null"),
    ("select_fraction", 1.0, "TrainConfig.select_fraction (--set train.select_fraction) must be in [0, 1)"),
    ("label_smoothing", -0.1, "TrainConfig.label_smoothing (--set train.label_smoothing) must be in [0, 1)"),
    ("select_alpha", True, ("TrainConfig.select_alpha (--set train.select_alpha) must be false unless "
                            "train.select_fraction is above 0")),
])
def test_each_training_number_is_checked_where_the_config_is_built(field, value, words):
    from staner_lab.config import TrainConfig

    with pytest.raises(ValueError) as err:
        TrainConfig(**{field: value})
    assert str(err.value).startswith(words)
    with pytest.raises(ValueError):  # the JSON round trip builds through the same check
        TrainConfig.from_dict({**TrainConfig().to_dict(), field: value})


@pytest.mark.parametrize("flags, words", [
    (["--epochs", "-3"], "TrainConfig.epochs (--epochs)"),
    (["--epochs", "0"], "TrainConfig.epochs (--epochs)"),
    (["--batch-size", "0"], "TrainConfig.batch_size (--batch-size)"),
    (["--lr", "-1"], "TrainConfig.lr (--lr)"),
])
def test_bad_training_numbers_on_the_command_line_name_the_flag(tmp_path, capsys, flags, words):
    from staner_lab.cli import main
    from staner_lab.data.shipped import shipped_data_dir

    out = tmp_path / "run"
    assert main(["train", "--data", str(shipped_data_dir()), "--out", str(out), "--no-progress", *flags]) == 2
    assert words in capsys.readouterr().err
    assert not (out / "last.pt").exists()


def test_set_reaches_any_field_and_checks_it_like_json():
    from staner_lab.config import TrainConfig, preset, with_settings

    cfg = with_settings(preset("classroom"), {"sgaer.attention.normalise": "softmax", "tler.clstm.cnn_channels": "[4,8,16]",
                                               "sgaer.dropout": "0.4", "inputs.frames": "12"})
    assert (cfg.sgaer.attention.normalise, cfg.tler.clstm.cnn_channels) == ("softmax", (4, 8, 16))
    assert (cfg.sgaer.dropout, cfg.inputs.frames) == (0.4, 12)
    assert with_settings(TrainConfig(), {"grad_clip": "null", "weight_decay": "0"}).grad_clip is None
    for settings, words in [
        ({"sgaer.frontend.with": "2"}, "sgaer.frontend has no field 'with' (its fields: batch_norm,"),
        ({"sgaer.attention.normalise": "xx"}, "'xx' is not one of ('sigmoid', 'softmax')"),
        ({"sgaer.dropout": "abc"}, "StanerConfig.sgaer.dropout': expected float, got 'abc'"),
        ({"tler.clstm.cnn_channels": "[1.5]"}, "expected int, got 1.5"),
        ({"alpha": "2"}, "StanerConfig.alpha (--set alpha) must be in [0, 1], got 2.0"),
    ]:
        with pytest.raises(ValueError) as err:
            with_settings(preset("classroom"), settings)
        assert words in str(err.value)
    with pytest.raises(ValueError, match="TrainConfig.epochs"):
        with_settings(TrainConfig(), {"epochs": "0"})


def test_set_on_the_command_line_reaches_the_trained_model(tmp_path, capsys):
    from staner_lab.cli import main
    from staner_lab.data.shipped import shipped_data_dir
    from staner_lab.training.checkpoint import load_checkpoint

    run = tmp_path / "run"
    common = ["train", "--data", str(shipped_data_dir()), "--no-progress", "--epochs", "1"]
    assert main([*common, "--out", str(run), "--set", "sgaer.attention.normalise=softmax",
                 "--set", "train.weight_decay=0"]) == 0
    saved = load_checkpoint(run / "model.pt")
    assert saved["config"].sgaer.attention.normalise == "softmax"
    assert TrainConfig.from_json(saved["extra"]["train_config"]).weight_decay == 0
    assert main([*common, "--out", str(tmp_path / "bad"), "--set", "sgaer.attention.normalise"]) == 2
    assert "give FIELD=VALUE" in capsys.readouterr().err
    assert main([*common, "--out", str(tmp_path / "bad"), "--set", "train.epochs=0"]) == 2
    assert "TrainConfig.epochs" in capsys.readouterr().err


@pytest.mark.parametrize("settings, words", [
    ({"inputs.frames": "0"}, "InputConfig.frames (--set inputs.frames) must be a whole number of at least 1, got 0"),
    ({"inputs.region_sizes.nose": "[0, 32]"}, ("InputConfig.region_sizes (--set inputs.region_sizes) must be "
                                              "(height, width) of at least 1 pixel for every region")),
    ({"sgaer.frontend.width": "0"}, "FrontEndConfig.width (--set sgaer.frontend.width) must be in (0, 4], got 0.0"),
    ({"sgaer.attention.hidden_channels": "0"}, ("AttentionConfig.hidden_channels (--set "
                                               "sgaer.attention.hidden_channels) must be at least 1")),
    ({"sgaer.attention.residual": "-1"}, ("AttentionConfig.residual (--set sgaer.attention.residual) must be at "
                                         "least 0")),
    ({"sgaer.end_channels": "0"}, "SGAERConfig.end_channels (--set sgaer.end_channels) must be at least 1"),
    ({"sgaer.dropout": "1"}, "SGAERConfig.dropout (--set sgaer.dropout) must be in [0, 1), got 1.0"),
    ({"tler.clstm.cnn_channels": "[]"}, ("CLSTMConfig.cnn_channels (--set tler.clstm.cnn_channels) must be one or "
                                        "more channel counts")),
    ({"tler.clstm.hidden_size": "0"}, "CLSTMConfig.hidden_size (--set tler.clstm.hidden_size) must be at least 1"),
    ({"tler.end_channels": "0"}, "TLERConfig.end_channels (--set tler.end_channels) must be at least 1"),
    ({"tler.end_kernel": "0"}, "TLERConfig.end_kernel (--set tler.end_kernel) must be at least 1"),
    ({"tler.dropout": "-0.1"}, "TLERConfig.dropout (--set tler.dropout) must be in [0, 1)"),
])
def test_each_model_field_is_checked_where_the_config_is_built(settings, words):
    from staner_lab.config import with_settings

    with pytest.raises(ValueError) as err:
        with_settings(preset("classroom"), settings)
    assert words in str(err.value)


@pytest.mark.parametrize("field, value, words", [
    ("redetect_every", -1, "PreprocessConfig.redetect_every (--set prep.redetect_every) must be at least 0"),
    ("upscale_below", -5, "PreprocessConfig.upscale_below (--set prep.upscale_below) must be at least 0 pixels"),
    ("region_margin", 2.0, "PreprocessConfig.region_margin (--set prep.region_margin) must be in [0, 1]"),
])
def test_each_preprocessing_field_is_checked(field, value, words):
    from staner_lab.config import PreprocessConfig

    with pytest.raises(ValueError, match=re.escape(words)):
        PreprocessConfig(**{field: value})


@pytest.mark.parametrize("name, kwargs, words", [
    ("SGAERConfig", {"end_norm": "pooled"},
     "SGAERConfig.end_norm (--set sgaer.end_norm) must be one of ('none', 'conv'), got 'pooled'"),
    ("CLSTMConfig", {"input_norm": "fixed"},
     "CLSTMConfig.input_norm (--set tler.clstm.input_norm) must be one of ('none', 'frame'), got 'fixed'"),
    ("TrainConfig", {"class_balance": "oversample"},
     "TrainConfig.class_balance (--set train.class_balance) must be one of ('none', 'sampler', 'loss')"),
])
def test_a_value_outside_a_fields_choices_is_refused_in_python_too(name, kwargs, words):
    """Built in Python (not through JSON or --set), a retired or mistyped value is refused, not run as another."""
    from staner_lab import config

    with pytest.raises(ValueError, match=re.escape(words)):
        getattr(config, name)(**kwargs)


def test_configs_with_settings_sets_each_section_and_refuses_what_a_script_cannot_use():
    """The benchmarks' --set: model, train. and prep. fields reach their configs; run. and executor.
    fields are refused by name instead of dropped."""
    from staner_lab.config import configs_with_settings, train_preset

    model, train, prep = configs_with_settings(
        ["alpha=0.3", "tler.clstm.batch_norm=false", "train.grad_clip=null", "prep.landmarks=given"]
    )
    assert (model.alpha, model.tler.clstm.batch_norm) == (0.3, False)
    assert train.grad_clip is None and train.lr == train_preset("classroom").lr
    assert prep.landmarks == "given" and model.preset == "classroom"
    assert configs_with_settings([], "paper")[0] == preset("paper")
    with pytest.raises(ValueError, match=r"run\.amp=false.*no run options or executor"):
        configs_with_settings(["run.amp=false"])
    with pytest.raises(ValueError, match="train.nonsense"):
        configs_with_settings(["train.nonsense=1"])
