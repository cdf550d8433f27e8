"""Helpers shared by the tests."""
import glob
import json
import os
import os.path as osp

import torch
from torch.nn.modules import GroupNorm
from torch.nn.modules.batchnorm import _BatchNorm

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def parity_dir():
    """The parity fixtures kept in the repository (tests/data/parity, copied from
    ../shared/parity, their source, when that changes); $MMVIT_PARITY_DIR overrides."""
    path = os.environ.get('MMVIT_PARITY_DIR') or osp.join(REPO, 'tests', 'data', 'parity')
    if not osp.isdir(path):
        raise FileNotFoundError(f'parity fixtures not found at {osp.abspath(path)}')
    return path


def parity_fixture_paths(prefix):
    """Every fixture file of a family (``focal``, ``shunted``, ``datpp``) in the folder."""
    paths = sorted(glob.glob(osp.join(parity_dir(), f'{prefix}_*.pt')))
    if not paths:
        raise FileNotFoundError(f'no {prefix}_*.pt fixture in {parity_dir()}')
    return paths


def load_parity_fixture(path):
    fx = torch.load(path, map_location='cpu', weights_only=True)
    fx['config'] = json.loads(fx['config']) if isinstance(fx['config'], str) else fx['config']
    return fx


def build_mmpretrain(cfg):
    """Build an mmpretrain model config (after ``import mmvit_plugins``)."""
    import mmvit_plugins  # noqa: F401
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS
    init_default_scope('mmpretrain')
    return MODELS.build(cfg)


def max_abs_diff(a, b):
    assert a.shape == b.shape, f'shape {tuple(a.shape)} != {tuple(b.shape)}'
    return (a.double() - b.double()).abs().max().item()


def is_norm(m):
    return isinstance(m, (GroupNorm, _BatchNorm, torch.nn.LayerNorm))


def check_norm_state(modules, train_state):
    """True when every BatchNorm's ``training`` flag equals ``train_state``."""
    for m in modules:
        if isinstance(m, _BatchNorm) and m.training != train_state:
            return False
    return True


# --------------------------------------------------------------------------- configs
def _num_classes(model_cfg, default):
    for path in (('roi_head', 'bbox_head'), ('bbox_head',), ('decode_head',), ('head',)):
        node = model_cfg
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
            if node is None:
                break
        if isinstance(node, (list, tuple)):
            node = node[0]
        if isinstance(node, dict) and 'num_classes' in node:
            return node['num_classes']
    return default


def _fake_batch(scope, model_cfg, hw, batch):
    h, w = hw
    inputs = [torch.randint(0, 256, (3, h, w), dtype=torch.uint8) for _ in range(batch)]
    if scope == 'mmdet':
        from mmdet.testing import demo_mm_inputs
        n = _num_classes(model_cfg, 80)
        return demo_mm_inputs(batch, [[3, h, w]] * batch, num_items=[3] * batch,
                              num_classes=n, with_mask=True)
    if scope == 'mmseg':
        from mmengine.structures import PixelData
        from mmseg.structures import SegDataSample
        n = _num_classes(model_cfg, 150)
        samples = []
        for _ in range(batch):
            s = SegDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w),
                                            pad_shape=(h, w)))
            s.gt_sem_seg = PixelData(data=torch.randint(0, n, (1, h, w)))
            samples.append(s)
        return dict(inputs=inputs, data_samples=samples)
    if scope == 'mmpretrain':
        from mmpretrain.structures import DataSample
        n = _num_classes(model_cfg, 1000)
        samples = [DataSample().set_gt_label(torch.randint(0, n, (1,)).item())
                   for _ in range(batch)]
        return dict(inputs=inputs, data_samples=samples)
    raise ValueError(f'unknown default_scope {scope!r}')


def load_config(cfg_path, cfg_options=None):
    import mmvit_plugins  # noqa: F401
    from mmengine.config import Config
    cfg = Config.fromfile(cfg_path)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg


def build_from_config(cfg):
    """Build ``cfg.model`` under the config's scope without loading pretrained weights."""
    from mmvit_plugins.utils.analysis import build_model
    return build_model(cfg)


def config_loss_pass(cfg_path, hw=(64, 64), batch=1, cfg_options=None, init_weights=False):
    """Build the model of a config (no pretrained weights, SyncBN reverted) and run one
    loss + backward pass on a random tiny batch. Returns the logged loss values.

    ``init_weights=True`` runs the model's ``init_weights()`` first, for heads whose default
    PyTorch initialisation is not usable (e.g. Sparse R-CNN's proposal boxes)."""
    cfg = load_config(cfg_path, cfg_options)
    scope = cfg.get('default_scope', 'mmdet')
    dp = cfg.model.get('data_preprocessor')
    if scope == 'mmseg' and dp is not None and dp.get('size') is not None:
        dp['size'] = tuple(hw)  # the 512x512 pad would dominate the test time
    model, scope = build_from_config(cfg)
    if init_weights:
        model.init_weights()
    model.train()
    data = _fake_batch(scope, cfg.model, hw, batch)
    data = model.data_preprocessor(data, True)
    losses = model(**data, mode='loss')
    loss, log_vars = model.parse_losses(losses)
    assert torch.isfinite(loss), f'{cfg_path}: non-finite loss {log_vars}'
    loss.backward()
    return log_vars


# --------------------------------------------------------------------------- tools
def ensure_toy_data():
    """Generate the toy datasets under <repo>/data when missing (deterministic, seconds)."""
    from mmvit_plugins.datasets.toy import generate_all
    return generate_all(osp.join(REPO, 'data'))


def run_tool(args, timeout=1200, env=None, check=True):
    """Run ``tools/<args[0]>`` with the remaining args from the repository root, the way a
    user does. ``args[0]`` may be a .py (run with this interpreter) or a .sh script."""
    import subprocess
    import sys
    script = osp.join(REPO, 'tools', args[0])
    cmd = ([sys.executable, script] if script.endswith('.py') else ['bash', script]) + \
        [str(a) for a in args[1:]]
    full_env = dict(os.environ)
    full_env.update(PYTHONUNBUFFERED='1',
                    PATH=osp.dirname(sys.executable) + os.pathsep + full_env.get('PATH', ''))
    full_env.update(env or {})
    proc = subprocess.run(cmd, cwd=REPO, env=full_env, capture_output=True, text=True,
                          timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f'{" ".join(cmd)} exited {proc.returncode}\n'
                             f'--- stdout ---\n{proc.stdout[-6000:]}\n'
                             f'--- stderr ---\n{proc.stderr[-6000:]}')
    return proc


def family_configs(family):
    """The configs of a family users run (configs/<family>/*.py and toy/*.py), sorted."""
    return sorted(glob.glob(osp.join(REPO, 'configs', family, '*.py')) +
                  glob.glob(osp.join(REPO, 'configs', family, 'toy', '*.py')))


def toy_train_and_test(config, work, checkpoint, state_keys, metrics, env=None):
    """Train ``config`` with tools/train.py into ``work``, check that ``checkpoint`` holds
    ``state_keys``, evaluate it with tools/test.py and check that it prints ``metrics``."""
    import torch
    ensure_toy_data()
    run_tool(['train.py', config, '--work-dir', work / 'train'], env=env)
    ckpt = work / 'train' / checkpoint
    assert ckpt.is_file(), f'{config} wrote no {checkpoint}'
    state = torch.load(ckpt, map_location='cpu', weights_only=False)['state_dict']
    for key in state_keys:
        assert key in state, key
    proc = run_tool(['test.py', config, ckpt, '--work-dir', work / 'test'], env=env)
    out = proc.stdout + proc.stderr
    for metric in metrics:
        assert metric in out, f'{metric} not printed by tools/test.py:\n{out[-3000:]}'
    return out


def load_family_config(path, backbone_type):
    """Load a family config and check what every one of them states: the plugin import and
    the backbone type."""
    cfg = load_config(path)
    assert cfg.custom_imports['imports'] == ['mmvit_plugins'], path
    assert cfg.model.backbone.type == backbone_type, path
    return cfg


def missing_configs(paths, expected):
    """The names in ``expected`` with no config among ``paths``."""
    names = {osp.basename(p)[:-3] for p in paths}
    return sorted(set(expected) - names)
