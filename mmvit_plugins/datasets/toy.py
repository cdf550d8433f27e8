"""Deterministic toy datasets in the real formats, for the demo, the tests and smoke runs.

No real dataset (COCO, ADE20K, ImageNet) can be downloaded on the project's machines, so these
small generated sets exercise the real loaders, pipelines and metrics:

* ``toy_coco``: COCO-format instance segmentation (``annotations/instances_{train,val}2017.json``,
  ``{train,val}2017/*.jpg``). Four shape classes with class-typical colours, random sizes and
  rotations, occlusion (later shapes cover earlier ones; masks and boxes are of the visible part,
  stored as compressed RLE), textured backgrounds.
* ``toy_ade20k``: ADE20K layout (``images/{training,validation}/*.jpg``,
  ``annotations/{training,validation}/*.png``), label 0 = "other" (ignored with
  ``reduce_zero_label=True``), 1..4 = the first four ADE20K classes (wall, building, sky, floor),
  so mmseg's ``ADE20KDataset`` reads it with ``metainfo=dict(classes=TOY_ADE_CLASSES)``.
* ``toy_imagenet``: ImageNet-style folders (``{train,val}/<class>/*.JPEG``) plus
  ``meta/{train,val}.txt``, read by mmpretrain's ``CustomDataset``.

Everything is seeded: the same call writes the same files. ``generate_all`` skips a set whose
stamp file says it is already complete.
"""
import json
import os
import os.path as osp

import cv2
import numpy as np

TOY_VERSION = '1'
TOY_COCO_CLASSES = ('square', 'circle', 'triangle', 'star')
TOY_ADE_CLASSES = ('wall', 'building', 'sky', 'floor')
TOY_CLS_CLASSES = TOY_COCO_CLASSES
# class-typical hue (OpenCV hue, 0..179): learnable within minutes on a CPU
_HUES = (0, 60, 110, 25)


def _texture(rng, h, w):
    """A textured background: a colour gradient, stripes and noise."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = rng.uniform(60, 200, size=3)
    grad = rng.uniform(-0.4, 0.4, size=(2, 3))
    img = base + xx[..., None] * grad[0] + yy[..., None] * grad[1]
    period, angle = rng.uniform(6, 24), rng.uniform(0, np.pi)
    stripes = np.sin((xx * np.cos(angle) + yy * np.sin(angle)) * 2 * np.pi / period)
    img += stripes[..., None] * rng.uniform(5, 25)
    img += rng.normal(0, 8, size=(h, w, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def _shape_polygon(rng, cls, cx, cy, size):
    """Polygon (N, 2) of a shape of class ``cls`` centred at (cx, cy)."""
    rot = rng.uniform(0, 2 * np.pi)
    if cls == 0:    # square
        angles = rot + np.arange(4) * np.pi / 2 + np.pi / 4
        radii = np.full(4, size / np.sqrt(2))
    elif cls == 1:  # circle, as a fine polygon
        angles = np.linspace(0, 2 * np.pi, 32, endpoint=False)
        radii = np.full(32, size / 2)
    elif cls == 2:  # triangle
        angles = rot + np.arange(3) * 2 * np.pi / 3
        radii = np.full(3, size / 1.6)
    else:           # five-pointed star
        angles = rot + np.arange(10) * np.pi / 5
        radii = np.where(np.arange(10) % 2 == 0, size / 1.7, size / 4)
    pts = np.stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)], axis=1)
    return np.round(pts).astype(np.int32)


def _shape_colour(rng, cls):
    hue = (_HUES[cls] + rng.integers(-6, 7)) % 180
    hsv = np.uint8([[[hue, rng.integers(150, 256), rng.integers(150, 256)]]])
    return tuple(int(c) for c in cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0])


def _draw_scene(rng, h, w, max_shapes):
    """Image + per-instance visible masks + classes."""
    img = _texture(rng, h, w)
    instance_map = np.zeros((h, w), np.int32)  # 0 = background, i = instance i
    classes = []
    for i in range(1, int(rng.integers(1, max_shapes + 1)) + 1):
        cls = int(rng.integers(0, len(TOY_COCO_CLASSES)))
        size = rng.uniform(0.15, 0.45) * min(h, w)
        cx, cy = rng.uniform(size / 2, w - size / 2), rng.uniform(size / 2, h - size / 2)
        poly = _shape_polygon(rng, cls, cx, cy, size)
        mask = np.zeros((h, w), np.uint8)
        cv2.fillPoly(mask, [poly], 1)
        colour = np.array(_shape_colour(rng, cls), np.float32)
        shade = rng.normal(0, 10, size=(h, w, 1))
        painted = np.clip(colour + shade, 0, 255).astype(np.uint8)
        img[mask > 0] = painted[mask > 0]
        instance_map[mask > 0] = i  # occludes what was drawn before
        classes.append(cls)
    masks = [(instance_map == i + 1) for i in range(len(classes))]
    return img, masks, classes


def _write_coco_split(root, split, num_images, seed, image_id0):
    from pycocotools import mask as mask_utils
    rng = np.random.default_rng(seed)
    img_dir = osp.join(root, f'{split}2017')
    os.makedirs(img_dir, exist_ok=True)
    images, annotations = [], []
    ann_id = image_id0 * 100
    for k in range(num_images):
        h, w = int(rng.integers(144, 209)), int(rng.integers(144, 241))
        img, masks, classes = _draw_scene(rng, h, w, max_shapes=4)
        image_id = image_id0 + k
        file_name = f'{image_id:012d}.jpg'
        cv2.imwrite(osp.join(img_dir, file_name), img, [cv2.IMWRITE_JPEG_QUALITY, 95])
        images.append(dict(id=image_id, file_name=file_name, height=h, width=w))
        for mask, cls in zip(masks, classes):
            area = int(mask.sum())
            if area < 20:  # almost fully occluded: not a visible object any more
                continue
            ys, xs = np.nonzero(mask)
            x0, y0 = int(xs.min()), int(ys.min())
            bw, bh = int(xs.max()) - x0 + 1, int(ys.max()) - y0 + 1
            rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
            rle['counts'] = rle['counts'].decode('ascii')
            ann_id += 1
            annotations.append(dict(id=ann_id, image_id=image_id, category_id=cls + 1,
                                    bbox=[x0, y0, bw, bh], area=area, iscrowd=0,
                                    segmentation=rle))
    categories = [dict(id=i + 1, name=n, supercategory='shape')
                  for i, n in enumerate(TOY_COCO_CLASSES)]
    os.makedirs(osp.join(root, 'annotations'), exist_ok=True)
    with open(osp.join(root, 'annotations', f'instances_{split}2017.json'), 'w') as f:
        json.dump(dict(images=images, annotations=annotations, categories=categories,
                       info=dict(description='mmvit_plugins toy COCO', version=TOY_VERSION),
                       licenses=[]), f)


def _write_ade_split(root, split, num_images, seed):
    rng = np.random.default_rng(seed)
    img_dir = osp.join(root, 'images', split)
    ann_dir = osp.join(root, 'annotations', split)
    os.makedirs(img_dir, exist_ok=True)
    os.makedirs(ann_dir, exist_ok=True)
    colours = np.array([[90, 90, 90], [60, 80, 170], [200, 160, 90], [230, 200, 130],
                        [70, 120, 60]], np.float32)  # other, wall, building, sky, floor (BGR)
    for k in range(num_images):
        h, w = int(rng.integers(128, 193)), int(rng.integers(160, 257))
        label = np.zeros((h, w), np.uint8)
        horizon = int(rng.uniform(0.3, 0.5) * h)
        floor_top = int(rng.uniform(0.7, 0.85) * h)
        label[:horizon] = 3                      # sky
        label[horizon:floor_top] = 1             # wall
        label[floor_top:] = 4                    # floor
        for _ in range(int(rng.integers(1, 4))):  # buildings against the sky
            x0 = int(rng.integers(0, w - 20))
            bw = int(rng.integers(15, max(16, w // 3)))
            top = int(rng.integers(int(0.1 * h), horizon + 1))
            label[top:floor_top, x0:x0 + bw] = 2
        for _ in range(int(rng.integers(0, 3))):  # unlabelled clutter (ignored)
            cv2.circle(label, (int(rng.integers(0, w)), int(rng.integers(0, h))),
                       int(rng.integers(4, 14)), 0, -1)
        img = _texture(rng, h, w).astype(np.float32) * 0.35 + colours[label] * 0.65
        cv2.imwrite(osp.join(img_dir, f'ADE_{split[:1]}_{k:08d}.jpg'),
                    np.clip(img, 0, 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, 95])
        cv2.imwrite(osp.join(ann_dir, f'ADE_{split[:1]}_{k:08d}.png'), label)


def _write_cls_split(root, split, per_class, seed):
    rng = np.random.default_rng(seed)
    lines = []
    for cls, name in enumerate(TOY_CLS_CLASSES):
        d = osp.join(root, split, name)
        os.makedirs(d, exist_ok=True)
        for k in range(per_class):
            h, w = int(rng.integers(64, 97)), int(rng.integers(64, 97))
            img = _texture(rng, h, w)
            size = rng.uniform(0.45, 0.8) * min(h, w)
            poly = _shape_polygon(rng, cls, w / 2 + rng.uniform(-4, 4),
                                  h / 2 + rng.uniform(-4, 4), size)
            cv2.fillPoly(img, [poly], _shape_colour(rng, cls))
            fname = f'{name}_{k:04d}.JPEG'
            cv2.imwrite(osp.join(d, fname), img, [cv2.IMWRITE_JPEG_QUALITY, 95])
            lines.append(f'{name}/{fname} {cls}')
    os.makedirs(osp.join(root, 'meta'), exist_ok=True)
    with open(osp.join(root, 'meta', f'{split}.txt'), 'w') as f:
        f.write('\n'.join(lines) + '\n')


_SETS = {
    'toy_coco': lambda r: (_write_coco_split(r, 'train', 48, 1, 1),
                           _write_coco_split(r, 'val', 16, 2, 10001)),
    'toy_ade20k': lambda r: (_write_ade_split(r, 'training', 32, 3),
                             _write_ade_split(r, 'validation', 8, 4)),
    'toy_imagenet': lambda r: (_write_cls_split(r, 'train', 24, 5),
                               _write_cls_split(r, 'val', 6, 6)),
}
_STAMP = '.toy_complete'


def generate(name, root):
    """Write one toy set to ``root`` unless its stamp says it is complete. Returns ``root``."""
    stamp = osp.join(root, _STAMP)
    if osp.isfile(stamp) and open(stamp).read().strip() == TOY_VERSION:
        return root
    os.makedirs(root, exist_ok=True)
    _SETS[name](root)
    with open(stamp, 'w') as f:  # written last: an interrupted run is redone
        f.write(TOY_VERSION + '\n')
    return root


def generate_all(out_dir='data', names=None):
    """Generate the toy sets under ``out_dir`` (``data/toy_coco`` etc.). Returns their paths."""
    return {n: generate(n, osp.join(out_dir, n)) for n in (names or _SETS)}


def missing_data_message(path):
    """The error text for a dataset path that does not exist."""
    if 'toy_' in str(path):
        fix = 'create the toy datasets with: python tools/misc/make_toy_data.py --out data'
    else:
        fix = ('download the dataset and place it there (see docs/get_started.md), or point the '
               "config at it with --cfg-options, e.g. train_dataloader.dataset.data_root=...")
    return f'dataset path not found: {path}. To fix: {fix}'
