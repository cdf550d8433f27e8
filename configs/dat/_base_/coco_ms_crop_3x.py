# The COCO recipe with the 3x schedule (same warm-up and augmentation as 1x).
_base_ = './coco_ms_crop.py'
max_epochs = 36
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = {{_base_._param_scheduler_3x}}
