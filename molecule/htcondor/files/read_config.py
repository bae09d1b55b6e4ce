"""Print HTCondor configuration values as JSON, read with HTCondor's own parser.

Runs inside the test host with the htcondor wheel unpacked on PYTHONPATH and CONDOR_CONFIG
pointing at the top-level file; a configuration HTCondor cannot read makes the import fail
(exit code 1 and HTCondor's message on stderr).

    python3 read_config.py NAME...
"""

import json
import sys

import htcondor2

print(json.dumps({name: htcondor2.param.get(name) for name in sys.argv[1:]}, sort_keys=True))
