"""Local net-snmp agents for trying snmp-stream without a network: `snmp-stream collect` with no
targets starts a few with `local_agents()`, collects from them and stops them.

The agents are real `snmpd` processes (Debian's `snmpd` package) on 127.0.0.1 and ::1, on free
ports, serving this machine's own MIB-2 tables with community "public", started by the
project's snmpd launcher (`snmp_stream.snmpd`). To run some until Ctrl-C:
`snmp-stream demo-agent [--count N]` or `python -m snmp_stream.demo [--count N]`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from snmp_stream import snmpd
from snmp_stream.snmpd import closed_port, free_port

__all__ = ["closed_port", "free_port", "local_agents"]

CONFIG = """\
rocommunity  public default
rocommunity6 public default
sysLocation  snmp-stream demo lab
sysContact   ops@example.net
sysName      {name}
sysServices  72
"""


def _answers(host: str) -> bool:
    """True once an SNMP GET of sysName.0 on `host` gets an answer (with snmp-stream itself: the
    demo needs Debian's snmpd package, not the snmp tools)."""
    import snmp_stream

    response = snmp_stream.get(host, "public", "1.3.6.1.2.1.1.5.0", config={"timeout": 0.2, "retries": 0})
    return response.status == "successful"


@contextlib.contextmanager
def local_agents(count: int = 3) -> Iterator[list[str]]:
    """Starts `count` snmpd agents (sysName "demo-agent-N"); yields their hosts (alternately
    "127.0.0.1:PORT" and "udp6:[::1]:PORT"), and stops them on exit."""
    with contextlib.ExitStack() as stack:
        hosts = []
        for n in range(count):
            config = CONFIG.format(name=f"demo-agent-{n + 1}")
            [agent] = stack.enter_context(snmpd.agents(config_text=config, probe=_answers, ready_timeout=10))
            hosts.append(agent.host if n % 2 == 0 else agent.host6)
        yield hosts


if __name__ == "__main__":
    import sys

    from snmp_stream.cli import main

    sys.exit(main(["demo-agent", *sys.argv[1:]]))
