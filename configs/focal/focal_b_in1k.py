# Focal-B on ImageNet-1k: the Focal-T recipe with C=128, heads (4, 8, 16, 32) and drop path 0.5
# (official configs/focal_base_patch4_window7_224.yaml; the README trains it with 8 x 64 images
# and 2 accumulation steps, i.e. the same 1024 effective batch).
_base_ = './focal_t_in1k.py'
model = dict(backbone=dict(arch='base', drop_path_rate=0.5), head=dict(in_channels=1024))
