"""Every DAT++ config builds and runs a loss pass; a toy config trains end to end."""
import os.path as osp

import pytest
from utils import (REPO, config_loss_pass, family_configs, load_config, load_family_config,
                   toy_train_and_test)

CONFIGS = family_configs('dat')
TOY = osp.join(REPO, 'configs', 'dat', 'toy', 'fpn_dat_toy_ade20k.py')


def _fast_options(cfg_path):
    """Keep the real architecture, but sample fewer RoIs and skip activation checkpointing
    (tested in test_dat.py), so that the 22 loss passes fit the CPU time budget."""
    name = osp.basename(cfg_path)
    opts = {'model.backbone.with_cp': False}
    if name.startswith('mask_rcnn'):
        opts.update({'model.train_cfg.rcnn.sampler.num': 16,
                     'model.train_cfg.rpn_proposal.max_per_img': 32})
    elif name.startswith('cascade'):
        opts.update({f'model.train_cfg.rcnn.{i}.sampler.num': 16 for i in range(3)})
        opts['model.train_cfg.rpn_proposal.max_per_img'] = 32
    return opts


@pytest.mark.parametrize('cfg_path', CONFIGS, ids=[osp.basename(p)[:-3] for p in CONFIGS])
def test_config_loss_pass(cfg_path):
    load_family_config(cfg_path, 'DAT')
    # UperNet's pyramid pooling has 1x1 BatchNorm maps: needs 2 images
    batch = 2 if 'upernet' in osp.basename(cfg_path) else 1
    log_vars = config_loss_pass(cfg_path, hw=(64, 64), batch=batch,
                                cfg_options=_fast_options(cfg_path))
    assert log_vars['loss'] > 0


def test_recipes_follow_the_official_configs():
    cfg = load_config(osp.join(REPO, 'configs/dat/mask_rcnn_dat_t_3x_coco.py'))
    assert cfg.model.neck.start_level == 0 and cfg.model.neck.add_extra_convs == 'on_input'
    assert cfg.model.backbone.drop_path_rate == 0.3
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert cfg.optim_wrapper.optimizer.lr == 4e-4
    assert cfg.param_scheduler[0].end == 500 and cfg.param_scheduler[1].milestones == [27, 33]
    cfg = load_config(osp.join(REPO, 'configs/dat/cascade_mask_rcnn_dat_b_3x_coco.py'))
    assert cfg.optim_wrapper.type == 'OptimWrapper' and 'loss_scale' not in cfg.optim_wrapper
    assert cfg.model.roi_head.bbox_head[0].loss_bbox.type == 'GIoULoss'
    assert cfg.model.roi_head.bbox_head[0].num_shared_convs == 4
    assert cfg.train_dataloader.batch_size == 1
    cfg = load_config(osp.join(REPO, 'configs/dat/retinanet_dat_s_1x_coco.py'))
    assert cfg.optim_wrapper.optimizer.lr == 2e-4 and cfg.model.backbone.out_indices == (1, 2, 3)
    cfg = load_config(osp.join(REPO, 'configs/dat/upernet_dat_b_512x512_160k_ade20k.py'))
    assert cfg.optim_wrapper.type == 'OptimWrapper'
    assert cfg.param_scheduler[1].end == 160000
    cfg = load_config(osp.join(REPO, 'configs/dat/fpn_dat_t_512x512_80k_ade20k.py'))
    assert cfg.train_cfg.max_iters == 40000 and cfg.optim_wrapper.optimizer.lr == 2e-4
    cfg = load_config(osp.join(REPO, 'configs/dat/retinanet_dat_t_3x_coco.py'))
    assert cfg.param_scheduler[1].milestones == [27, 33]
    assert cfg.optim_wrapper.optimizer.lr == 2e-4
    assert cfg.val_evaluator.metric == 'bbox'


@pytest.mark.parametrize('cfg_path', CONFIGS, ids=[osp.basename(p)[:-3] for p in CONFIGS])
def test_no_decay_keys_name_the_bias_tables(cfg_path):
    # Swin's key: the parameter names of the DAT++ position-bias tables contain it
    keys = load_config(cfg_path).optim_wrapper.get('paramwise_cfg', {}).get('custom_keys', {})
    assert 'relative_position_bias_table' in keys and 'rpe_table' not in keys
    assert keys['relative_position_bias_table']['decay_mult'] == 0.


def test_toy_config_trains_end_to_end(tmp_path):
    toy_train_and_test(TOY, tmp_path, 'iter_8.pth',
                       ['backbone.stages.0.blocks.1.attn.relative_position_bias_table',
                        'backbone.stages.0.blocks.0.attn.rpb'],  # D and N block tables
                       ['mIoU', 'aAcc'])