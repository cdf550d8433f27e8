# SASA-ResNet-50 "full attention" (attention stem + attention stages), ImageNet-1k with the
# paper's recipe.
_base_ = ['./_base_/models/sasa_r50_full.py', './_base_/schedules/sasa_in1k_130e.py']
