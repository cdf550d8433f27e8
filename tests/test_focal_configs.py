"""Every Focal config builds and runs a loss pass on a tiny input; the toy config trains and
tests end to end through tools/train.py and tools/test.py."""
import os.path as osp

import pytest
import torch
from utils import (REPO, config_loss_pass, family_configs, load_family_config,
                   toy_train_and_test)

CONFIGS = family_configs('focal')
TOY = osp.join(REPO, 'configs', 'focal', 'toy', 'mask_rcnn_focal_toy_coco.py')
ARCH = {'t': 'tiny', 's': 'small', 'b': 'base'}


@pytest.mark.parametrize('path', CONFIGS, ids=[osp.basename(p)[:-3] for p in CONFIGS])
def test_config_loss_pass(path):
    cfg = load_family_config(path, 'FocalTransformer')
    backbone = cfg.model.backbone
    name = osp.basename(path)
    options = None
    if 'toy' not in path:
        a = name.split('focal_')[1][0]
        assert backbone.arch == ARCH[a]
        assert backbone.focal_levels == (2, 2, 2, 2)  # the released models' setting
        if 'in1k' not in name:  # dense configs load converted ImageNet weights
            assert backbone.init_cfg.type == 'Pretrained'
            assert f'focal_{a}_backbone' in backbone.init_cfg.checkpoint
            # the recipe: AdamW, no weight decay on norms and the focal bias tables
            ow = cfg.optim_wrapper
            assert ow.optimizer.type == 'AdamW'
            assert ow.paramwise_cfg.custom_keys['relative_position_bias_table'].decay_mult == 0
            assert ow.paramwise_cfg.custom_keys['norm'].decay_mult == 0
        # the depth of S/B is covered by test_focal.py; one block per stage at the real
        # widths keeps the loss passes fast on 2 cores
        widths = {'t': (96, [3, 6, 12, 24]), 's': (96, [3, 6, 12, 24]),
                  'b': (128, [4, 8, 16, 32])}[a]
        options = {'model.backbone.arch': dict(_delete_=True, embed_dims=widths[0],
                                               depths=[1, 1, 1, 1],
                                               num_heads=widths[1])}
        # fewer RPN proposals -> fewer RoIs in the (cascade) box and mask heads: only speed
        if 'rpn_proposal' in cfg.model.get('train_cfg', {}):
            options['model.train_cfg.rpn_proposal.max_per_img'] = 64
        if 'sparse_rcnn' in name:
            options['model.rpn_head.num_proposals'] = 16
    # Sparse R-CNN's proposal boxes are only valid after its init_weights()
    # batch 2: UPerHead's 1x1 pyramid pooling + BatchNorm needs more than one value
    log_vars = config_loss_pass(path, hw=(64, 64), batch=2 if 'upernet' in name else 1,
                                cfg_options=options, init_weights='sparse_rcnn' in name)
    assert log_vars and all(torch.isfinite(torch.as_tensor(v)) for v in log_vars.values())


def test_toy_config_trains_end_to_end(tmp_path):
    table = 'backbone.stages.0.blocks.0.attn.relative_position_bias_table_to_neighbors'
    toy_train_and_test(TOY, tmp_path, 'epoch_1.pth', [table],
                       ['bbox_mAP', 'segm_mAP'])