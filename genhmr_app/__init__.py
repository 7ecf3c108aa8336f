"""GenHMR Studio: generative human mesh recovery from photos, videos and webcams."""

__version__ = "0.1.0"
