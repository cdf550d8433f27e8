"""Evaluate a checkpoint of a detector (mmdet), segmentor (mmseg) or classifier (mmpretrain).

The toolbox is the config's ``default_scope``. Metrics are printed and written to
``<work-dir>/<timestamp>/<timestamp>.json``.
"""
import argparse
import os
import os.path as osp
import sys

from mmengine.config import Config, ConfigDict, DictAction
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

import mmvit_plugins  # noqa: F401  (registers the backbones)
from mmvit_plugins.utils.launch import (check_checkpoint_matches,
                                        check_dataset_paths, config_path, default_work_dir,
                                        setup_cpu_distributed, teardown_distributed)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test (and evaluate) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the dir to save the evaluation metrics')
    parser.add_argument('--out', help='dump the raw predictions to this pickle file '
                        '(mmseg: a folder for the predicted label maps)')
    parser.add_argument('--show-dir', help='save images with drawn predictions here')
    parser.add_argument('--tta', action='store_true',
                        help='test-time augmentation (needs tta_model and tta_pipeline in the '
                        'config)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, xxx=yyy format')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def enable_visualization(cfg, show_dir, scope):
    hooks = cfg.get('default_hooks', {})
    if 'visualization' not in hooks:
        sys.exit('--show-dir needs a `visualization` entry in default_hooks')
    hook = hooks['visualization']
    if scope == 'mmpretrain':
        hook.update(enable=True, out_dir=show_dir)
    elif scope == 'mmseg':
        hook.update(draw=True, interval=1)
        cfg.visualizer['save_dir'] = show_dir
    else:  # mmdet: images go to <work_dir>/<timestamp>/<test_out_dir>
        hook.update(draw=True, test_out_dir=osp.abspath(show_dir))


def enable_tta(cfg):
    """Wrap the model in the config's ``tta_model`` and test with ``tta_pipeline`` (as the
    toolboxes' own test.py do)."""
    missing = [k for k in ('tta_model', 'tta_pipeline') if not cfg.get(k)]
    if missing:
        sys.exit(f'--tta needs {" and ".join(missing)} in the config (e.g. mmdet: '
                 "tta_model = dict(type='DetTTAModel', ...) and a TestTimeAug pipeline; the "
                 'toolboxes\' dataset bases define tta_pipeline)')
    cfg.model = ConfigDict(**cfg.tta_model, module=cfg.model)
    dataset = cfg.test_dataloader.dataset
    while 'dataset' in dataset:  # wrappers (ConcatDataset, RepeatDataset, ...)
        dataset = dataset['dataset']
    if 'batch_shapes_cfg' in dataset:  # YOLO-style batch shapes do not apply to TTA
        dataset.batch_shapes_cfg = None
    dataset.pipeline = cfg.tta_pipeline


def add_dump(cfg, out, scope):
    if scope == 'mmseg':
        cfg.test_evaluator['output_dir'] = out
        cfg.test_evaluator['keep_results'] = True
        return
    if not out.endswith(('.pkl', '.pickle')):
        sys.exit('--out must be a .pkl/.pickle file')
    dump = dict(type='DumpDetResults' if scope == 'mmdet' else 'DumpResults', out_file_path=out)
    if isinstance(cfg.test_evaluator, (list, tuple)):
        cfg.test_evaluator = [*cfg.test_evaluator, dump]
    else:
        cfg.test_evaluator = [cfg.test_evaluator, dump]


def main(argv=None):
    args = parse_args(argv)
    args.config = config_path(args.config)
    for path, what in ((args.config, 'config'), (args.checkpoint, 'checkpoint')):
        if not osp.isfile(path):
            sys.exit(f'{what} not found: {path}')
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    scope = cfg.get('default_scope', 'mmdet')
    cfg.work_dir = args.work_dir or cfg.get('work_dir') or default_work_dir(args.config)
    cfg.load_from = args.checkpoint
    if args.tta:
        enable_tta(cfg)
    if args.show_dir:
        enable_visualization(cfg, args.show_dir, scope)
    if args.out:
        add_dump(cfg, args.out, scope)
    try:
        check_dataset_paths(cfg, ('test_dataloader', ))
    except FileNotFoundError as e:
        sys.exit(str(e))
    setup_cpu_distributed(cfg, args.launcher)

    runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
    try:
        check_checkpoint_matches(runner.model, args.checkpoint)
    except (ValueError, FileNotFoundError) as e:
        sys.exit(str(e))
    runner.test()
    teardown_distributed()


if __name__ == '__main__':
    main()
