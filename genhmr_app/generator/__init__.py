"""The masked pose transformer (GenHMR generator) and its deterministic-regression twin."""
