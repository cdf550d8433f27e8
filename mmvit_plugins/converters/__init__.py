"""Official-checkpoint converters, one module per family.

Each family module offers ``classifier_cfg(official_kwargs) -> dict`` (an mmpretrain
``ImageClassifier`` config) and ``convert(official_state_dict) -> dict`` (its state dict).
"""
