"""Every config of the papers' tables exists, under the name users know."""
import pytest
from utils import family_configs, missing_configs

SIZES = 'tsb'
EXPECTED = {
    'focal': ([f'{kind}_focal_{a}_{s}_coco' for kind in ('mask_rcnn', 'retinanet')
               for a in SIZES for s in ('1x', '3x')] +
              [f'focal_{a}_in1k' for a in SIZES] +
              [f'upernet_focal_{a}_512x512_160k_ade20k' for a in SIZES] +
              ['cascade_mask_rcnn_focal_t_3x_coco', 'atss_focal_t_3x_coco',
               'sparse_rcnn_focal_t_3x_coco']),
    'shunted': ([f'mask_rcnn_shunted_{a}_{s}_coco' for a in SIZES for s in ('1x', '3x')] +
                [f'{head}_shunted_{a}_512x512_160k_ade20k' for head in ('upernet', 'segformer')
                 for a in SIZES] +
                [f'shunted_{a}_in1k' for a in SIZES] +
                [f'retinanet_shunted_{a}_1x_coco' for a in SIZES]),
    'dat': ([f'dat_{a}_in1k' for a in SIZES] + ['dat_b_in1k_384'] +
            [f'{kind}_dat_{a}_{s}_coco' for kind in ('retinanet', 'mask_rcnn') for a in 'ts'
             for s in ('1x', '3x')] +
            ['cascade_mask_rcnn_dat_t_1x_coco'] +
            [f'cascade_mask_rcnn_dat_{a}_3x_coco' for a in SIZES] +
            [f'upernet_dat_{a}_512x512_160k_ade20k' for a in SIZES] +
            [f'fpn_dat_{a}_512x512_80k_ade20k' for a in SIZES]),
    'sasa': ([f'sasa_r{depth}{stem}_in1k' for depth in (26, 38, 50) for stem in ('', '_full')] +
             [f'retinanet_sasa_r50{stem}_fpn_150e-640_coco' for stem in ('', '_full')] +
             [f'retinanet_sasa_r50{s}_sasa-fpn_sasa-head_150e-640_coco' for s in ('', '_full')] +
             ['retinanet_r50_fpn_150e-640_coco', 'retinanet_sasa_r50_fpn_1x_coco',
              'retinanet_sasa_r50_fpn_3x_coco']),
}


@pytest.mark.parametrize('family', list(EXPECTED))
def test_every_listed_config_exists(family):
    assert not missing_configs(family_configs(family), EXPECTED[family])
