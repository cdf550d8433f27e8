# DAT-B++ on ImageNet-1k (official configs/dat_base.yaml): 84.9 top-1; per-GPU batch 64.
_base_ = ['./_base_/dat_in1k.py']
model = dict(backbone=dict(arch='base', drop_path_rate=0.7), head=dict(in_channels=1024))
train_dataloader = dict(batch_size=64)
