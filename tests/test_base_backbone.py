import sys
import types

import pytest
import torch
from mmengine.runner import save_checkpoint
from torch import nn

from mmvit_plugins.models.backbones.base import BaseBackbone, drop_path_rates


# a converter module as the families have one: the official layout names the stem 'official.w'
_converter = types.ModuleType('mmvit_plugins.converters.tiny')
_converter.is_official = lambda sd: 'official.w' in sd
_converter.convert = lambda sd: {'backbone.stem.weight': sd['official.w']}
sys.modules[_converter.__name__] = _converter


class TinyBackbone(BaseBackbone):
    converter = 'tiny'

    def __init__(self, width=4, **kwargs):
        super().__init__(**kwargs)
        self.stem = nn.Conv2d(3, width, 3)
        self.bn = nn.BatchNorm2d(width)
        self.stage = nn.Linear(width, width)
        self._freeze_stages()

    def _freeze_stages(self):
        if self.frozen_stages >= 0:
            self._freeze_module(self.stem)


def _save(tmp_path, state, name='ckpt.pth'):
    path = str(tmp_path / name)
    torch.save(state, path)
    return path


def test_pretrained_shim():
    with pytest.raises(TypeError):
        TinyBackbone(pretrained=123)
    with pytest.raises(AssertionError):
        TinyBackbone(pretrained='a.pth', init_cfg=dict(type='Pretrained', checkpoint='b.pth'))
    with pytest.warns(UserWarning, match='deprecated'):
        m = TinyBackbone(pretrained='a.pth')
    assert m.init_cfg == dict(type='Pretrained', checkpoint='a.pth')


def test_frozen_in_init_and_norm_eval():
    m = TinyBackbone(frozen_stages=0, norm_eval=True)
    assert not any(p.requires_grad for p in m.stem.parameters())  # before any train() call
    m.train()
    assert not m.stem.training and not m.bn.training and m.stage.training


def test_pretrained_round_trip_with_detector_prefix(tmp_path):
    src = TinyBackbone()
    full = {f'backbone.{k}': v for k, v in src.state_dict().items()}
    full['neck.conv.weight'] = torch.zeros(1)
    path = str(tmp_path / 'det.pth')
    save_checkpoint({'state_dict': full}, path)
    dst = TinyBackbone(init_cfg=dict(type='Pretrained', checkpoint=path, prefix='backbone.'))
    dst.init_weights()
    for k, v in src.state_dict().items():
        assert torch.equal(dst.state_dict()[k], v), k
    # a backbone-only checkpoint works with the same init_cfg
    dst2 = TinyBackbone(init_cfg=dict(type='Pretrained', prefix='backbone.',
                                      checkpoint=_save(tmp_path, src.state_dict(), 'bb.pth')))
    dst2.init_weights()
    assert torch.equal(dst2.stage.weight, src.stage.weight)


def test_checkpoint_of_another_model_fails_loudly(tmp_path):
    path = _save(tmp_path, {'model': {'layers.0.blocks.0.attn.qkv.weight': torch.zeros(3)}})
    m = TinyBackbone(init_cfg=dict(type='Pretrained', checkpoint=path))
    with pytest.raises(ValueError, match='shares no parameter name.*tiny2mmvit.py'):
        m.init_weights()


def test_checkpoint_of_another_size_fails_loudly(tmp_path):
    path = _save(tmp_path, {'state_dict': TinyBackbone(width=8).state_dict()})
    m = TinyBackbone(width=4, init_cfg=dict(type='Pretrained', checkpoint=path))
    with pytest.raises(RuntimeError, match='(?s)another size.*size mismatch'):
        m.init_weights()


def test_missing_checkpoint_file():
    m = TinyBackbone(init_cfg=dict(type='Pretrained', checkpoint='PATH_THAT_DOES_NOT_EXIST'))
    with pytest.raises((FileNotFoundError, OSError)):
        m.init_weights()


def test_drop_path_schedule_is_linear_over_all_blocks():
    rates = drop_path_rates(0.3, [1, 2, 1])
    assert [len(r) for r in rates] == [1, 2, 1]
    flat = sum(rates, [])
    assert flat[0] == 0 and abs(flat[-1] - 0.3) < 1e-7
    assert all(abs((b - a) - 0.1) < 1e-6 for a, b in zip(flat, flat[1:]))


def test_official_checkpoint_is_converted_on_loading(tmp_path):
    src = TinyBackbone()
    path = _save(tmp_path, {'model': {'official.w': src.stem.weight.detach().clone()}})
    m = TinyBackbone(init_cfg=dict(type='Pretrained', checkpoint=path, partial=True))
    m.init_weights()
    assert torch.equal(m.stem.weight, src.stem.weight)


def test_corrupt_or_foreign_file_is_a_clear_error(tmp_path):
    bad = tmp_path / 'bad.pth'
    bad.write_bytes(b'\x00random bytes, not a pickle')
    m = TinyBackbone(init_cfg=dict(type='Pretrained', checkpoint=str(bad)))
    with pytest.raises(ValueError, match='bad.pth is not a readable PyTorch checkpoint'):
        m.init_weights()
    notes = _save(tmp_path, {'epoch': 3}, 'meta.pth')
    m = TinyBackbone(init_cfg=dict(type='Pretrained', checkpoint=notes))
    with pytest.raises(ValueError, match='meta.pth holds no state dict'):
        m.init_weights()


def test_partial_checkpoint_is_an_error_unless_asked_for(tmp_path):
    src = TinyBackbone()
    part = {k: v for k, v in src.state_dict().items() if not k.startswith('stage.')}
    path = _save(tmp_path, part)
    m = TinyBackbone(init_cfg=dict(type='Pretrained', checkpoint=path))
    with pytest.raises(ValueError, match=r"(?s)leaves 2 of the .*\['stage.bias', 'stage.weight'\]"
                                         r'.*partial=True'):
        m.init_weights()
    m = TinyBackbone(init_cfg=dict(type='Pretrained', checkpoint=path, partial=True))
    m.init_weights()
    assert torch.equal(m.stem.weight, src.stem.weight)
    # output norms are optional: an ImageNet checkpoint has none for the dense outputs
    class WithNorm(TinyBackbone):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.norm0 = nn.LayerNorm(4)
    m = WithNorm(init_cfg=dict(type='Pretrained', checkpoint=_save(tmp_path, src.state_dict())))
    m.init_weights()
    assert torch.equal(m.stage.weight, src.stage.weight)
