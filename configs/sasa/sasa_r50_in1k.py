# SASA-ResNet-50, conv stem + attention in all four stages, ImageNet-1k with the paper's recipe.
_base_ = ['./_base_/models/sasa_r50.py', './_base_/schedules/sasa_in1k_130e.py']
