"""`make demo`: generate the toy COCO set if missing, train a small Mask R-CNN on the CPU for a
few minutes, evaluate it with the COCO metric, draw its predictions on validation images into a
PNG, and print bbox and segm mAP.
"""
import argparse
import os.path as osp
import time

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))

DEFAULT_CONFIG = osp.join(REPO, 'configs', 'demo', 'mask_rcnn_focal_toy_coco.py')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--config', default=DEFAULT_CONFIG)
    parser.add_argument('--work-dir', default=osp.join(REPO, 'work_dirs', 'demo'))
    parser.add_argument('--data', default=osp.join(REPO, 'data'), help='toy data folder')
    parser.add_argument('--epochs', type=int, help='override the number of epochs')
    parser.add_argument('--num-vis', type=int, default=6, help='images in the prediction PNG')
    return parser.parse_args(argv)


def draw_predictions(runner, cfg, out_file, num_images):
    """Predict on the first validation images and tile the drawings into one PNG."""
    import mmcv
    import numpy as np
    from mmdet.apis import inference_detector
    from mmdet.registry import VISUALIZERS

    model = runner.model
    dataset = runner.test_dataloader.dataset
    model.cfg = cfg  # inference_detector builds its test pipeline from model.cfg
    model.dataset_meta = dataset.metainfo
    model.eval()
    visualizer = VISUALIZERS.build(dict(type='DetLocalVisualizer', name='demo_vis'))
    visualizer.dataset_meta = dataset.metainfo
    tiles = []
    for i in range(min(num_images, len(dataset))):
        path = dataset.get_data_info(i)['img_path']
        result = inference_detector(model, path)
        img = mmcv.imconvert(mmcv.imread(path), 'bgr', 'rgb')
        visualizer.add_datasample('pred', img, data_sample=result, draw_gt=False,
                                  pred_score_thr=0.3)
        tiles.append(mmcv.imresize(visualizer.get_image(), (256, 192)))
    rows = [np.hstack(tiles[k:k + 3] + [np.zeros_like(tiles[0])] * (3 - len(tiles[k:k + 3])))
            for k in range(0, len(tiles), 3)]
    mmcv.imwrite(mmcv.imconvert(np.vstack(rows), 'rgb', 'bgr'), out_file)


def main(argv=None):
    args = parse_args(argv)
    from mmengine.config import Config
    from mmengine.runner import Runner

    import mmvit_plugins  # noqa: F401
    from mmvit_plugins.datasets.toy import generate_all

    t0 = time.time()
    generate_all(args.data, ['toy_coco'])
    cfg = Config.fromfile(args.config)
    data_root = osp.join(args.data, 'toy_coco') + '/'
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].dataset.data_root = data_root
    for evaluator in ('val_evaluator', 'test_evaluator'):
        cfg[evaluator].ann_file = data_root + 'annotations/instances_val2017.json'
    if args.epochs:
        cfg.train_cfg.max_epochs = args.epochs
        cfg.train_cfg.val_interval = args.epochs
    cfg.work_dir = args.work_dir
    print(f'[demo] training {osp.relpath(args.config, REPO)} for {cfg.train_cfg.max_epochs} '
          f'epochs on {data_root} (progress every few iterations, CPU)', flush=True)
    runner = Runner.from_cfg(cfg)
    runner.train()
    metrics = runner.test()
    png = osp.join(args.work_dir, 'predictions.png')
    draw_predictions(runner, cfg, png, args.num_vis)
    print('\n[demo] results on the toy COCO val set (COCO metric):')
    if 'coco/bbox_mAP' not in metrics:
        # mmdet's CocoMetric returns no keys when the model predicted nothing at all
        print('[demo]   the model predicted no boxes on the val set, so every AP is 0 '
              '(an undertrained model: train longer with --epochs)')
    for task in ('bbox', 'segm'):
        print(f'[demo]   {task} mAP: {metrics.get(f"coco/{task}_mAP", 0.0):.3f}  '
              f'(AP50 {metrics.get(f"coco/{task}_mAP_50", 0.0):.3f})')
    print(f'[demo]   predictions drawn in {png}')
    print(f'[demo]   checkpoints and logs in {args.work_dir}; took {time.time() - t0:.0f}s')
    return metrics


if __name__ == '__main__':
    main()
