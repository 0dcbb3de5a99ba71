"""What a run records about its world: the machine, and the files it read."""

import hashlib
import os
import platform
import socket
from pathlib import Path


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine():
    """CPU model, cores, Python, numpy and the BLAS it was built with."""
    import numpy as np
    blas = {}
    try:
        found = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        blas = {"name": found.get("name"), "version": found.get("version")}
    except Exception:           # numpy's build info is informative, never required
        pass
    return {"cpu": _cpu_model(), "cores": os.cpu_count(), "host": socket.gethostname(),
            "python": platform.python_version(), "numpy": np.__version__, "blas": blas}


def file_fingerprint(path):
    """{"path", "bytes", "sha256"} of one file, read in 1 MiB pieces."""
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as f:
        while piece := f.read(1 << 20):
            digest.update(piece)
            size += len(piece)
    return {"path": str(path), "bytes": size, "sha256": digest.hexdigest()}


def corpus_record(path, name=None):
    """What a training read: a corpus file, or a directory's *train*/*valid*/*test* files as
    training reads them (see read_record)."""
    from ..data import _discover
    path = Path(path)
    files = [p for p in _discover(path).values() if p is not None] if path.is_dir() else [path]
    return read_record(files, str(path), name or path.name)


def read_record(files, path=None, name=None):
    """What a run read -> {"path", "name", "bytes", "files": [{"path", "bytes", "sha256"}]}.

    stdin ("-"), a pipe (<(zcat ...)) or a file gone since was read once: it is listed by its
    path alone, without a fingerprint.
    """
    found = []
    for f in files:
        try:
            found.append(file_fingerprint(f) if Path(f).is_file() else {"path": str(f)})
        except OSError:
            found.append({"path": str(f)})
    return {"path": path or " ".join(map(str, files)),
            "name": name or ", ".join(Path(f).name or "-" for f in files),
            "bytes": sum(f.get("bytes", 0) for f in found), "files": found}
