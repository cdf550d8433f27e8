"""Bad checkpoints and bad input on every family: the Pretrained loader, the converters and
tools/test.py refuse them with a message naming the file and the problem."""
import re

import pytest
import torch
from mmengine.registry import MODELS
from test_backbone_contract import ALL, FAMILIES, build

from mmvit_plugins.converters import dat, focal, shunted
from mmvit_plugins.converters.common import converter_main, describe_checkpoint
from mmvit_plugins.utils.launch import check_checkpoint_matches

CONVERTERS = {'focal': focal, 'shunted': shunted, 'dat': dat}
# a few keys of each family's official layout (what the converters recognise them by)
OFFICIAL = {
    'focal': ['patch_embed.proj.weight', 'layers.0.blocks.0.attn.qkv.weight',
              'layers.0.blocks.0.attn.relative_position_bias_table_to_neighbors'],
    'shunted': ['patch_embed1.conv.0.weight', 'block1.0.attn.q.weight',
                'block1.0.attn.sr1.weight', 'norm4.weight'],
    'dat': ['patch_proj.0.weight', 'stages.0.layer_norms.0.norm.weight',
            'stages.0.attns.1.conv_offset.0.weight'],
}


def _official(family):
    return {k: torch.zeros(2) for k in OFFICIAL[family]}


def _converted(family, prefix='backbone.'):
    return {prefix + k: v for k, v in build(family).state_dict().items()}


def _save(path, state_dict):
    torch.save({'state_dict': state_dict}, path)
    return str(path)


@pytest.mark.parametrize('family', ALL)
def test_describe_checkpoint_tells_families_and_layouts(family):
    assert describe_checkpoint(_converted(family)) == (
        {'focal': 'Focal Transformer', 'shunted': 'Shunted Transformer', 'dat': 'DAT++',
         'sasa': 'SASA'}[family], True)
    if family in OFFICIAL:
        assert describe_checkpoint(_official(family))[1] is False


@pytest.mark.parametrize('family', list(CONVERTERS))
def test_converter_refuses_converted_and_foreign_checkpoints(family):
    convert = CONVERTERS[family].convert
    for prefix in ('backbone.', ''):  # classifier / backbone-only files
        with pytest.raises(ValueError, match='already in the mmvit_plugins layout'):
            convert(_converted(family, prefix))
    for other in CONVERTERS:
        if other == family:
            continue
        name = re.escape(CONVERTERS[other].FAMILY)
        with pytest.raises(ValueError, match=rf'a {name} checkpoint, not a .*'
                                             rf'tools/model_converters/{other}2mmvit.py'):
            convert(_official(other))
        with pytest.raises(ValueError, match=rf'a {name} checkpoint, not .* already in the'):
            convert(_converted(other))
    with pytest.raises(ValueError, match='a SASA checkpoint'):
        convert(_converted('sasa'))


@pytest.mark.parametrize('family', list(CONVERTERS))
def test_converter_cli_names_a_corrupt_file(family, tmp_path, capsys):
    bad = tmp_path / 'download.pth'
    bad.write_bytes(b'\x80\x02 truncated')
    with pytest.raises(SystemExit) as e:
        converter_main(CONVERTERS[family].FAMILY, CONVERTERS[family].convert,
                       [str(bad), str(tmp_path / 'out.pth')])
    assert e.value.code == 2
    assert 'download.pth is not a readable PyTorch checkpoint' in capsys.readouterr().err


@pytest.mark.parametrize('family', ALL)
def test_pretrained_rejects_corrupt_foreign_and_smaller_checkpoints(family, tmp_path):
    bad = tmp_path / 'bad.pth'
    bad.write_bytes(torch.randint(0, 256, (512, ), dtype=torch.uint8).numpy().tobytes())
    with pytest.raises(ValueError, match='bad.pth is not a readable PyTorch checkpoint'):
        build(family, init_cfg=dict(type='Pretrained', checkpoint=str(bad))).init_weights()
    other = 'dat' if family == 'focal' else 'focal'
    foreign = _save(tmp_path / 'other.pth', _converted(other))
    # no shared name, or the shared ones of another shape, or left out tensors
    with pytest.raises((ValueError, RuntimeError),
                       match='other.pth (shares no|does not fit|leaves)'):
        build(family, init_cfg=dict(type='Pretrained', checkpoint=foreign,
                                    prefix='backbone.')).init_weights()
    # another size of the family: fewer blocks in a stage
    small = dict(FAMILIES[family]['cfg'])
    if family == 'sasa':
        small['stage_blocks'] = (1, 1, 1, 1)
        big = dict(stage_blocks=(1, 2, 1, 1))
    else:
        small['arch'] = dict(small['arch'], depths=[1, 1, 1, 1])
        big = {}
    ckpt = _save(tmp_path / 'small.pth', MODELS.build(small).state_dict())
    with pytest.raises(ValueError, match=r'small.pth leaves \d+ of the .*(stages\.|layer)'):
        build(family, init_cfg=dict(type='Pretrained', checkpoint=ckpt), **big).init_weights()


@pytest.mark.parametrize('family', ALL)
def test_input_that_is_not_bchw_float_is_a_clear_error(family):
    model = build(family)
    for x in (torch.randn(3, 64, 64), torch.zeros(1, 3, 64, 64, dtype=torch.long)):
        with pytest.raises(ValueError, match=r'expects a float tensor \(B, C, H, W\)'):
            model(x)


class _Detector(torch.nn.Module):
    def __init__(self, family, **kwargs):
        super().__init__()
        self.backbone = build(family, **kwargs)
        self.head = torch.nn.Linear(4, 2)


def test_test_tool_check_refuses_partial_and_foreign_checkpoints(tmp_path):
    model = _Detector('focal')
    ok = _save(tmp_path / 'ok.pth', model.state_dict())
    check_checkpoint_matches(model, ok)
    # Focal with fewer blocks: its tensors are a subset with the right shapes (more than half
    # of the model), which MMEngine would load with strict=False and evaluate
    smaller = _Detector('focal', arch=dict(FAMILIES['focal']['cfg']['arch'],
                                           depths=[1, 1, 1, 1]))
    part = _save(tmp_path / 'focal_smaller.pth', smaller.state_dict())
    with pytest.raises(ValueError, match=r"focal_smaller.pth does not match .* leaves \d+ of "
                                         r"the model's \d+ tensors uninitialised "
                                         r"\(\['backbone.stages.1'\]\)"):
        check_checkpoint_matches(model, part)
    foreign = _save(tmp_path / 'dat.pth', _Detector('dat').state_dict())
    with pytest.raises(ValueError, match='dat.pth does not match'):
        check_checkpoint_matches(model, foreign)
    official = _save(tmp_path / 'official.pth', _official('shunted'))
    with pytest.raises(ValueError, match='official Shunted Transformer checkpoint: convert it '
                                         'with tools/model_converters/shunted2mmvit.py'):
        check_checkpoint_matches(model, official)
    bad = tmp_path / 'bad.pth'
    bad.write_bytes(b'PK\x03\x04 not really a zip')
    with pytest.raises(ValueError, match='bad.pth is not a readable PyTorch checkpoint'):
        check_checkpoint_matches(model, str(bad))
