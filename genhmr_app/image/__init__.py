"""Image input: robust decoding of user files into RGB arrays (first stage of the data flow)."""

from genhmr_app.image.loading import ImageLoadError, LoadedImage, load_image

__all__ = ["ImageLoadError", "LoadedImage", "load_image"]
