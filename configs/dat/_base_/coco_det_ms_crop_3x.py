# The box-only COCO recipe (RetinaNet) with the 3x schedule.
_base_ = './coco_det_ms_crop.py'
max_epochs = 36
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = {{_base_._param_scheduler_3x}}
