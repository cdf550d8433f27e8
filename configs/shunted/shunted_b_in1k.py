# Shunted-B on ImageNet-1k: the Shunted-S recipe with drop path 0.3 and gradient clipping at
# norm 1.0 (official shunted_B.py).
_base_ = './shunted_s_in1k.py'
model = dict(backbone=dict(arch='b', drop_path_rate=0.3))
optim_wrapper = dict(clip_grad=dict(max_norm=1.0))
