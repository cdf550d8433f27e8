"""Every Shunted config builds and runs a loss pass on a tiny input; the toy config trains and
tests end to end through tools/train.py and tools/test.py."""
import glob
import os.path as osp

import pytest
import torch
from utils import REPO, config_loss_pass, ensure_toy_data, load_config, run_tool

CONFIGS = sorted(glob.glob(osp.join(REPO, 'configs', 'shunted', '*.py')) +
                 glob.glob(osp.join(REPO, 'configs', 'shunted', 'toy', '*.py')))
TOY = osp.join(REPO, 'configs', 'shunted', 'toy', 'segformer_shunted_toy_ade20k.py')


def test_every_listed_config_exists():
    names = {osp.basename(p)[:-3] for p in CONFIGS}
    for a in 'tsb':
        assert f'shunted_{a}_in1k' in names
        assert f'retinanet_shunted_{a}_1x_coco' in names
        for sched in ('1x', '3x'):
            assert f'mask_rcnn_shunted_{a}_{sched}_coco' in names
        for head in ('upernet', 'segformer'):
            assert f'{head}_shunted_{a}_512x512_160k_ade20k' in names


@pytest.mark.parametrize('path', CONFIGS, ids=[osp.basename(p)[:-3] for p in CONFIGS])
def test_config_loss_pass(path):
    cfg = load_config(path)
    assert cfg.custom_imports['imports'] == ['mmvit_plugins']
    backbone = cfg.model.backbone
    assert backbone.type == 'ShuntedTransformer'
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
    assert log_vars and all(torch.isfinite(torch.tensor(v)) for v in log_vars.values())


def test_toy_config_trains_end_to_end(tmp_path):
    ensure_toy_data()
    work = tmp_path / 'work'
    run_tool(['train.py', TOY, '--work-dir', work])
    ckpt = work / 'iter_8.pth'
    assert ckpt.is_file()
    state = torch.load(ckpt, map_location='cpu', weights_only=False)['state_dict']
    assert 'backbone.block4.0.attn.kv.weight' in state
    proc = run_tool(['test.py', TOY, ckpt, '--work-dir', tmp_path / 'test'])
    out = proc.stdout + proc.stderr
    assert 'mIoU' in out and 'aAcc' in out
