"""The core pipeline: image → detection → conditioning → tokens → sampling → refinement → body."""
