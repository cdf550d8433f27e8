import pytest
import torch

from mmvit_plugins.converters.common import (backbone_only, converter_main,
                                             load_checkpoint_file, require_keys,
                                             unwrap_state_dict)


def test_unwrap_containers_and_module_prefix():
    sd = {'a.weight': torch.ones(1), 'b.bias': torch.zeros(1)}
    for wrapped in (sd, {'model': sd, 'epoch': 3}, {'state_dict': sd, 'meta': {}},
                    {'model': {f'module.{k}': v for k, v in sd.items()}}):
        assert list(unwrap_state_dict(wrapped)) == ['a.weight', 'b.bias']


def test_unwrap_rejects_what_is_not_a_state_dict():
    with pytest.raises(ValueError, match='no tensors'):
        unwrap_state_dict({'epoch': 3})
    with pytest.raises(TypeError):
        unwrap_state_dict([1, 2])


def test_corrupt_and_missing_files(tmp_path):
    bad = tmp_path / 'bad.pth'
    bad.write_bytes(b'not a checkpoint')
    with pytest.raises(ValueError, match='not a readable PyTorch checkpoint'):
        load_checkpoint_file(str(bad))
    with pytest.raises(FileNotFoundError):
        load_checkpoint_file(str(tmp_path / 'nope.pth'))


def test_require_keys_names_the_family():
    with pytest.raises(ValueError, match='not a Focal official checkpoint'):
        require_keys({'x': torch.ones(1)}, ['patch_embed.proj.weight'], 'Focal')


def test_converter_cli(tmp_path, capsys):
    src = tmp_path / 'official.pth'
    torch.save({'model': {'module.w': torch.ones(2)}}, src)

    def convert(sd):
        require_keys(sd, ['w'], 'Toy')
        return {'backbone.w': sd['w'] * 2, 'head.fc.weight': torch.zeros(1)}

    dst = tmp_path / 'out' / 'conv.pth'
    converter_main('Toy', convert, [str(src), str(dst), '--backbone-only'])
    out = torch.load(dst, weights_only=False)
    assert list(out['state_dict']) == ['w'] and out['state_dict']['w'].tolist() == [2, 2]
    assert backbone_only({'backbone.x': 1, 'head.y': 2}) == {'x': 1}
    torch.save({'model': {'other': torch.ones(1)}}, src)
    with pytest.raises(SystemExit) as e:
        converter_main('Toy', convert, [str(src), str(dst)])
    assert e.value.code == 2
    assert 'not a Toy official checkpoint' in capsys.readouterr().err
