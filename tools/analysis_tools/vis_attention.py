"""Draw what the attention of one block of a Focal, Shunted, DAT++ or SASA backbone looks at.

Takes the backbone of a classifier, detector or segmentor config, runs an image through it
(resized and normalised as the config's test pipeline and data preprocessor do) and draws,
for a few query positions (rows of the figure), the attention of the chosen block over the
image (columns):

* Focal: level 0 (the query window and its rolled neighbours, token by token) and each pooled
  level (the pooled sub-windows, each drawn over the tokens it pools);
* Shunted: each head group over the tokens at its aggregation scale;
* DAT++: a deformable (D) block's sampled points, per offset group, with arrows from their
  reference points, sized and coloured by weight; a neighbourhood (N) block's ``K x K`` window;
* SASA: the ``k x k`` window around the query, per head.

The weights are the heads' mean unless ``--head`` picks one. The attention is captured through
:func:`mmvit_plugins.models.layers.attention_capture.capture_attention` (the block runs its
reference path). Without a checkpoint the backbone keeps its random initialisation, which the
figure's title says.

Example:
    python tools/analysis_tools/vis_attention.py configs/focal/mask_rcnn_focal_t_1x_coco.py \
        focal_t_coco.pth --img demo.jpg --out focal.png --stage 1 --query 200 310 --head 2

The pictures of the family READMEs (random weights; ``make data`` writes the toy image)::

    for f in focal/focal_t shunted/shunted_t dat/dat_t sasa/sasa_r50; do
        python tools/analysis_tools/vis_attention.py configs/${f}_in1k.py \
            --img data/toy_ade20k/images/validation/ADE_v_00000000.jpg \
            --query 72 104 100 151 --panel-size 224 --device cpu \
            --out docs/figures/$(dirname $f)_attention.png
    done
"""
import argparse
import os.path as osp
import textwrap

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.collections import PatchCollection  # noqa: E402
import torch  # noqa: E402
from mmengine.config import Config, DictAction  # noqa: E402

from mmvit_plugins.utils.analysis import (add_device_argument, check_device,  # noqa: E402
                                          resolve_config_path)

#: default queries, as fractions (row, column) of the network input
DEFAULT_QUERIES = ((0.3, 0.3), (0.5, 0.68), (0.75, 0.42))
#: test-pipeline steps that change the image geometry (the others load, annotate or pack)
GEOMETRIC_STEPS = ('Resize', 'ResizeEdge', 'CenterCrop')
HEADER_PX = 48  # figure title band: three lines
TITLE_PX = 18  # panel title band
DPI = 100


class ArgumentError(ValueError):
    """A bad argument (stage, block, query, head, config): printed without a traceback."""


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Draw the attention of one block of a Focal, Shunted, DAT++ or SASA backbone')
    parser.add_argument('config', help='classifier, detector or segmentor config (also '
                        'mmdet::/mmseg::/mmpretrain:: paths)')
    parser.add_argument('checkpoint', nargs='?', help='model or backbone checkpoint; '
                        'without one the backbone has random weights')
    parser.add_argument('--img', required=True, help='image file')
    parser.add_argument('--out', required=True, help='output PNG')
    parser.add_argument('--stage', type=int, default=1, help='stage (0-based). Default: 1')
    parser.add_argument('--block', type=int, help='block in the stage (0-based). Default: 0, '
                        'for DAT++ the stage\'s first deformable block')
    parser.add_argument('--query', type=float, nargs='+', metavar='Y X',
                        help='query positions as row/column pairs in pixels of the image file '
                        '(default: three spread over the image)')
    parser.add_argument('--head', type=int, help='draw this head (default: the mean of the '
                        'heads; SASA: every head)')
    parser.add_argument('--panel-size', type=int, default=256, help='pixels per panel side')
    add_device_argument(parser)
    parser.add_argument('--seed', type=int, default=0, help='seed of the random weights')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, xxx=yyy format')
    args = parser.parse_args(argv)
    check_device(parser, args.device)
    if args.query is not None:
        if len(args.query) % 2:
            parser.error(f'--query takes row/column pairs (Y X [Y X ...]), got {len(args.query)} '
                         'numbers')
        args.query = [tuple(args.query[i:i + 2]) for i in range(0, len(args.query), 2)]
    if args.panel_size < 64:
        parser.error(f'--panel-size must be at least 64 pixels, got {args.panel_size}')
    if not osp.isfile(args.img):
        parser.error(f'--img {args.img}: no such image file')
    if args.checkpoint and not osp.isfile(args.checkpoint):
        parser.error(f'checkpoint {args.checkpoint}: no such file')
    return args


# --------------------------------------------------------------------------- model
def family_backbones():
    from mmvit_plugins.models.backbones import (DAT, FocalTransformer, SASAResNet,
                                                ShuntedTransformer)
    return FocalTransformer, ShuntedTransformer, DAT, SASAResNet


def build_backbone(cfg, checkpoint, config_name):
    """The config's backbone, with the checkpoint's weights or the family's random init."""
    import mmvit_plugins  # noqa: F401
    from mmengine.model import revert_sync_batchnorm
    from mmengine.registry import MODELS, init_default_scope

    if 'backbone' not in cfg.get('model', {}):
        raise ArgumentError(f'{config_name} has no model.backbone to draw')
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    bb_cfg = cfg.model.backbone.copy()
    bb_cfg.pop('pretrained', None)
    bb_cfg.init_cfg = (dict(type='Pretrained', checkpoint=checkpoint, prefix='backbone.')
                       if checkpoint else None)
    backbone = MODELS.build(bb_cfg)
    if not isinstance(backbone, family_backbones()):
        raise ArgumentError(f'{config_name}: the backbone is {type(backbone).__name__}; this '
                            'tool draws FocalTransformer, ShuntedTransformer, DAT and SASAResNet')
    backbone.init_weights()
    return revert_sync_batchnorm(backbone).eval()


def stage_blocks(backbone, stage):
    SASAResNet = family_backbones()[3]
    num_stages = backbone.num_stages
    if not 0 <= stage < num_stages:
        raise ArgumentError(f'--stage {stage} is out of range: {type(backbone).__name__} has '
                            f'{num_stages} stages (0..{num_stages - 1})')
    if isinstance(backbone, SASAResNet):
        return f'layer{stage + 1}', list(getattr(backbone, f'layer{stage + 1}'))
    return f'stages.{stage}.blocks', list(backbone.stages[stage].blocks)


def select_block(backbone, stage, block):
    """``(block module, qualified name of its attention module, index)``."""
    from mmvit_plugins.models.layers.attention_capture import attention_kind
    prefix, blocks = stage_blocks(backbone, stage)
    if block is None:  # DAT++: the deformable block is the family's signature
        kinds = [(attention_kind(getattr(b, 'attn', None)) or (None, ))[0] for b in blocks]
        block = kinds.index('deformable') if 'deformable' in kinds else 0
    if not 0 <= block < len(blocks):
        raise ArgumentError(f'--block {block} is out of range: stage {stage} has '
                            f'{len(blocks)} blocks (0..{len(blocks) - 1})')
    child = 'conv2' if prefix.startswith('layer') else 'attn'
    if attention_kind(getattr(blocks[block], child, None)) is None:
        raise ArgumentError(f'block {block} of stage {stage} has no attention (a convolution: '
                            'see the config\'s stage_with_attn)')
    return blocks[block], f'{prefix}.{block}.{child}', block


# --------------------------------------------------------------------------- image
def _test_pipeline(cfg):
    if cfg.get('test_pipeline') is not None:
        return cfg.test_pipeline
    node = cfg.get('test_dataloader', {}).get('dataset', {})
    while isinstance(node, dict) and 'pipeline' not in node and 'dataset' in node:
        node = node['dataset']  # dataset wrappers
    return node.get('pipeline', []) if isinstance(node, dict) else []


def load_image(path, cfg):
    """The image as the network sees it.

    Returns:
        tuple: ``(rgb (H, W, 3) uint8, x (1, 3, H, W) float, to_input)``; ``to_input(y, x)``
        maps a pixel of the image file to the network input.
    """
    import mmcv
    from mmengine.registry import TRANSFORMS

    img = mmcv.imread(path)  # BGR, as LoadImageFromFile
    if img is None:
        raise ArgumentError(f'--img {path}: not a readable image')
    scale, offset = np.ones(2), np.zeros(2)
    for step in _test_pipeline(cfg):
        name = str(step.get('type', '')).split('.')[-1]
        if name not in GEOMETRIC_STEPS:
            continue
        h, w = img.shape[:2]
        results = dict(img=img, img_shape=(h, w), ori_shape=(h, w))
        img = TRANSFORMS.build(dict(step))(results)['img']
        nh, nw = img.shape[:2]
        if name == 'CenterCrop':  # mmcv's CenterCrop offsets
            offset += [max(0, int(round((h - nh) / 2.))), max(0, int(round((w - nw) / 2.)))]
        else:
            ratio = np.array([nh / h, nw / w])
            scale, offset = scale * ratio, offset * ratio
    prep = cfg.model.get('data_preprocessor') or cfg.get('data_preprocessor') or {}
    rgb = np.ascontiguousarray(img[..., ::-1])
    net = rgb if prep.get('bgr_to_rgb', prep.get('to_rgb', False)) else img
    x = torch.from_numpy(np.ascontiguousarray(net)).float().permute(2, 0, 1)[None]
    if prep.get('mean') is not None:
        x = (x - torch.tensor(prep['mean']).view(1, 3, 1, 1)) / torch.tensor(
            prep['std']).view(1, 3, 1, 1)

    def to_input(y, x_):
        return y * scale[0] - offset[0], x_ * scale[1] - offset[1]

    return rgb, x, to_input


# --------------------------------------------------------------------------- capture
def capture(backbone, block, attn_name, stage, x):
    """Run ``x`` and return ``(record, (H, W) of the block's input map)``."""
    from mmvit_plugins.models.layers.attention_capture import capture_attention
    FocalTransformer, ShuntedTransformer = family_backbones()[:2]
    if isinstance(backbone, ShuntedTransformer) and stage > max(backbone.out_indices):
        backbone.out_indices = (stage, )  # it stops after the last requested stage
    sizes = []

    def block_input(module, args):
        arg = args[0]
        if isinstance(backbone, ShuntedTransformer):  # (tokens, hw)
            sizes.append(tuple(args[1]))
        elif isinstance(backbone, FocalTransformer):  # (B, H, W, C)
            sizes.append(tuple(arg.shape[1:3]))
        else:  # (B, C, H, W)
            sizes.append(tuple(arg.shape[2:4]))

    handle = block.register_forward_pre_hook(block_input)
    try:
        with torch.no_grad(), capture_attention(backbone, names=[attn_name]) as records:
            backbone(x)
    finally:
        handle.remove()
    return records[0], sizes[0]


# --------------------------------------------------------------------------- drawing
def _panels(record, views, head):
    """Per query: ``[(title, view, weights (n,))]`` for the columns."""
    out = []
    for view in views:
        if head is not None:
            if head in view.heads:
                out.append((view.label, view, view.weights[view.heads.index(head)]))
        elif record.kind == 'local':  # SASA: one panel per head
            out += [(f'head {h}', view, view.weights[i]) for i, h in enumerate(view.heads)]
        else:
            out.append((view.label, view, view.weights.mean(0)))
    return out


def _background(ax, rgb):
    # grey, so that colour means attention
    gray = rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    ax.imshow(gray, cmap='gray', vmin=-64, vmax=320, interpolation='nearest')


def _draw_boxes(ax, rgb, view, weights, scale):
    h, w = rgb.shape[:2]
    heat = np.zeros((h, w), np.float32)
    boxes = view.boxes.numpy().astype(np.float64)
    pix = np.rint(boxes * np.array([scale[0], scale[1], scale[0], scale[1]])).astype(int)
    pix[:, 0::2] = pix[:, 0::2].clip(0, h)
    pix[:, 1::2] = pix[:, 1::2].clip(0, w)
    for (y0, x0, y1, x1), wt in zip(pix, weights.numpy()):
        heat[y0:y1, x0:x1] += wt  # duplicated keys (Focal's rolled neighbours) add up
    _background(ax, rgb)
    shown = np.ma.masked_where(heat <= 0, heat)
    ax.imshow(shown, cmap='jet', alpha=0.5, vmin=0, vmax=max(float(heat.max()), 1e-12),
              interpolation='nearest')
    inside = (pix[:, 2] > pix[:, 0]) & (pix[:, 3] > pix[:, 1])
    if 1 < inside.sum() <= 1024:  # outline the keys: their extent shows when weights are even
        ax.add_collection(PatchCollection(
            [plt.Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0)
             for y0, x0, y1, x1 in pix[inside]], fc='none', ec='white', lw=0.4, alpha=0.5))
    if inside.any():  # zoom on the keys
        y0, x0 = pix[inside, 0].min(), pix[inside, 1].min()
        y1, x1 = pix[inside, 2].max(), pix[inside, 3].max()
        my, mx = 0.12 * (y1 - y0) + 2, 0.12 * (x1 - x0) + 2
        ax.set_xlim(max(0, x0 - mx) - 0.5, min(w, x1 + mx) - 0.5)
        ax.set_ylim(min(h, y1 + my) - 0.5, max(0, y0 - my) - 0.5)


def _draw_points(ax, rgb, view, weights, scale):
    _background(ax, rgb)
    pts = (view.points.numpy() + 0.5) * np.array(scale)  # token centres in pixels
    refs = (view.references.numpy() + 0.5) * np.array(scale)
    wt = weights.numpy()
    rel = wt / max(float(wt.max()), 1e-12)
    order = np.argsort(wt)  # heaviest on top
    ax.scatter(refs[:, 1], refs[:, 0], s=4, c='white', alpha=0.6, linewidths=0)
    ax.quiver(refs[order, 1], refs[order, 0], pts[order, 1] - refs[order, 1],
              pts[order, 0] - refs[order, 0], rel[order], cmap='viridis', angles='xy',
              scale_units='xy', scale=1, width=0.004, alpha=0.8)
    ax.scatter(pts[order, 1], pts[order, 0], s=8 + 90 * rel[order], c=rel[order],
               cmap='viridis', vmin=0, vmax=1, edgecolors='black', linewidths=0.3)
    ax.set_xlim(-0.5, rgb.shape[1] - 0.5)
    ax.set_ylim(rgb.shape[0] - 0.5, -0.5)


def draw(rgb, record, queries, block_hw, head, panel, title_lines, out):
    """Draw one row per query and one column per view; returns the figure's (H, W) pixels."""
    h, w = rgb.shape[:2]
    scale = (h / block_hw[0], w / block_hw[1])  # image pixels per map token
    rows = []
    for qy, qx in queries:
        ty = min(int(qy / scale[0]), block_hw[0] - 1)
        tx = min(int(qx / scale[1]), block_hw[1] - 1)
        rows.append(((qy, qx), (ty, tx), _panels(record, record.query(ty, tx), head)))
    cols = max(len(r[2]) for r in rows)
    if cols == 0:
        raise ArgumentError(f'--head {head}: no view of this block holds that head')
    fig_w, fig_h = cols * panel, len(rows) * panel + HEADER_PX
    # a quarter pixel more, so that the pixel size survives the inch conversion
    fig = plt.figure(figsize=((fig_w + 0.25) / DPI, (fig_h + 0.25) / DPI), dpi=DPI)
    for size, px_per_char in ((8, 6), (6.5, 5)):  # three lines, smaller if needed
        lines = [part for line in title_lines
                 for part in textwrap.wrap(line, max(16, fig_w // px_per_char))]
        if len(lines) <= 3:
            break
    fig.text(0.5, 1 - 3 / fig_h, '\n'.join(lines[:3]), ha='center', va='top', fontsize=size)
    for r, ((qy, qx), (ty, tx), panels) in enumerate(rows):
        for c, (label, view, weights) in enumerate(panels):
            left, top = c * panel, HEADER_PX + r * panel + TITLE_PX
            ax = fig.add_axes([(left + 2) / fig_w, 1 - (top + panel - TITLE_PX - 2) / fig_h,
                               (panel - 4) / fig_w, (panel - TITLE_PX - 4) / fig_h])
            if view.points is not None:
                _draw_points(ax, rgb, view, weights, scale)
            else:
                _draw_boxes(ax, rgb, view, weights, scale)
            if record.kind == 'focal':  # the query's window
                ws, shift = record.geometry['window_size'], record.geometry['shift_size']
                wy0 = ((ty - shift) // ws * ws + shift) * scale[0]
                wx0 = ((tx - shift) // ws * ws + shift) * scale[1]
                ax.add_patch(plt.Rectangle((wx0 - 0.5, wy0 - 0.5), ws * scale[1], ws * scale[0],
                                           fill=False, ec='cyan', lw=1, ls='--'))
            ax.plot([qx], [qy], marker='*', ms=11, mfc='cyan', mec='black', mew=0.6)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f'{label}\nsum {float(weights.sum()):.2f}, max {float(weights.max()):.3f}',
                         fontsize=6.5, pad=2)
            ax.text(0.02, 0.98, f'query ({qy:.0f}, {qx:.0f})', transform=ax.transAxes,
                    fontsize=6, va='top', color='white',
                    bbox=dict(fc='black', alpha=0.5, pad=1, lw=0))
    fig.savefig(out, dpi=DPI)
    plt.close(fig)
    return fig_h, fig_w


def main(argv=None):
    args = parse_args(argv)
    cfg = Config.fromfile(resolve_config_path(args.config))
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    torch.manual_seed(args.seed)
    backbone = build_backbone(cfg, args.checkpoint, args.config)
    block, attn_name, block_idx = select_block(backbone, args.stage, args.block)
    rgb, x, to_input = load_image(args.img, cfg)
    h, w = rgb.shape[:2]
    if args.query is None:
        queries = [(fy * (h - 1), fx * (w - 1)) for fy, fx in DEFAULT_QUERIES]
    else:
        queries = []
        for qy, qx in args.query:
            ny, nx = to_input(qy, qx)
            if not (0 <= ny < h and 0 <= nx < w):
                raise ArgumentError(
                    f'--query {qy:g} {qx:g} is outside the network input (the image resized to '
                    f'{h}x{w} by the test pipeline, a crop included): give row/column pixels of '
                    'the image file inside it')
            queries.append((ny, nx))
    backbone.to(args.device)
    record, block_hw = capture(backbone, block, attn_name, args.stage, x.to(args.device))
    if args.head is not None and not 0 <= args.head < record.num_heads:
        raise ArgumentError(f'--head {args.head} is out of range: {attn_name} has '
                            f'{record.num_heads} heads (0..{record.num_heads - 1})')
    kind = dict(focal='focal', shunted='shunted', deformable='deformable (D)',
                neighborhood='neighbourhood (N)', local='SASA local')[record.kind]
    if args.head is not None:
        heads = f'head {args.head}'
    elif record.kind == 'local':
        heads = 'per head'
    elif record.kind in ('shunted', 'deformable'):
        heads = 'mean of each group\'s heads'
    else:
        heads = f'mean of {record.num_heads} heads'
    weights = (f'weights {osp.basename(args.checkpoint)}' if args.checkpoint
               else 'RANDOM weights (no checkpoint)')
    title = [f'{type(backbone).__name__} stage {args.stage} block {block_idx}: {kind} attention, '
             f'{heads}',
             f'{osp.basename(args.config)}: input {h}x{w}, map {block_hw[0]}x{block_hw[1]}',
             weights]
    size = draw(rgb, record, queries, block_hw, args.head, args.panel_size, title, args.out)
    print(f'{args.out}: {size[1]}x{size[0]} pixels, {attn_name} at {len(queries)} queries')
    return size


if __name__ == '__main__':
    try:
        main()
    except ArgumentError as e:
        raise SystemExit(f'vis_attention.py: error: {e}')
