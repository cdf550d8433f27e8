"""Every DAT++ config builds and runs a loss pass; a toy config trains end to end."""
import glob
import os.path as osp

import pytest
import torch
from utils import REPO, config_loss_pass, ensure_toy_data, load_config, run_tool

CONFIGS = sorted(glob.glob(osp.join(REPO, 'configs', 'dat', '*.py')) +
                 glob.glob(osp.join(REPO, 'configs', 'dat', 'toy', '*.py')))
TOY = osp.join(REPO, 'configs', 'dat', 'toy', 'fpn_dat_toy_ade20k.py')


def test_all_issue_configs_exist():
    names = {osp.basename(p)[:-3] for p in CONFIGS if '/toy/' not in p}
    want = {f'dat_{s}_in1k' for s in 'tsb'} | {'dat_b_in1k_384'}
    want |= {f'{d}_dat_{s}_{k}_coco' for d in ('retinanet', 'mask_rcnn') for s in 'ts'
             for k in ('1x', '3x')}
    want |= {'cascade_mask_rcnn_dat_t_1x_coco', 'cascade_mask_rcnn_dat_t_3x_coco',
             'cascade_mask_rcnn_dat_s_3x_coco', 'cascade_mask_rcnn_dat_b_3x_coco'}
    want |= {f'upernet_dat_{s}_512x512_160k_ade20k' for s in 'tsb'}
    want |= {f'fpn_dat_{s}_512x512_80k_ade20k' for s in 'tsb'}
    assert want <= names, sorted(want - names)


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


def test_toy_config_trains_end_to_end(tmp_path):
    ensure_toy_data()
    work = tmp_path / 'work'
    run_tool(['train.py', TOY, '--work-dir', work])
    ckpt = work / 'iter_8.pth'
    assert ckpt.is_file()
    state = torch.load(ckpt, map_location='cpu', weights_only=False)['state_dict']
    assert 'backbone.stages.0.attns.1.rpe_table' in state
    assert 'backbone.stages.0.attns.0.rpb' in state
    proc = run_tool(['test.py', TOY, ckpt, '--work-dir', tmp_path / 'test'])
    out = proc.stdout + proc.stderr
    assert 'mIoU' in out and 'aAcc' in out
