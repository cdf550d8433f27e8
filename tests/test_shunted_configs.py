"""Every Shunted config builds and runs a loss pass on a tiny input; the toy config trains and
tests end to end through tools/train.py and tools/test.py."""
import os.path as osp

import pytest
import torch
from utils import (REPO, config_loss_pass, family_configs, load_family_config,
                   toy_train_and_test)

CONFIGS = family_configs('shunted')
TOY = osp.join(REPO, 'configs', 'shunted', 'toy', 'segformer_shunted_toy_ade20k.py')


@pytest.mark.parametrize('path', CONFIGS, ids=[osp.basename(p)[:-3] for p in CONFIGS])
def test_config_loss_pass(path):
    cfg = load_family_config(path, 'ShuntedTransformer')
    backbone = cfg.model.backbone
    name = osp.basename(path)
    if 'toy' not in path:
        arch = name.split('shunted_')[1][0]
        assert backbone.arch == arch
        if 'in1k' not in name:  # dense configs load converted ImageNet weights
            assert backbone.init_cfg.type == 'Pretrained'
            assert f'shunted_{arch}_backbone' in backbone.init_cfg.checkpoint
    # Shunted-S/B differ from -T only in depth and stem (covered by test_shunted.py); their
    # dense configs run the loss pass with the T backbone to keep the suite fast on 2 cores.
    options = None
    if 'toy' not in path and 'in1k' not in name:
        options = {'model.backbone.arch': 't'}
    # UperNet's 1x1 pyramid pooling has BatchNorm: it needs two images in training mode
    batch = 2 if 'upernet' in name else 1
    log_vars = config_loss_pass(path, hw=(64, 64), batch=batch, cfg_options=options)
    assert log_vars and all(torch.isfinite(torch.as_tensor(v)) for v in log_vars.values())


def test_toy_config_trains_end_to_end(tmp_path):
    toy_train_and_test(TOY, tmp_path, 'iter_8.pth',
                       ['backbone.stages.3.blocks.0.attn.kv.weight'],
                       ['mIoU', 'aAcc'])