# DAT-T++ on ImageNet-1k (official configs/dat_tiny.yaml): 83.9 top-1.
_base_ = ['./_base_/dat_in1k.py']
model = dict(backbone=dict(arch='tiny', drop_path_rate=0.2), head=dict(in_channels=512))
