"""Generate the deterministic toy datasets (COCO, ADE20K and ImageNet layouts) under --out."""
import argparse
import time

from mmvit_plugins.datasets.toy import generate_all


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--out', default='data', help='output folder (default: data)')
    parser.add_argument('--only', nargs='+', choices=['toy_coco', 'toy_ade20k', 'toy_imagenet'],
                        help='generate only these sets')
    args = parser.parse_args()
    t0 = time.time()
    for name, path in generate_all(args.out, args.only).items():
        print(f'{name}: {path}')
    print(f'done in {time.time() - t0:.1f}s')


if __name__ == '__main__':
    main()
