"""Stimulus generator: blinded Grad-CAM vs HiResCAM A/B pairs (imports torch, never flask).

engine/      the CNN to explain (torchvision or a checkpoint, its head, its target layer)
             and the class activation maps
inputs/      images and labels, preprocessing, the demo scenes and demo CNN, `camstudy train`
rendering/   `camstudy generate`: the run, overlays, layout-free PNGs, sides and opaque
             names, manifest.json, pairs.csv, gallery.html, S3
evaluation/  `camstudy evaluate`: faithfulness, localization and shape tables
cli.py       the subcommands; settings.py: study.toml's generator sections; errors.py
cams.py, models.py: the CAM engine's public face (``from generator.cams import compute_cams``)

The public functions below load lazily: ``import generator`` loads neither torch nor any
submodule.
"""

from camstudy.lazy import lazy_exports

# name -> "module:attribute"
_PUBLIC = {
    "generate": "generator.rendering.pipeline:generate",
    "summary_text": "generator.cli:summary_text",
    "train_demo_model": "generator.inputs.train:train_demo_model",
    "demo_model_usable": "generator.inputs.train:demo_model_usable",
    "demo_config_path": "generator.settings:demo_config_path",
    "CamStudyError": "generator.errors:CamStudyError",
}
__all__ = list(_PUBLIC)

__getattr__, __dir__ = lazy_exports(__name__, _PUBLIC, globals())
