import hashlib
import json
import os
import os.path as osp

import pytest

from mmvit_plugins.datasets.toy import TOY_COCO_CLASSES, generate_all
from utils import REPO, load_config


def _digest(root):
    h = hashlib.sha256()
    for dirpath, _, files in sorted(os.walk(root)):
        for f in sorted(files):
            h.update(f.encode())
            with open(osp.join(dirpath, f), 'rb') as fh:
                h.update(fh.read())
    return h.hexdigest()


@pytest.fixture(scope='module')
def toy_root(tmp_path_factory):
    return str(tmp_path_factory.mktemp('toy'))


def test_generation_is_deterministic(toy_root, tmp_path):
    a = generate_all(toy_root)
    b = generate_all(str(tmp_path))
    for name in a:
        assert _digest(a[name]) == _digest(b[name]), name


def test_coco_annotations_are_valid(toy_root):
    from pycocotools.coco import COCO
    root = generate_all(toy_root)['toy_coco']
    for split, n in (('train', 48), ('val', 16)):
        coco = COCO(osp.join(root, 'annotations', f'instances_{split}2017.json'))
        assert len(coco.getImgIds()) == n
        assert [c['name'] for c in coco.loadCats(coco.getCatIds())] == list(TOY_COCO_CLASSES)
        anns = coco.loadAnns(coco.getAnnIds())
        assert len(anns) >= n
        assert len({a['category_id'] for a in anns}) == 4
        for ann in anns[:20]:
            mask = coco.annToMask(ann)
            assert mask.sum() == ann['area']  # the mask is the visible (occluded) part
            x, y, w, h = ann['bbox']
            assert mask[:, :x].sum() == 0 and mask[:y].sum() == 0
            assert mask[:, x + w:].sum() == 0 and mask[y + h:].sum() == 0
        sizes = {(i['height'], i['width']) for i in coco.loadImgs(coco.getImgIds())}
        assert len(sizes) > n // 2  # varied image sizes


def _build_dataset(cfg, loader, scope):
    from mmengine.registry import DATASETS, init_default_scope
    init_default_scope(scope)
    return DATASETS.build(cfg[loader].dataset)


def test_toolbox_dataset_classes_read_the_toy_sets(monkeypatch):
    """mmdet's CocoDataset, mmseg's ADE20KDataset and mmpretrain's CustomDataset load the toy
    sets through the project's configs."""
    import numpy as np
    generate_all(osp.join(REPO, 'data'))
    monkeypatch.chdir(REPO)
    det = _build_dataset(load_config('configs/demo/mask_rcnn_r18_toy_coco.py'),
                         'train_dataloader', 'mmdet')
    sample = det[0]
    assert sample['inputs'].shape[0] == 3 and len(sample['data_samples'].gt_instances) > 0
    seg = _build_dataset(load_config('configs/demo/upernet_r18_toy_ade20k.py'),
                         'val_dataloader', 'mmseg')
    assert len(seg) == 8
    labels = seg[0]['data_samples'].gt_sem_seg.data.unique().tolist()
    assert set(labels) <= {0, 1, 2, 3, 255} and len(set(labels) - {255}) >= 2
    cls = _build_dataset(load_config('configs/demo/resnet18_toy_cls.py'),
                         'train_dataloader', 'mmpretrain')
    assert len(cls) == 96
    assert np.bincount(cls.get_gt_labels()).tolist() == [24, 24, 24, 24]


def test_stamp_makes_the_second_run_a_no_op(toy_root):
    root = generate_all(toy_root)['toy_coco']
    ann = osp.join(root, 'annotations', 'instances_val2017.json')
    mtime = os.stat(ann).st_mtime_ns
    generate_all(toy_root)
    assert os.stat(ann).st_mtime_ns == mtime
    with open(ann) as f:
        assert json.load(f)['info']['description'].startswith('mmvit_plugins toy')
