"""Training on teacher-labelled real photos: mixtures of sources, unknown mask pixels,
confidence-weighted keypoints, mirrored crops with the side swapped, rotation, zoom."""
import itertools
import math

import numpy as np
import pytest
import torch

from hand3d_ros.models import read_weights
from hand3d_ros.training import losses, targets
from hand3d_ros.training.configs import Augment, get_config
from hand3d_ros.training.datasets import (FIELDS, DataError, MixedBatchSampler, MixedDataset, SampleDataset,
                                          make_loader, open_data, parse_sources)
from hand3d_ros.training.loops import train
from hand3d_ros.training.tasks import HandSegNetTask, PoseNetTask

torch.set_num_threads(1)


def test_parse_sources():
    assert parse_sources("a") == [("a", 1.0)]
    assert parse_sources(["a*3", "b*0.5,c"]) == [("a", 3.0), ("b", 0.5), ("c", 1.0)]
    with pytest.raises(DataError, match="must be a number"):
        parse_sources("a*x")


def test_mixture_draws_whole_batches_from_one_source_by_weight_and_resumes(tiny_shards, tiny_shards_b):
    data = MixedDataset([(tiny_shards, 3.0), (tiny_shards_b, 1.0)], FIELDS["posenet"])
    assert len(data) == 28 and data.describe()["mixture"][0]["weight"] == 0.75
    sampler = MixedBatchSampler(data, 4, seed=2)
    batches = list(itertools.islice(iter(sampler), 400))
    sources = [set(int(i >= 16) for i in b) for b in batches]
    assert all(len(s) == 1 for s in sources)  # never mixed within a batch
    share = np.mean([1 in s for s in sources])
    assert 0.18 < share < 0.32  # weight 1 of 4
    resumed = list(itertools.islice(iter(MixedBatchSampler(data, 4, seed=2, start_batch=150)), 50))
    assert resumed == batches[150:200]
    # Each source still goes through all its samples once per epoch.
    first = [i for b in batches for i in b if i < 16][:16]
    assert sorted(first) == list(range(16))
    # Optional fields get their defaults (rendered shards have exact labels).
    assert np.all(data[20]["kp_score"] == 1.0) and data[20]["kp_score"].shape == (21,)
    batch = next(iter(make_loader(data, 4, seed=0, num_workers=0)))
    assert batch["image"].shape[1:] == (128, 128, 3)


def test_open_data_keeps_a_single_source_plain(tiny_shards):
    assert isinstance(open_data([str(tiny_shards)], FIELDS["posenet"]), SampleDataset)
    assert isinstance(open_data(f"{tiny_shards}*2", FIELDS["posenet"]), MixedDataset)


def test_unknown_mask_pixels_are_not_learned():
    mask = torch.tensor([[[0, 1, 2, 255]]], dtype=torch.uint8)
    labels = targets.segmentation_labels(mask)
    assert labels.tolist() == [[[0, 1, 1, targets.IGNORE_LABEL]]]
    logits = torch.randn(1, 2, 1, 4)
    other = logits.clone()
    other[..., 3] = torch.tensor([9.0, -9.0])[:, None]  # change only the unknown pixel
    assert torch.allclose(losses.segmentation_loss(logits, labels), losses.segmentation_loss(other, labels))
    assert not torch.allclose(losses.segmentation_loss(logits, labels),
                              losses.segmentation_loss(logits, torch.tensor([[[0, 1, 1, 1]]])))
    assert float(losses.segmentation_loss(logits, torch.full((1, 1, 4), targets.IGNORE_LABEL))) == 0.0


def test_zoom_out_leaves_an_unlabelled_border_and_zoom_in_none():
    images = torch.ones(8, 3, 40, 40)
    labels = torch.ones(8, 40, 40, dtype=torch.long)
    g = torch.Generator().manual_seed(0)
    _, out = targets.zoom_frames(images, labels, (0.5, 0.5), g)
    share = (out == targets.IGNORE_LABEL).float().mean().item()
    assert 0.7 < share < 0.8  # a frame at half size covers a quarter of the input
    assert set(out.unique().tolist()) == {targets.IGNORE_LABEL, 1}
    img, out = targets.zoom_frames(images, labels, (2.0, 2.0), g)
    assert bool((out == 1).all()) and torch.allclose(img, images)


def test_mosaic_tiles_four_half_size_frames_of_the_batch():
    n, h, w = 6, 40, 60
    images = torch.arange(n, dtype=torch.float32)[:, None, None, None].expand(n, 3, h, w).clone()
    labels = torch.zeros(n, h, w, dtype=torch.long)
    labels[:, 10:30, 20:40] = 1  # one hand per frame, 20 x 20 px
    labels[:, 0, 0] = targets.IGNORE_LABEL
    g = torch.Generator().manual_seed(0)
    out_images, out_labels = targets.mosaic_frames(images, labels, 1.0, g)
    assert out_images.shape == images.shape and out_labels.shape == labels.shape
    for i in range(n):
        # Top-left tile: the frame itself at half size; each tile is one whole frame.
        assert torch.allclose(out_images[i, :, :h // 2, :w // 2], torch.tensor(float(i)))
        for r, c in ((0, 1), (1, 0), (1, 1)):
            tile = out_images[i, :, r * h // 2:(r + 1) * h // 2, c * w // 2:(c + 1) * w // 2]
            source = float(tile[0, 0, 0])
            assert torch.allclose(tile, torch.tensor(source)) and abs(source - round(source)) < 1e-5
        # Four hands of a quarter of the area each; the ignored pixel stays ignored.
        assert int((out_labels[i] == 1).sum()) == 4 * 10 * 10
        assert int(out_labels[i, 0, 0]) == targets.IGNORE_LABEL
    unchanged = targets.mosaic_frames(images, labels, 0.0, g)
    assert unchanged[0] is images and unchanged[1] is labels
    some_images, _ = targets.mosaic_frames(images, labels, 0.5, torch.Generator().manual_seed(1))
    kept = [bool(torch.equal(some_images[i], images[i])) for i in range(n)]
    assert any(kept) and not all(kept)
    with pytest.raises(ValueError, match="mosaic"):
        Augment(mosaic=1.5)


def test_rotated_patch_moves_its_keypoint_with_it():
    size = 32
    patches = torch.zeros(1, 1, size, size)
    u, v = 22.0, 9.0
    patches[0, 0, int(v), int(u)] = 1.0
    uv = torch.tensor([[[u, v]]])
    for degrees in (30.0, -75.0, 180.0):
        out, uv_out = targets.rotate_patches(patches, uv, torch.tensor([math.radians(degrees)]))
        peak = divmod(int(out[0, 0].argmax()), size)
        assert abs(peak[1] - float(uv_out[0, 0, 0])) <= 1.0 and abs(peak[0] - float(uv_out[0, 0, 1])) <= 1.0
    # 90 degrees counter-clockwise on screen (v down) turns +u into -v.
    _, uv_out = targets.rotate_patches(patches, torch.tensor([[[25.5, 15.5]]]), torch.tensor([math.pi / 2]))
    assert torch.allclose(uv_out, torch.tensor([[[15.5, 5.5]]]), atol=1e-4)


def test_confidence_weight_removes_a_keypoints_error():
    target = torch.zeros(2, 21, 4, 4)
    maps = torch.zeros(2, 21, 4, 4)
    maps[0, 3] = 1.0
    weight = torch.ones(2, 21)
    assert float(losses.score_map_loss((maps,), target, 10.0, weight)) > 0
    weight[0, 3] = 0.0
    assert float(losses.score_map_loss((maps,), target, 10.0, weight)) == 0.0


def test_mirrored_crops_swap_the_side_and_keep_anatomical_keypoints(tiny_shards):
    data = SampleDataset(tiny_shards, FIELDS["posenet"])
    batch = next(iter(make_loader(data, 8, seed=0, num_workers=0, shuffle=False)))
    task = PoseNetTask("lite", Augment(hflip=True))
    plain = task.prepare(batch, None)
    flipped = task.prepare(batch, torch.Generator().manual_seed(3))
    swapped = flipped["side"] != plain["side"]
    assert 0 < int(swapped.sum()) < 8
    for i in range(8):
        expect = plain["crops"][i].flip(-1) if swapped[i] else plain["crops"][i]
        assert torch.allclose(flipped["crops"][i], expect)
        # The thumb tip's map is mirrored, not exchanged with the little finger's.
        expect_maps = plain["maps"][i].flip(-1) if swapped[i] else plain["maps"][i]
        assert torch.allclose(flipped["maps"][i], expect_maps, atol=1e-5)
    assert torch.equal(flipped["keypoint_weight"], torch.ones(8, 21))


def test_handsegnet_task_keeps_unknown_pixels_out_of_the_loss(tiny_shards):
    task = HandSegNetTask("lite", Augment(zoom=(0.5, 0.7)))
    data = SampleDataset(tiny_shards, FIELDS["handsegnet"])
    batch = next(iter(make_loader(data, 4, seed=0, num_workers=0)))
    prepared = task.prepare(batch, torch.Generator().manual_seed(1))
    assert bool((prepared["labels"] == targets.IGNORE_LABEL).any())
    assert torch.isfinite(task.loss(prepared))


def test_fine_tuning_on_a_mixture_records_the_history(tiny_shards, tiny_shards_b, tmp_path):
    first = train("posenet", tiny_shards, tmp_path / "a", "lite", get_config("posenet", "test"),
                  num_workers=0, progress=False)
    config = get_config("posenet", "test-real", init_from=str(first.weights))
    second = train("posenet", [f"{tiny_shards}*3", f"{tiny_shards_b}*1"], tmp_path / "b", "lite", config,
                   num_workers=0, progress=False)
    training = read_weights(second.weights)["training"]
    assert len(training["history"]) == 1 and training["history"][0]["steps_done"] == 6
    assert [m["weight"] for m in training["data"]["mixture"]] == [0.75, 0.25]


def test_handsegnet_fine_tunes_at_another_input_size(tiny_shards, tmp_path):
    first = train("handsegnet", tiny_shards, tmp_path / "a", "lite", get_config("handsegnet", "test"),
                  num_workers=0, progress=False)
    assert tuple(read_weights(first.weights)["input_size"]) == (120, 160)
    config = get_config("handsegnet", "test", init_from=str(first.weights))
    bigger = train("handsegnet", tiny_shards, tmp_path / "b", "lite", config, num_workers=0, progress=False,
                   input_size=(64, 96))
    content = read_weights(bigger.weights)
    assert tuple(content["input_size"]) == (64, 96) and content["training"]["history"]


def test_handsegnet_fine_tunes_narrower_from_wider_weights(tiny_shards, tmp_path):
    """--width with --init-from a wider HandSegNet: the channels with the largest batch-norm
    scales carry over; the run and its weights record the width."""
    first = train("handsegnet", tiny_shards, tmp_path / "a", "lite", get_config("handsegnet", "test"),
                  num_workers=0, progress=False)
    config = get_config("handsegnet", "test", init_from=str(first.weights))
    narrow = train("handsegnet", tiny_shards, tmp_path / "b", "lite", config, num_workers=0, progress=False,
                   input_size=(64, 96), width=0.75)
    content = read_weights(narrow.weights)
    assert content["config"]["width"] == 0.75 and tuple(content["input_size"]) == (64, 96)
    assert content["state_dict"]["layers.conv4_1.weight"].shape[:2] == (96, 48)
    assert content["training"]["history"]
    with pytest.raises(Exception, match="width"):  # resuming the folder as another width
        train("handsegnet", tiny_shards, tmp_path / "b", "lite", config, num_workers=0, progress=False,
              input_size=(64, 96), width=0.5)
