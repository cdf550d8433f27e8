"""Classes built on mmdet's, without importing mmdet with the plugin (the plugin must not import
the toolboxes itself): the registry holds a builder under each class's name, so
``type='SASAFPN'`` works in any mmdet config, and the class is imported when it is built or
accessed as an attribute of its package."""
import importlib

from mmengine.registry import MODELS


def lazy_classes(package, classes, registered):
    """Register a builder in MODELS for each name in ``registered`` and return the package's
    module ``__getattr__``; ``classes`` maps each class name to its submodule of ``package``."""

    def load(name):
        return getattr(importlib.import_module(f'.{classes[name]}', package), name)

    for name in registered:
        def build(*args, _name=name, **kwargs):
            return load(_name)(*args, **kwargs)
        MODELS.register_module(name=name, module=build)

    def __getattr__(name):
        if name in classes:
            return load(name)
        raise AttributeError(f'module {package!r} has no attribute {name!r}')
    return __getattr__
