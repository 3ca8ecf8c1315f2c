"""The pipeline's stages: fetch -> preprocess -> train -> evaluate (see dvc.yaml)."""
