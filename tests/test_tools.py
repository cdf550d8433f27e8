"""The user-facing tools, run as subprocesses exactly as a user runs them."""
import glob
import json
import os.path as osp
import pickle
import random

import pytest
import torch

from utils import REPO, ensure_toy_data, run_tool

DET_CFG = 'configs/demo/mask_rcnn_r18_toy_coco.py'
SEG_CFG = 'configs/demo/upernet_r18_toy_ade20k.py'
CLS_CFG = 'configs/demo/resnet18_toy_cls.py'
RESUME_CFG = 'tests/data/configs/toy_cls_resume.py'


@pytest.fixture(scope='module', autouse=True)
def toy_data():
    ensure_toy_data()


def _metrics(work_dir, key):
    """The last metrics json under work_dir holding ``key``."""
    paths = glob.glob(osp.join(work_dir, '**', '*.json'), recursive=True)
    for path in sorted(paths, key=osp.getmtime, reverse=True):
        with open(path) as f:
            for line in reversed(f.read().splitlines()):
                record = json.loads(line)
                if key in record:
                    return record
    raise AssertionError(f'no metrics with {key} under {work_dir}')


def _weights(path):
    return torch.load(path, map_location='cpu', weights_only=False)['state_dict']


def test_mask_rcnn_train_then_test(tmp_path):
    wd = str(tmp_path / 'det')
    run_tool(['train.py', DET_CFG, '--work-dir', wd, '--cfg-options', 'train_cfg.max_epochs=1',
              'train_cfg.val_interval=1'])
    ckpt = osp.join(wd, 'epoch_1.pth')
    assert osp.isfile(ckpt)
    val = _metrics(wd, 'coco/bbox_mAP')
    assert 0.0 <= val['coco/bbox_mAP'] <= 1.0 and 0.0 <= val['coco/segm_mAP'] <= 1.0
    out, show = str(tmp_path / 'preds.pkl'), str(tmp_path / 'vis')
    run_tool(['test.py', DET_CFG, ckpt, '--work-dir', str(tmp_path / 'test'), '--out', out,
              '--show-dir', show])
    test = _metrics(str(tmp_path / 'test'), 'coco/segm_mAP')
    assert test['coco/bbox_mAP'] == pytest.approx(val['coco/bbox_mAP'], abs=1e-6)
    with open(out, 'rb') as f:
        preds = pickle.load(f)
    assert len(preds) == 16 and 'pred_instances' in preds[0]
    assert len(glob.glob(osp.join(show, '*.jpg'))) == 16


def test_upernet_train_on_toy_ade(tmp_path):
    wd = str(tmp_path / 'seg')
    run_tool(['train.py', SEG_CFG, '--work-dir', wd, '--cfg-options', 'train_cfg.max_iters=6',
              'train_cfg.val_interval=6', 'default_hooks.checkpoint.interval=6',
              'param_scheduler.0.end=2', 'param_scheduler.1.begin=2', 'param_scheduler.1.end=6'])
    assert osp.isfile(osp.join(wd, 'iter_6.pth'))
    miou = _metrics(wd, 'mIoU')['mIoU']
    assert 0.0 <= miou <= 100.0


def test_classifier_train_and_test(tmp_path):
    wd = str(tmp_path / 'cls')
    run_tool(['train.py', CLS_CFG, '--work-dir', wd, '--cfg-options', 'train_cfg.max_epochs=1',
              'train_cfg.val_interval=1'])
    ckpt = osp.join(wd, 'epoch_1.pth')
    assert osp.isfile(ckpt)
    run_tool(['test.py', CLS_CFG, ckpt, '--work-dir', str(tmp_path / 'test'),
              '--out', str(tmp_path / 'cls.pkl')])
    top1 = _metrics(str(tmp_path / 'test'), 'accuracy/top1')['accuracy/top1']
    assert 0.0 <= top1 <= 100.0
    assert osp.isfile(tmp_path / 'cls.pkl')
    # test-time augmentation: flip TTA, predictions averaged over two views per image
    run_tool(['test.py', CLS_CFG, ckpt, '--tta', '--work-dir', str(tmp_path / 'tta'),
              '--out', str(tmp_path / 'tta.pkl')])
    tta_top1 = _metrics(str(tmp_path / 'tta'), 'accuracy/top1')['accuracy/top1']
    assert 0.0 <= tta_top1 <= 100.0
    with open(tmp_path / 'cls.pkl', 'rb') as f:
        plain = pickle.load(f)
    with open(tmp_path / 'tta.pkl', 'rb') as f:
        tta = pickle.load(f)
    assert len(tta) == len(plain) and all('pred_score' in r for r in tta)
    # the run used the TTA wrapper and pipeline (the toy shapes are mirror-symmetric, so the
    # averaged scores may equal the single view's: the dumped config is the evidence)
    dumped = glob.glob(str(tmp_path / 'tta' / '*' / 'vis_data' / 'config.py'))
    assert dumped, 'no config dumped in the TTA work dir'
    from mmengine.config import Config
    used = Config.fromfile(dumped[0])
    assert used.model.type == 'AverageClsScoreTTA' and used.model.module.type == 'ImageClassifier'
    assert used.test_dataloader.dataset.pipeline[-1].type == 'TestTimeAug'
    # a config without tta settings is refused with a message
    proc = run_tool(['test.py', CLS_CFG, ckpt, '--tta', '--cfg-options', 'tta_model=None'],
                    check=False)
    assert proc.returncode != 0 and '--tta needs' in proc.stderr


def test_resume_reaches_the_same_weights(tmp_path):
    full, parts = str(tmp_path / 'full'), str(tmp_path / 'parts')
    run_tool(['train.py', RESUME_CFG, '--work-dir', full])
    run_tool(['train.py', RESUME_CFG, '--work-dir', parts, '--cfg-options',
              'train_cfg.max_epochs=1'])
    assert not osp.exists(osp.join(parts, 'epoch_2.pth'))
    proc = run_tool(['train.py', RESUME_CFG, '--work-dir', parts, '--resume'])
    assert 'resumed' in (proc.stdout + proc.stderr).lower()
    a, b = _weights(osp.join(full, 'epoch_2.pth')), _weights(osp.join(parts, 'epoch_2.pth'))
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    # and the weights did change during the second epoch (so the check above means something)
    first = _weights(osp.join(parts, 'epoch_1.pth'))
    assert any(not torch.equal(first[k], b[k]) for k in b)


def test_dist_train_two_cpu_processes(tmp_path):
    wd = str(tmp_path / 'dist')
    proc = run_tool(['dist_train.sh', CLS_CFG, '2', '--work-dir', wd, '--cfg-options',
                     'train_cfg.max_epochs=1', 'train_cfg.val_interval=1'],
                    env={'PORT': str(random.randint(29600, 29999)), 'OMP_NUM_THREADS': '1'})
    assert osp.isfile(osp.join(wd, 'epoch_1.pth')), proc.stdout[-2000:]
    log = open(glob.glob(osp.join(wd, '*', '*.log'))[0]).read()
    assert 'world_size: 2' in log.replace('    ', ' ') or 'Distributed launcher: pytorch' in log
    assert 0 <= _metrics(wd, 'accuracy/top1')['accuracy/top1'] <= 100


def test_bad_inputs_give_clear_errors(tmp_path):
    proc = run_tool(['train.py', DET_CFG, '--work-dir', str(tmp_path), '--cfg-options',
                     'train_dataloader.dataset.data_root=data/toy_missing/'], check=False)
    assert proc.returncode != 0
    assert 'data/toy_missing/' in proc.stderr and 'make_toy_data.py' in proc.stderr
    proc = run_tool(['test.py', DET_CFG, str(tmp_path / 'nope.pth')], check=False)
    assert proc.returncode != 0 and 'checkpoint not found' in proc.stderr
    proc = run_tool(['train.py', SEG_CFG, '--auto-scale-lr'], check=False)
    assert proc.returncode != 0 and 'auto_scale_lr' in proc.stderr
    # a checkpoint of another model is refused instead of being evaluated with random weights
    other = str(tmp_path / 'other.pth')
    torch.save({'state_dict': {'backbone.conv1.weight': torch.zeros(2, 2)}}, other)
    proc = run_tool(['test.py', CLS_CFG, other], check=False)
    assert proc.returncode != 0 and 'does not match' in proc.stderr


def test_get_flops_and_benchmark_tools():
    proc = run_tool(['analysis_tools/get_flops.py', CLS_CFG, '--shape', '64', '--backbone-only'])
    assert 'Params: 11.18 M' in proc.stdout  # ResNet-18 without its fc layer
    gmacs = float(proc.stdout.split('GMACs:')[1].split()[0])
    assert gmacs == pytest.approx(1.82 * (64 / 224) ** 2, rel=0.05)
    proc = run_tool(['analysis_tools/benchmark.py', CLS_CFG, '--shape', '64', '64',
                     '--backbone-only', '--repeat', '2', '--warmup', '1', '--header'])
    row = proc.stdout.strip().splitlines()[-1]
    cells = [c.strip() for c in row.strip('|').split('|')]
    assert cells[1] == '1x3x64x64' and cells[2] == 'cpu' and cells[3] == 'fp32'
    assert float(cells[4]) > 0 and float(cells[6]) > 0


def test_demo_prints_map_and_writes_the_picture(tmp_path):
    wd = str(tmp_path / 'demo')
    proc = run_tool(['demo.py', '--work-dir', wd, '--epochs', '1', '--num-vis', '2'])
    assert 'FocalTransformer' in open(glob.glob(osp.join(wd, '*.py'))[0]).read()
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith('[demo]') and 'mAP:' in ln]
    assert len(lines) == 2 and 'bbox mAP' in lines[0] and 'segm mAP' in lines[1]
    for line in lines:
        assert 0.0 <= float(line.split('mAP:')[1].split()[0]) <= 1.0
    import cv2
    img = cv2.imread(osp.join(wd, 'predictions.png'))
    assert img is not None and img.shape == (192, 768, 3)  # one row of 3 tiles of 256x192


def test_compare_latency_tool():
    """Paired comparison: one row with both models' latencies and the median paired ratio."""
    proc = run_tool(['analysis_tools/compare_latency.py', CLS_CFG, CLS_CFG, '--labels', 'a', 'b',
                     '--shape', '64', '--backbone-only', '--mode', 'fwdbwd', '--rounds', '2',
                     '--header'])
    row = proc.stdout.strip().splitlines()[-1]
    cells = [c.strip() for c in row.strip('|').split('|')]
    assert cells[0] == 'a vs b' and cells[1] == '1x3x64x64' and cells[2] == 'fwd+bwd'
    median_a, min_a = (float(t) for t in cells[3].split('/'))
    assert median_a >= min_a > 0
    assert float(cells[5]) > 0  # same model twice: a ratio near 1, but timing is not asserted
    assert cells[7] == ('cuda' if torch.cuda.is_available() else 'cpu')


@pytest.mark.parametrize('tool_args', [['analysis_tools/compare_latency.py', CLS_CFG, CLS_CFG],
                                       ['analysis_tools/benchmark.py', CLS_CFG]])
def test_timing_tools_ask_for_a_gpu_they_cannot_find(tool_args):
    proc = run_tool(tool_args + ['--device', 'cuda'], env={'CUDA_VISIBLE_DEVICES': ''},
                    check=False)
    assert proc.returncode == 2 and 'no CUDA device is available' in proc.stderr


def test_na_benchmark_tool():
    proc = run_tool(['analysis_tools/na_benchmark.py', '--size', '16', '20', '--heads', '2',
                     '--dims', '8', '--repeat', '1', '--module'])
    lines = proc.stdout.strip().splitlines()
    labels = [line.split('|')[1].strip() for line in lines if line.startswith('|')]
    assert labels == ['window', 'na-fast (tile 7)', 'na-reference']
    assert 'median of paired ratios' in lines[-1]


def test_train_accepts_toolbox_config_paths(tmp_path):
    """``mmdet::`` paths resolve to the installed config (the run then stops at the missing
    COCO files, not at the path); an unknown toolbox gets a clear message."""
    data_root = f'train_dataloader.dataset.data_root={tmp_path}/coco/'
    proc = run_tool(['train.py', 'mmdet::retinanet/retinanet_r18_fpn_1x_coco.py', '--work-dir',
                     tmp_path, '--cfg-options', data_root], check=False)
    assert proc.returncode != 0
    assert f'dataset path not found: {tmp_path}/coco/' in proc.stderr
    proc = run_tool(['test.py', 'nopkg::x/y.py', tmp_path / 'x.pth'], check=False)
    assert proc.returncode != 0 and "cannot resolve config 'nopkg::x/y.py'" in proc.stderr
