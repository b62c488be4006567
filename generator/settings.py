"""study.toml, the generator's sections: [study], [model], [images], [pairs], [render], [output], [evaluation].

Each section is declared once, here, as a frozen pydantic model (``camstudy.schema``):
the key's type, default, bounds and meaning. ``load`` checks the whole file
(``camstudy.studyfile``: unknown sections, every package's keys, contradictions) before
the generator reads its own sections, so a misspelt ``[pair]`` stops ``generate``
instead of silently rendering the defaults. Imports only the standard library and
pydantic: ``camstudy check`` reads these declarations without loading torch.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import model_validator

from camstudy.schema import Bool, Float, Int, Section, Str, key
from generator.errors import CamStudyError


class ConfigError(CamStudyError):
    """study.toml is missing, malformed or holds a value the generator cannot use."""


class StudySection(Section):
    id: Str = key("study", "study id: the name of the study in the manifest, the database and exports",
                  expected="a study id of letters, digits, '-', '_' and '.'",
                  min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.\-]+$")


class ModelSection(Section):
    arch: Str = key("", 'torchvision architecture name (e.g. "resnet34") or "demo_cnn"; "": the checkpoint\'s')
    weights: Str = key("", 'checkpoint path (relative to study.toml), "DEFAULT" or another torchvision '
                       'weights name; "": random weights')
    num_classes: Int = key(0, "output classes; 0: the architecture's or the checkpoint's own", ge=0)
    head: Literal["", "gap", "flatten"] = key(
        "", 'classifier head: "gap" (global average pooling) or "flatten"; "": the checkpoint\'s, else "gap"')
    target_layer: Str = key("", 'module path of the explained feature map (e.g. "layer4"); "": the one feeding the head')
    class_names: list[Str] = key(meaning="names of the model's outputs; []: the checkpoint's, the weights' "
                                 "or the images' own", factory=list)
    probability: Literal["", "softmax", "sigmoid"] = key(
        "", '"softmax", or "sigmoid" for multi-label models; "": the checkpoint\'s, else "softmax"')
    device: Str = key("auto", '"auto" (CUDA when present), "cpu", "cuda", "cuda:1", ...', min_length=1)
    batch_size: Int = key(16, "images per forward/backward pass", ge=1)


class ImagesSection(Section):
    source: Literal["demo", "folder", "voc"] = key(
        "demo", '"demo" (synthetic scenes), "folder" (images + CSV) or "voc" (PASCAL VOC)')
    folder: Str = key("", 'folder of images (source = "folder"; relative to study.toml)')
    csv: Str = key("", 'CSV with header image,class (source = "folder")')
    voc_root: Str = key("", 'PASCAL VOC root, the folder holding VOCdevkit/ (source = "voc")')
    voc_year: Str = key("2012", 'VOC year (source = "voc")')
    voc_set: Str = key("val", 'VOC image set (source = "voc")')
    voc_annotations: Literal["segmentation", "detection"] = key(
        "segmentation", 'which VOC annotations give the classes (source = "voc")')
    demo_count: Int = key(120, 'synthetic scenes (source = "demo")', ge=1)
    demo_seed: Int = key(1000, 'seed of the synthetic scenes (source = "demo")')
    demo_size: Int = key(128, 'pixels a side of a synthetic scene (source = "demo")', ge=8)
    min_size: Int = key(32, "images whose shorter side is smaller are skipped", ge=0)
    resize: Int = key(256, "shorter side before the centre crop; 0: no resize", ge=0)
    crop: Int = key(224, "pixels a side of the centre crop the model sees", ge=8)
    mean: list[Float] = key(meaning="per-channel normalisation mean (ImageNet's by default)",
                            factory=lambda: [0.485, 0.456, 0.406], min_length=3, max_length=3)
    std: list[Float] = key(meaning="per-channel normalisation standard deviation (ImageNet's by default)",
                           factory=lambda: [0.229, 0.224, 0.225], min_length=3, max_length=3)

    @model_validator(mode="after")
    def _source_needs(self) -> "ImagesSection":
        """source = "folder" needs folder and csv; source = "voc" needs voc_root; crop may not be
        larger than resize (unless resize = 0)."""
        if self.source == "folder" and not (self.folder and self.csv):
            raise ValueError("source = \"folder\" needs folder = \"...\" and csv = \"...\"")
        if self.source == "voc" and not self.voc_root:
            raise ValueError("source = \"voc\" needs voc_root = \"...\"")
        if self.resize and self.crop > self.resize:
            raise ValueError(f"crop = {self.crop} is larger than resize = {self.resize}: the centre crop "
                             "would reach outside the resized image (raise resize, or set resize = 0)")
        return self


class PairsSection(Section):
    classes: Literal["ground_truth", "top_k", "list"] = key(
        "ground_truth", 'which class each pair explains: "ground_truth", "top_k" (the model\'s top '
        'predictions) or "list" (class_list)')
    top_k: Int = key(1, 'predictions explained per image (classes = "top_k")', ge=1)
    class_list: list[Str] = key(meaning='class names to explain (classes = "list")', factory=list)
    n: Int = key(0, "pairs to render, stratified by class; 0: every candidate", ge=0)
    seed: Int = key(0, "seed of the sampling, the sides, the file names and the attention checks")
    attention_checks: Int = key(2, "attention-check pairs to render (a known right answer)", ge=0)
    methods: list[Str] = key(meaning="the two methods compared", factory=lambda: ["gradcam", "hirescam"])
    min_map_difference: Float = key(0.05, "least RMS distance between a pair's two normalised maps for it to be "
                                    "shown; closer pairs are void (listed in the manifest, replaced)", ge=0, le=1)

    @model_validator(mode="after")
    def _consistent(self) -> "PairsSection":
        """methods are two different methods; classes = "list" needs class_list; class_list or top_k
        written for another classes setting (they would be ignored)."""
        if len(self.methods) != 2 or len(set(self.methods)) != 2:
            raise ValueError(f"methods = {self.methods}; expected two different methods")
        if self.classes == "list" and not self.class_list:
            raise ValueError('classes = "list" needs class_list = ["name", ...]')
        if self.class_list and self.classes != "list":
            raise ValueError(f'class_list is set but classes = "{self.classes}" ignores it '
                             '(set classes = "list", or remove class_list)')
        if self.written("top_k") and self.classes != "top_k":
            raise ValueError(f'top_k = {self.top_k} is set but classes = "{self.classes}" ignores it '
                             '(set classes = "top_k", or remove top_k)')
        return self


class RenderSection(Section):
    colormap: Str = key("jet", "colormap of the heat maps")
    alpha: Float = key(0.5, "opacity of the heat map over the image", ge=0, le=1)
    format: Literal["png", "jpeg"] = key("png", "file format of the original images (the A and B sides are always "
                                                  "layout-free PNGs: docs/generator.md)")
    jpeg_quality: Int = key(95, 'JPEG quality of the originals (format = "jpeg")', ge=1, le=100)
    png_compression: Int = key(1, "PNG zlib level of the originals: 1 is fast, 9 is smallest", ge=0, le=9)
    composite: Bool = key(False, "also write one side-by-side image per pair (for the researcher)")
    show_original: Bool = key(True, "also write the plain image for each pair (shown beside A and B)")
    display_size: Int = key(0, "pixels a side shown to participants; 0: the model's crop size", ge=0)

    @model_validator(mode="after")
    def _consistent(self) -> "RenderSection":
        """jpeg_quality written with format = "png", png_compression with format = "jpeg" (ignored)."""
        if self.written("jpeg_quality") and self.format != "jpeg":
            raise ValueError(f'jpeg_quality = {self.jpeg_quality} is set but format = "{self.format}" ignores it')
        if self.written("png_compression") and self.format != "png":
            raise ValueError(f'png_compression = {self.png_compression} is set but format = "{self.format}" '
                             "ignores it")
        return self


class OutputSection(Section):
    dir: Str = key("study", "the study directory (relative to study.toml) or s3://bucket/prefix", min_length=1)
    url_mode: Literal["presigned", "public"] = key(
        "presigned", "how participants reach S3 stimuli: presigned URLs or a public bucket")
    public_base_url: Str = key("", 'base URL of a public bucket (url_mode = "public")')
    s3_endpoint_url: Str = key("", "an S3-compatible endpoint (other stores, tests)")


class EvaluationSection(Section):
    evaluate: Bool = key(False, "also write the objective tables (docs/evaluation.md) during generate")
    thresholds: list[Float] = key(meaning="IoU thresholds of the localization table",
                                  expected="a list of numbers between 0 and 1",
                                  factory=lambda: [0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8], min_length=1)
    segmentation_threshold: Float = key(0.5, "map level that bounds the mIoU region", gt=0, lt=1)
    linear_head: Str = key("", "module path of the linear head on the flattened map; \"\": detect")

    @model_validator(mode="after")
    def _thresholds_inside(self) -> "EvaluationSection":
        """every threshold lies strictly between 0 and 1."""
        if not all(0 < t < 1 for t in self.thresholds):
            raise ValueError(f"thresholds = {self.thresholds}; expected numbers between 0 and 1")
        return self


SECTIONS: dict[str, type[Section]] = {
    "study": StudySection, "model": ModelSection, "images": ImagesSection,
    "pairs": PairsSection, "render": RenderSection, "output": OutputSection,
    "evaluation": EvaluationSection,
}


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


def parse(text: str, path: Path) -> GeneratorConfig:
    """The generator's sections of ``text``, after the whole file passed ``camstudy.studyfile``."""
    from camstudy import studyfile  # it collects this module's declarations

    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    problems = studyfile.problems(doc, str(path))
    if problems:
        raise ConfigError("\n".join(problems))
    sections = {name: cls.model_validate(doc.get(name, {})) for name, cls in SECTIONS.items()}
    return GeneratorConfig(path=path.resolve(), text=text, **sections)


def load(path: str | Path) -> GeneratorConfig:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"study config not found: {path}")
    return parse(path.read_text(encoding="utf-8"), path)


def demo_config_path() -> Path:
    """The built-in demo study (generator/demo_study.toml; `--demo`, `camstudy demo`)."""
    return Path(__file__).with_name("demo_study.toml")
