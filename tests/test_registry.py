"""Registration: a bare type name resolves under the mmdet, mmseg and mmpretrain scopes after
``custom_imports``, and importing the plugin imports none of the toolboxes."""
import subprocess
import sys

import pytest

from utils import REPO

BACKBONES = ['FocalTransformer', 'ShuntedTransformer', 'DAT', 'SASAResNet']


def _run(code):
    proc = subprocess.run([sys.executable, '-c', code], cwd=REPO, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


def test_import_does_not_import_the_toolboxes():
    out = _run('import sys, mmvit_plugins\n'
               'print(sorted(m for m in ("mmdet", "mmseg", "mmpretrain") if m in sys.modules))')
    assert out.strip() == '[]'


@pytest.mark.parametrize('scope', ['mmdet', 'mmseg', 'mmpretrain'])
def test_bare_type_resolves_after_custom_imports(scope, tmp_path):
    cfg = tmp_path / 'cfg.py'
    cfg.write_text("custom_imports = dict(imports=['mmvit_plugins'], "
                   f"allow_failed_imports=False)\ndefault_scope = '{scope}'\n")
    out = _run(f"""
import sys
from mmengine.config import Config
from mmengine.registry import init_default_scope
assert 'mmvit_plugins' not in sys.modules
cfg = Config.fromfile({str(cfg)!r})  # custom_imports imports the plugin here
init_default_scope(cfg.default_scope)
from {scope}.registry import MODELS
for name in {BACKBONES!r}:
    cls = MODELS.get(name)
    assert cls is not None, name
    assert cls.__module__.startswith('mmvit_plugins.'), cls.__module__
print('ok')
""")
    assert out.strip().endswith('ok')
