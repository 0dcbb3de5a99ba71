"""Files shipped with rnnlm: the default model, the jenny probes and validation text.

In a checkout they live in models/ and corpora/jenny/; an installed rnnlm carries them in
<prefix>/share/rnnlm/ (pyproject's data-files), so commands find them from any directory.
"""

import sysconfig
from pathlib import Path

from .errors import DataError

DEFAULT_MODEL = "models/default.npz"
JENNY_PROBES = "corpora/jenny/jenny.probes.tsv"
JENNY_VALID = "corpora/jenny/jenny.valid.txt"


def bundled_path(relative, what, remedy):
    """The shipped file ``relative`` (to the checkout), from the checkout or the installed
    share/rnnlm/; a DataError naming ``what`` and the ``remedy`` when neither has it."""
    candidates = [Path(__file__).resolve().parent.parent / relative,
                  Path(sysconfig.get_path("data")) / "share" / "rnnlm" / Path(relative).name]
    for path in candidates:
        if path.is_file():
            return path
    raise DataError(f"no {what} found (looked for {candidates[-1]}); {remedy}")
