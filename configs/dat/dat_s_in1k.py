# DAT-S++ on ImageNet-1k (official configs/dat_small.yaml): 84.6 top-1.
_base_ = ['./_base_/dat_in1k.py']
model = dict(backbone=dict(arch='small', drop_path_rate=0.4), head=dict(in_channels=768))
