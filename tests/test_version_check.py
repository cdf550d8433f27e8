import pytest

from mmvit_plugins.utils import version_check
from mmvit_plugins.utils.version_check import version_problems

GOOD = {'torch': '2.11.0+cu130', 'mmengine': '0.10.7', 'mmcv': '2.1.0', 'mmdet': '3.3.0',
        'mmsegmentation': '1.2.2', 'mmpretrain': '1.2.0'}


def test_pinned_stack_is_accepted():
    assert version_problems(GOOD) == []
    assert version_problems() == []  # the installed environment


def test_mmcv_220_is_explained_with_the_fix():
    problems = version_problems(dict(GOOD, mmcv='2.2.0'))
    assert len(problems) == 1
    assert 'mmcv>=2.0.0,<2.2.0' in problems[0] and '2.2.0 is installed' in problems[0]
    assert 'mmcv==2.1.0' in problems[0]


def test_old_mmengine_and_missing_torch():
    problems = version_problems(dict(GOOD, mmengine='0.10.4', torch=None))
    assert any('mmengine>=0.10.6' in p for p in problems)
    assert any('needs torch but it is not installed' in p for p in problems)


def test_optional_toolboxes_may_be_absent_but_not_wrong():
    assert version_problems(dict(GOOD, mmdet=None, mmsegmentation=None, mmpretrain=None)) == []
    problems = version_problems(dict(GOOD, mmdet='2.28.2'))
    assert problems and 'mmdet==3.3.0' in problems[0]


def test_check_versions_raises_and_can_be_downgraded(monkeypatch):
    monkeypatch.setattr(version_check, '_installed_version',
                        lambda d: dict(GOOD, mmcv='2.2.0').get(d))
    with pytest.raises(ImportError, match='mmcv'):
        version_check.check_versions()
    monkeypatch.setenv('MMVIT_SKIP_VERSION_CHECK', '1')
    with pytest.warns(UserWarning, match='mmcv'):
        version_check.check_versions()
