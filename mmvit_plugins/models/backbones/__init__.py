# Each family module registers its backbone into MMEngine's root MODELS registry.
# Keep this list in sync with the families in configs/.
__all__ = []
