"""Errors the generator raises for bad input: each names what was wrong."""


class CamStudyError(Exception):
    """Base class: a message meant for the person running the command."""


class ModelLoadError(CamStudyError):
    """The model, its weights or its checkpoint could not be loaded."""


class TargetLayerError(CamStudyError):
    """The target layer does not exist or is not a 4-D feature map."""


class CamInputError(CamStudyError):
    """Images or targets handed to the CAM engine are malformed."""
