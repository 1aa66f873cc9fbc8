import pytest

from hand3d_ros.training.configs import NETWORKS, SCHEDULES, Augment, Schedule, get_config


def test_paper_schedules_match_design():
    seg = SCHEDULES["handsegnet"]["paper"].schedule
    assert (seg.steps, seg.batch_size, seg.lr, seg.boundaries) == (40000, 8, (1e-5, 1e-6, 1e-7), (20000, 30000))
    pose = SCHEDULES["posenet"]["paper"]
    assert (pose.schedule.steps, pose.schedule.lr, pose.schedule.boundaries) == (30000, (1e-4, 1e-5, 1e-6),
                                                                                 (10000, 20000))
    assert pose.augment.contrast == (0.5, 1.0) and pose.augment.crop_center_noise > 0
    assert pose.augment.keypoint_noise_px > 0
    prior = SCHEDULES["poseprior"]["paper"].augment
    assert prior.keypoint_noise_px > 0 and prior.map_scale[0] < prior.map_scale[1] and prior.map_translate > 0


def test_every_network_has_the_cli_schedules():
    for network in NETWORKS:
        assert {"paper", "cpu-quick", "cpu-long", "test"} <= set(SCHEDULES[network])


def test_lr_at_phases():
    s = Schedule(100, 8, (1.0, 0.1, 0.01), (10, 50))
    assert [s.lr_at(i) for i in (0, 9, 10, 49, 50, 99)] == [1.0, 1.0, 0.1, 0.1, 0.01, 0.01]


def test_steps_override_rescales_boundaries():
    cfg = get_config("posenet", "paper", seed=3, steps=3000)
    assert cfg.schedule.steps == 3000 and cfg.schedule.boundaries == (1000, 2000) and cfg.seed == 3
    assert get_config("posenet", "paper", batch_size=None).schedule.batch_size == 8


@pytest.mark.parametrize("kwargs", [dict(lr=(1e-3,), boundaries=(10,)), dict(boundaries=(5, 3), lr=(1, 1, 1)),
                                    dict(steps=0)])
def test_bad_schedules_raise(kwargs):
    with pytest.raises(ValueError):
        Schedule(**kwargs)


def test_bad_names_and_augment_raise():
    with pytest.raises(ValueError, match="unknown network"):
        get_config("nope", "paper")
    with pytest.raises(ValueError, match="unknown schedule"):
        get_config("posenet", "nope")
    with pytest.raises(ValueError):
        Augment(contrast=(1.0, 0.5))


def test_augment_override_replaces_only_the_named_fields():
    base = get_config("posenet", "real-finetune")
    cfg = get_config("posenet", "real-finetune", augment={"crop_center_noise": 0.12, "crop_scale_noise": 0.3})
    assert (cfg.augment.crop_center_noise, cfg.augment.crop_scale_noise) == (0.12, 0.3)
    assert cfg.augment.rotation_deg == base.augment.rotation_deg and cfg.augment.hflip == base.augment.hflip
    assert cfg.schedule == base.schedule
    with pytest.raises(ValueError, match="crop_scale_noise"):
        get_config("posenet", "real-finetune", augment={"crop_scale_noise": 0.8})
