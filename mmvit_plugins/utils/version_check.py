"""Import-time check of the OpenMMLab stack, with a one-sentence fix for each mismatch."""
import importlib.metadata as metadata
import os

from packaging.version import Version

# name -> (import name, min inclusive, max exclusive, fix)
_REQUIREMENTS = {
    'torch': ('torch', '2.0.0', None,
              'pip install "torch==2.11.0" "torchvision==0.26.0" and rebuild mmcv against it '
              '(make env)'),
    'mmengine': ('mmengine', '0.10.6', '1.0.0',
                 'pip install "mmengine==0.10.7" (0.10.6+ is needed for torch>=2.5)'),
    'mmcv': ('mmcv', '2.0.0', '2.2.0',
             'build the pinned mmcv with `make env` (mmcv==2.1.0 from source with '
             'MMCV_WITH_OPS=1 --no-build-isolation); mmdet 3.3.0 and mmseg 1.2.2 reject 2.2.0'),
    'mmdet': ('mmdet', '3.0.0', '4.0.0', 'pip install "mmdet==3.3.0"'),
    'mmsegmentation': ('mmseg', '1.0.0', '2.0.0', 'pip install "mmsegmentation==1.2.2"'),
    'mmpretrain': ('mmpretrain', '1.0.0', '2.0.0', 'pip install "mmpretrain==1.2.0"'),
}
_REQUIRED = ('torch', 'mmengine', 'mmcv')


def _installed_version(dist_name):
    try:
        return metadata.version(dist_name)
    except metadata.PackageNotFoundError:
        if dist_name == 'mmcv':  # mmcv-lite provides the mmcv module too
            try:
                return metadata.version('mmcv-lite')
            except metadata.PackageNotFoundError:
                return None
        return None


def version_problems(versions=None):
    """Return a list of one-sentence problems (empty when the stack is fine).

    Args:
        versions (dict, optional): ``{distribution: version or None}`` to check instead of
            the installed ones (used by the tests).
    """
    problems = []
    for dist, (module, vmin, vmax, fix) in _REQUIREMENTS.items():
        found = (versions.get(dist) if versions is not None else _installed_version(dist))
        if found is None:
            if dist in _REQUIRED:
                problems.append(f'mmvit_plugins needs {module} but it is not installed: {fix}.')
            continue
        v = Version(found.split('+')[0])
        if v < Version(vmin) or (vmax is not None and v >= Version(vmax)):
            span = f'>={vmin}' + (f',<{vmax}' if vmax else '')
            problems.append(f'mmvit_plugins needs {dist}{span} but {found} is installed: {fix}.')
    return problems


def check_versions():
    """Raise ImportError naming each mismatch and its fix.

    Set ``MMVIT_SKIP_VERSION_CHECK=1`` to turn the check into a warning.
    """
    problems = version_problems()
    if not problems:
        return
    msg = '\n'.join(problems)
    if os.environ.get('MMVIT_SKIP_VERSION_CHECK') == '1':
        import warnings
        warnings.warn(msg)
        return
    raise ImportError(msg + '\n(Set MMVIT_SKIP_VERSION_CHECK=1 to import anyway.)')
