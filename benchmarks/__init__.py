# rnnlm first, before anything loads numpy: as on the command line, it sets OpenBLAS's idle-thread
# timeout (rnnlm/__init__.py), which OpenBLAS reads only when numpy loads it.
import rnnlm  # noqa: F401
