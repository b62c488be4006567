"""The built-in demo scenes and the demo CNN."""
from __future__ import annotations

import numpy as np
import torch

from generator.engine.heads import FlattenHeadNet
from generator.engine.layers import default_target_layer
from generator.engine.models import load_model
from generator.inputs.demo_data import (CENTRE_JITTER, DEMO_CLASSES, MIN_DISTRACTORS, make_scene, scene_layout, scene_rng,
                                        shape_mask)
from generator.inputs.demo_model import build_demo_cnn
from generator.inputs.images import demo_source


def test_same_seed_same_bytes_other_seed_differs():
    a, b = demo_source(n=10, seed=3), demo_source(n=10, seed=3)
    other = demo_source(n=10, seed=4)
    assert [r.classes for r in a.records] == [r.classes for r in b.records]
    for ra, rb, ro in zip(a.records, b.records, other.records):
        assert a.load(ra).tobytes() == b.load(rb).tobytes()
    assert any(a.load(r).tobytes() != other.load(o).tobytes() for r, o in zip(a.records, other.records))


def test_splits_are_different_scenes():
    study, train = make_scene(0, 5, split="study"), make_scene(0, 5, split="train")
    assert study.image.tobytes() != train.image.tobytes()


def test_masks_are_the_drawn_objects_in_their_colours():
    for index in range(30):
        scene = make_scene(0, index)
        for obj, mask in zip(scene.objects, scene.masks):
            assert mask.sum() > 50
            assert (scene.image[mask] == obj.colour).all()
            assert mask.tolist() == shape_mask(obj.class_index, obj.box, 128).tolist()
        if len(scene.masks) > 1:  # objects never overlap, so every one stays visible
            assert sum(m.astype(int) for m in scene.masks).max() == 1


def test_labels_are_exactly_the_classes_with_a_mask():
    source = demo_source(n=40, seed=1)
    assert {len(r.classes) for r in source.records} == {1}  # the object in the middle
    assert len({r.classes for r in source.records}) == len(DEMO_CLASSES)
    for record in source.records:
        image = source.load(record)
        assert image.mode == "RGB" and image.size == (128, 128)
        for k in range(len(DEMO_CLASSES)):
            mask = source.object_mask(record, k)
            assert mask.shape == (128, 128) and mask.dtype == bool
            assert mask.any() == (k in record.classes)


def test_the_label_is_the_object_in_the_middle_and_the_clutter_is_not_labelled():
    for index in range(30):
        scene = make_scene(0, index)
        target, *clutter = scene.objects
        assert target.labelled and not any(o.labelled for o in clutter)
        assert scene.classes == (target.class_index,)
        centre = [(target.box[0] + target.box[2]) / 2, (target.box[1] + target.box[3]) / 2]
        assert all(abs(c - 64) <= 128 * CENTRE_JITTER + 1 for c in centre)
        assert len(clutter) >= MIN_DISTRACTORS and len({o.class_index for o in clutter}) == len(clutter)
        # only the labelled object is its class's mask, even where the clutter repeats its shape
        assert scene.class_mask(target.class_index).tolist() == scene.masks[0].tolist()


def test_the_clutter_says_nothing_about_the_label():
    """The shapes around the middle are drawn independently of its class, so the model
    cannot learn to read them: the label's shape is in the clutter equally often for every class."""
    layouts = [scene_layout(scene_rng(0, i, "train"), 128) for i in range(2000)]
    for k in range(len(DEMO_CLASSES)):
        in_clutter = np.array([any(o.class_index == k for o in objs[1:]) for objs in layouts])
        labelled = np.array([objs[0].class_index == k for objs in layouts])
        assert abs(in_clutter[labelled].mean() - in_clutter[~labelled].mean()) < 0.06


def test_ring_has_a_hole_and_circle_does_not():
    ring = shape_mask(DEMO_CLASSES.index("ring"), (10, 10, 50, 50), 64)
    circle = shape_mask(DEMO_CLASSES.index("circle"), (10, 10, 50, 50), 64)
    assert circle[30, 30] and not ring[30, 30] and ring[30, 11]


def test_demo_cnn_is_a_flatten_head_net_with_a_12x12_map():
    model = build_demo_cnn(num_classes=5, input_size=96)
    assert isinstance(model, FlattenHeadNet) and model.input_size == 96
    assert model.features(torch.zeros(1, 3, 96, 96)).shape[-2:] == (12, 12)
    assert model(torch.zeros(2, 3, 96, 96)).shape == (2, 5)
    assert default_target_layer(model, 96) == "features"
    assert isinstance(load_model("demo_cnn", num_classes=5, input_size=96), FlattenHeadNet)


def test_demo_scenes_are_fast():
    import time

    start = time.perf_counter()
    for i in range(100):
        make_scene(0, i)
    assert time.perf_counter() - start < 2.0  # ~600/s on one free core; generous for shared CI
