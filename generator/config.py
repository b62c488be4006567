"""study.toml, the generator's sections: [study], [model], [images], [pairs], [render], [output], [evaluation].

Each package owns and validates its own sections; the generator ignores the others
([survey], [assignment], [recruitment], [mturk], [prolific], [analysis]) and rejects
unknown keys in its own with the file, the key and what was expected.
"""
from __future__ import annotations

import dataclasses
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path

from generator.errors import CamStudyError


class ConfigError(CamStudyError):
    """study.toml is missing, malformed or holds a value the generator cannot use."""


@dataclass(frozen=True)
class StudySection:
    id: str = "study"


@dataclass(frozen=True)
class ModelSection:
    arch: str = ""                 # torchvision name or "demo_cnn"; from the checkpoint if empty
    weights: str = ""              # "", "DEFAULT" (or another torchvision weights name), or a path
    num_classes: int = 0           # 0: the architecture's / checkpoint's own
    head: str = ""                 # "gap" or "flatten"; from the checkpoint, else "gap"
    target_layer: str = ""         # "": the feature map that feeds the head
    class_names: list = field(default_factory=list)
    probability: str = ""          # "softmax" or "sigmoid"; from the checkpoint, else softmax
    device: str = "auto"           # auto, cpu, cuda, cuda:1, ...
    batch_size: int = 16


@dataclass(frozen=True)
class ImagesSection:
    source: str = "demo"           # demo, folder, voc
    folder: str = ""
    csv: str = ""
    voc_root: str = ""
    voc_year: str = "2012"
    voc_set: str = "val"
    voc_annotations: str = "segmentation"
    demo_count: int = 120
    demo_seed: int = 1000
    demo_size: int = 128
    min_size: int = 32
    resize: int = 256
    crop: int = 224
    mean: list = field(default_factory=lambda: [0.485, 0.456, 0.406])
    std: list = field(default_factory=lambda: [0.229, 0.224, 0.225])


@dataclass(frozen=True)
class PairsSection:
    classes: str = "ground_truth"  # ground_truth, top_k, list
    top_k: int = 1
    class_list: list = field(default_factory=list)
    n: int = 0                     # pairs to sample, stratified by class; 0 = all
    seed: int = 0
    attention_checks: int = 2
    min_map_difference: float = 0.05  # least RMS distance between a pair's normalised maps to show it
    methods: list = field(default_factory=lambda: ["gradcam", "hirescam"])


@dataclass(frozen=True)
class RenderSection:
    colormap: str = "jet"
    alpha: float = 0.5
    format: str = "png"
    jpeg_quality: int = 95
    png_compression: int = 1       # zlib level 0-9: 1 is fast, 9 is smallest
    composite: bool = False
    show_original: bool = True
    display_size: int = 0          # pixels a side shown to participants; 0 = the model's crop size


@dataclass(frozen=True)
class OutputSection:
    dir: str = "study"             # a directory (relative to study.toml) or s3://bucket/prefix
    url_mode: str = "presigned"    # for S3: presigned or public
    public_base_url: str = ""
    s3_endpoint_url: str = ""      # for S3-compatible stores and tests


@dataclass(frozen=True)
class EvaluationSection:
    evaluate: bool = False         # also write the evaluation tables during `generate`
    thresholds: list = field(default_factory=lambda: [0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8])
    segmentation_threshold: float = 0.5
    linear_head: str = ""          # module path of the linear head on the flattened map; "" = detect


@dataclass(frozen=True)
class GeneratorConfig:
    path: Path
    text: str
    study: StudySection
    model: ModelSection
    images: ImagesSection
    pairs: PairsSection
    render: RenderSection
    output: OutputSection
    evaluation: EvaluationSection = field(default_factory=EvaluationSection)

    def resolve(self, value: str) -> Path:
        """A path from the config, relative to the config file's folder."""
        p = Path(value).expanduser()
        return p if p.is_absolute() else (self.path.parent / p)


SECTIONS = {
    "study": StudySection, "model": ModelSection, "images": ImagesSection,
    "pairs": PairsSection, "render": RenderSection, "output": OutputSection,
    "evaluation": EvaluationSection,
}
CHOICES = {
    ("model", "head"): ("", "gap", "flatten"),
    ("model", "probability"): ("", "softmax", "sigmoid"),
    ("images", "source"): ("demo", "folder", "voc"),
    ("images", "voc_annotations"): ("segmentation", "detection"),
    ("pairs", "classes"): ("ground_truth", "top_k", "list"),
    ("render", "format"): ("png", "jpeg"),
    ("output", "url_mode"): ("presigned", "public"),
}


def _type_name(tp) -> str:
    return getattr(tp, "__name__", str(tp))


def _check_value(path: Path, section: str, key: str, value, expected) -> None:
    origin = typing.get_origin(expected) or expected
    ok = isinstance(value, origin) and not (origin in (int, float) and isinstance(value, bool))
    if origin is float and isinstance(value, int) and not isinstance(value, bool):
        ok = True
    if not ok:
        raise ConfigError(
            f"{path}: [{section}] {key} = {value!r} should be a {_type_name(origin)}, not {type(value).__name__}"
        )
    choices = CHOICES.get((section, key))
    if choices and value not in choices:
        raise ConfigError(f"{path}: [{section}] {key} = {value!r}; expected one of {', '.join(map(repr, choices))}")


def _section(path: Path, name: str, cls, data: dict):
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: [{name}] must be a table")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    for key, value in data.items():
        if key not in known:
            raise ConfigError(
                f"{path}: unknown key {key!r} in [{name}]; expected one of: {', '.join(sorted(known))}"
            )
        _check_value(path, name, key, value, hints[key])
    return cls(**data)


def parse(text: str, path: Path) -> GeneratorConfig:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    sections = {name: _section(path, name, cls, data.get(name, {})) for name, cls in SECTIONS.items()}
    cfg = GeneratorConfig(path=path.resolve(), text=text, **sections)
    _check_semantics(cfg)
    return cfg


def _check_semantics(cfg: GeneratorConfig) -> None:
    p = cfg.path
    if not 0 <= cfg.render.png_compression <= 9:
        raise ConfigError(f"{p}: [render] png_compression = {cfg.render.png_compression}; expected 0 to 9")
    if not 0 <= cfg.render.alpha <= 1:
        raise ConfigError(f"{p}: [render] alpha = {cfg.render.alpha}; expected a number from 0 to 1")
    if len(cfg.pairs.methods) != 2 or len(set(cfg.pairs.methods)) != 2:
        raise ConfigError(f"{p}: [pairs] methods = {cfg.pairs.methods}; expected two different methods")
    if cfg.pairs.classes == "list" and not cfg.pairs.class_list:
        raise ConfigError(f"{p}: [pairs] classes = 'list' needs class_list = [\"name\", ...]")
    if cfg.images.source == "folder" and not (cfg.images.folder and cfg.images.csv):
        raise ConfigError(f"{p}: [images] source = 'folder' needs folder = \"...\" and csv = \"...\"")
    if cfg.images.source == "voc" and not cfg.images.voc_root:
        raise ConfigError(f"{p}: [images] source = 'voc' needs voc_root = \"...\"")
    for key in ("n", "attention_checks", "top_k"):
        if getattr(cfg.pairs, key) < 0:
            raise ConfigError(f"{p}: [pairs] {key} must not be negative")
    e = cfg.evaluation
    if not e.thresholds or not all(isinstance(t, (int, float)) and not isinstance(t, bool) and 0 < t < 1
                                   for t in e.thresholds):
        raise ConfigError(f"{p}: [evaluation] thresholds = {e.thresholds}; expected numbers between 0 and 1")
    if not 0 < e.segmentation_threshold < 1:
        raise ConfigError(f"{p}: [evaluation] segmentation_threshold = {e.segmentation_threshold}; "
                          "expected a number between 0 and 1")
    if cfg.model.batch_size < 1:
        raise ConfigError(f"{p}: [model] batch_size must be at least 1")
    if not cfg.study.id or not all(c.isalnum() or c in "-_." for c in cfg.study.id):
        raise ConfigError(f"{p}: [study] id = {cfg.study.id!r}; use letters, digits, '-', '_' and '.'")


def load(path: str | Path) -> GeneratorConfig:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"study config not found: {path}")
    return parse(path.read_text(encoding="utf-8"), path)


def demo_config_path() -> Path:
    return Path(__file__).with_name("demo_study.toml")
