"""Job side of condormap: python runner.py FUNCTION INPUT OUTPUT (in the job's sandbox).

Copied into each map's directory and transferred with every job; it needs only the standard
library and cloudpickle (to load what cloudpickle wrote). The output is a pickled pair:
(True, value) or (False, the traceback as text), so a failure in fn is reported, not lost.
"""

import pickle
import sys
import traceback


def main(argv):
    fn_path, in_path, out_path = argv[1:4]
    import cloudpickle  # noqa: F401  (registers what cloudpickle-made pickles need)

    with open(fn_path, "rb") as f:
        fn = pickle.load(f)  # noqa: S301 (written by the same user's condormap)
    with open(in_path, "rb") as f:
        item = pickle.load(f)  # noqa: S301
    try:
        outcome = (True, fn(item))
    except Exception:
        outcome = (False, traceback.format_exc())
    with open(out_path, "wb") as f:
        pickle.dump(outcome, f)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
