# Shunted-T on ImageNet-1k: the Shunted-S recipe with drop path 0.1 (official shunted_T.py).
_base_ = './shunted_s_in1k.py'
model = dict(backbone=dict(arch='t', drop_path_rate=0.1))
