# Focal-S on ImageNet-1k: the Focal-T recipe with depths (2, 2, 18, 2) and drop path 0.3
# (official configs/focal_small_patch4_window7_224.yaml).
_base_ = './focal_t_in1k.py'
model = dict(backbone=dict(arch='small', drop_path_rate=0.3))
