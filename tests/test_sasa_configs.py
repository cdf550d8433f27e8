"""Every SASA config builds and runs a loss pass on a tiny input; the toy config trains and tests
end to end through tools/train.py and tools/test.py."""
import os.path as osp

import pytest
import torch
from utils import (REPO, config_loss_pass, family_configs, load_family_config,
                   toy_train_and_test)

CONFIGS = family_configs('sasa')
TOY = osp.join(REPO, 'configs', 'sasa', 'toy', 'retinanet_sasa_toy_coco.py')


@pytest.mark.parametrize('path', CONFIGS, ids=[osp.basename(p)[:-3] for p in CONFIGS])
def test_config_loss_pass(path):
    cfg = load_family_config(path, 'SASAResNet')
    backbone = cfg.model.backbone
    name = osp.basename(path)
    if 'toy' not in path:
        assert backbone.depth == int(name.split('_r')[1][:2])
        assert backbone.stem_type == ('attention' if '_full_' in name else 'conv')
        if name.startswith('retinanet'):
            assert backbone.init_cfg.type == 'Pretrained'
        if '150e-640' in name:  # the paper's protocol
            assert cfg.train_cfg.max_epochs == 150
            assert cfg.optim_wrapper.optimizer.lr == 0.12
            assert cfg.train_dataloader.batch_size * 8 == 64
            crop = [t for t in cfg.train_pipeline if t['type'] == 'RandomCrop'][0]
            assert tuple(crop['crop_size']) == (640, 640)
        if name.endswith('in1k.py'):
            assert cfg.train_cfg.max_epochs == 130
            assert cfg.optim_wrapper.optimizer.nesterov
            assert cfg.train_dataloader.batch_size * 32 == cfg.auto_scale_lr.base_batch_size
    options = None
    if (cfg.model.get('data_preprocessor') or {}).get('batch_augments'):
        # the 640 x 640 fixed-size pad would dominate the test time
        options = {'model.data_preprocessor.batch_augments': None}
    log_vars = config_loss_pass(path, hw=(64, 64), cfg_options=options)
    assert log_vars and all(torch.isfinite(torch.as_tensor(v)) for v in log_vars.values())


def test_toy_config_trains_end_to_end(tmp_path):
    # one thread: on a shared 2-core machine two OpenMP threads wait on each other
    toy_train_and_test(TOY, tmp_path, 'epoch_1.pth',
                       ['backbone.layer1.0.conv2.rel_row', 'backbone.stem.emb_mix'],
                       ['bbox_mAP'], env={'OMP_NUM_THREADS': '1'})


def test_metafile_lists_every_config():
    import yaml
    with open(osp.join(REPO, 'configs', 'sasa', 'metafile.yml')) as f:
        meta = yaml.safe_load(f)
    listed = {m['Config'] for m in meta['Models']}
    for m in meta['Models']:
        assert osp.isfile(osp.join(REPO, m['Config'])), m['Config']
        assert m['Metadata']['Parameters'] > 0 and m['Metadata']['FLOPs'] > 0
    top = {osp.relpath(p, REPO) for p in CONFIGS if '/toy/' not in p}
    assert top == listed
