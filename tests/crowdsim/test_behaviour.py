"""The response model "sees" the methods through the manifest."""
from __future__ import annotations

import json


def test_response_model_follows_the_manifest(make_study):
    import random

    from crowdsim.behaviour import ResponseModel, StudyView, choose

    study = make_study(n_pairs=4, n_attention=1)
    manifest = json.loads((study / "manifest.json").read_text())
    view, rng = StudyView(manifest), random.Random(0)
    model = ResponseModel({"larger": 1.0, "focused": 0.0}, p_same=0.0, attention_accuracy=1.0)
    for pair in manifest["pairs"]:
        urls = [f"/stimuli/{pair['sides'][s]['sha256'][:32]}.png" for s in "AB"]
        got = choose(model, view, rng, urls, ["larger", "focused"], ["A", "B", "same"])
        if pair["is_attention_check"]:
            assert got == pair["expected"]
        else:
            gradcam = "A" if pair["sides"]["A"]["method"] == "gradcam" else "B"
            assert got["larger"] == gradcam and got["focused"] != gradcam
