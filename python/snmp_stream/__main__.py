"""`python -m snmp_stream` runs the `snmp-stream` command."""

import sys

from snmp_stream.cli import main

sys.exit(main())
