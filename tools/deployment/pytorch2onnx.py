"""Export a backbone (or an mmpretrain classifier) from a config to ONNX.

    python tools/deployment/pytorch2onnx.py configs/focal/mask_rcnn_focal_t_1x_coco.py \
        focal_t_backbone.pth --shape 800 1344 --out focal_t.onnx --backbone-only

The graph is traced at ``--shape``; ``--dynamic`` also marks the batch, H and W dynamic, for
SASA, whose traced graph computes every size from the input (the window, pooling and sampling
layouts of Focal, Shunted and DAT++ are computed in Python per size: one file per size).
The export runs the backbone's ``attn_impl='reference'`` path (the official computation, same
weights): the fast paths use custom autograd functions and size-dependent indexing that ONNX
cannot express. ``--verify`` runs the file with onnxruntime and prints the largest relative
difference to PyTorch. Whole detectors and segmentors are exported with mmdeploy (see
docs/get_started.md).
"""
import argparse
import os
import os.path as osp
import sys

import torch
from mmengine.config import DictAction

from mmvit_plugins.utils.analysis import add_shape_argument, build_for_analysis, check_shape

OUR_BACKBONES = ('FocalTransformer', 'ShuntedTransformer', 'DAT', 'SASAResNet')
#: backbones whose traced graph is valid at any input size (no size-dependent Python layout)
DYNAMIC_HW = ('SASAResNet', )
OPSET = 17


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Export a backbone or classifier to ONNX')
    parser.add_argument('config')
    parser.add_argument('checkpoint', nargs='?', help='weights (default: random init)')
    add_shape_argument(parser)
    parser.add_argument('--batch', type=int, default=1)
    parser.add_argument('--out', required=True, help='the .onnx file to write')
    parser.add_argument('--backbone-only', action='store_true',
                        help='export the backbone (multi-scale features); needed for '
                        'detectors and segmentors')
    parser.add_argument('--dynamic', action='store_true',
                        help='dynamic batch, H and W (SASA backbones)')
    parser.add_argument('--verify', action='store_true',
                        help='compare onnxruntime with PyTorch on a random input')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, xxx=yyy format')
    args = parser.parse_args(argv)
    check_shape(parser, args)
    if args.checkpoint and not osp.isfile(args.checkpoint):
        parser.error(f'checkpoint not found: {args.checkpoint}')
    return args


def build(args):
    """The module to export and the names of its outputs."""
    from mmengine.config import Config

    from mmvit_plugins.utils.analysis import resolve_config_path
    cfg = Config.fromfile(resolve_config_path(args.config))
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    backbone = cfg.model.get('backbone', {})
    if backbone.get('type') in OUR_BACKBONES:
        backbone['attn_impl'] = 'reference'
    scope = cfg.get('default_scope', 'mmdet')
    if not args.backbone_only and scope != 'mmpretrain':
        sys.exit(f'{args.config} is an {scope} model: export its backbone with --backbone-only; '
                 'whole detectors and segmentors go through mmdeploy (docs/get_started.md)')
    model, forward, _ = build_for_analysis(cfg, None, args.backbone_only)
    if args.checkpoint:
        load_weights(model, args.checkpoint, args.backbone_only)
    model.eval()
    if args.backbone_only:
        names = [f'stage{i}' for i in getattr(model, 'out_indices', range(4))]
        return model, names

    class Classifier(torch.nn.Module):  # the tensor-mode forward (logits) as a plain module
        def __init__(self, m):
            super().__init__()
            self.model = m

        def forward(self, x):
            return forward(self.model, x)

    return Classifier(model), ['logits']


def load_weights(model, checkpoint, backbone_only):
    """Load with the project's checks: a checkpoint that does not fit is an error, never a
    silently random graph."""
    from mmvit_plugins.models.backbones.base import BaseBackbone
    from mmvit_plugins.utils.launch import check_checkpoint_matches
    try:
        if backbone_only and isinstance(model, BaseBackbone):
            # backbone-only files, classifier/detector/segmentor checkpoints, official ones
            model.load_pretrained(checkpoint, prefix='backbone.')
            return
        check_checkpoint_matches(model, checkpoint)
    except (ValueError, RuntimeError, FileNotFoundError) as e:
        sys.exit(f'error: {e}')
    from mmengine.runner import load_checkpoint
    load_checkpoint(model, checkpoint, map_location='cpu', strict=True,
                    revise_keys=[(r'^module\.', '')] + ([(r'^backbone\.', '')]
                                                        if backbone_only else []))


def export(model, names, args):
    x = torch.randn(args.batch, 3, *args.shape)
    kwargs = {}
    if args.dynamic:
        backbone = model if args.backbone_only else model.model.backbone
        if type(backbone).__name__ not in DYNAMIC_HW:
            sys.exit(f'--dynamic: {type(backbone).__name__} builds its attention layout per '
                     f'input size; export one file per size (dynamic H/W: {list(DYNAMIC_HW)})')
        kwargs['dynamic_axes'] = {'input': {0: 'batch', 2: 'height', 3: 'width'},
                                  **{n: {0: 'batch', 2: f'{n}_h', 3: f'{n}_w'}
                                     for n in names if n != 'logits'}}
        if 'logits' in names:
            kwargs['dynamic_axes']['logits'] = {0: 'batch'}
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    # The TorchScript exporter: it exports all four reference paths in seconds; torch.export
    # (dynamo=True) fails on Focal's and takes minutes on SASA's.
    with torch.no_grad():
        torch.onnx.export(model, (x, ), args.out, input_names=['input'], output_names=names,
                          opset_version=OPSET, dynamo=False, **kwargs)
    return x


def verify(model, path, x):
    """Largest relative difference (max |a - b| / max |b|, per output) between onnxruntime
    and PyTorch on ``x``."""
    import onnxruntime as ort
    sess = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    got = sess.run(None, {'input': x.numpy()})
    with torch.no_grad():
        want = model(x)
    want = [want] if torch.is_tensor(want) else list(want)
    return max(float(abs(torch.from_numpy(g) - w).max() / w.abs().max().clamp_min(1e-12))
               for g, w in zip(got, want))


def main(argv=None):
    args = parse_args(argv)
    model, names = build(args)
    x = export(model, names, args)
    print(f'wrote {args.out} (input {tuple(x.shape)}, outputs {names}, opset {OPSET})')
    if args.verify:
        print(f'onnxruntime vs PyTorch: max relative difference {verify(model, args.out, x):.2e}')


if __name__ == '__main__':
    main()
