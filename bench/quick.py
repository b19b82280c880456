#!/usr/bin/env python3
"""A quick, hand-run comparison with net-snmp's snmpbulkwalk on the same agent and subtree.

Starts snmpd on loopback (python/snmp_stream/agent.conf, with bench/agents.py's loopback_agents),
walks SUBTREE N times with each tool (one walk at a time, same max-repetitions), and prints
wall time and client CPU time per varbind with their ratios. Run it by hand; it is not part of the test suite:

    bench/quick.py [--subtree OID] [--runs N] [--max-repetitions N]
"""
import argparse
import resource
import subprocess
import time
from pathlib import Path

from agents import loopback_agents  # the project's snmpd launcher (python/snmp_stream/snmpd.py)

ROOT = Path(__file__).resolve().parent.parent


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(command: list[str], runs: int) -> tuple[float, float, str]:
    """Runs `command` `runs` times; returns wall seconds, child CPU seconds, last stdout."""
    cpu, wall, out = children_cpu(), time.perf_counter(), ""
    for _ in range(runs):
        out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return time.perf_counter() - wall, children_cpu() - cpu, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subtree", default="1.3.6.1.2.1.25.6.3")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--max-repetitions", type=int, default=25)
    args = parser.parse_args()
    subprocess.run([ROOT / "scripts/setup.sh"], check=True)
    subprocess.run(["cargo", "build", "--release", "--locked", "--quiet", "--example", "walk"], cwd=ROOT, check=True)

    with loopback_agents(1) as [host]:
        reps = args.max_repetitions
        bulkwalk = ["snmpbulkwalk", "-v2c", "-c", "public", "-On", "-Oq", f"-Cr{reps}", host, args.subtree]
        net_wall, net_cpu, out = measure(bulkwalk, args.runs)
        count = len(out.splitlines())
        ours_cmd = [ROOT / "target/release/examples/walk", host, args.subtree, "-Cr", str(reps),
                    "--repeat", str(args.runs)]
        our_wall, our_cpu, ours = measure(ours_cmd, 1)
    fields = dict(kv.split("=") for kv in ours.split())
    assert int(fields["varbinds"]) == count * args.runs, (fields, count)
    per = count * args.runs
    print(f"agent {host}, subtree {args.subtree}: {count} varbinds per walk, {args.runs} walks, "
          f"max-repetitions {reps}")
    print(f"{'client':<14}{'wall s':>9}{'CPU s':>9}{'CPU us/varbind':>16}")
    print(f"{'snmpbulkwalk':<14}{net_wall:>9.3f}{net_cpu:>9.3f}{net_cpu * 1e6 / per:>16.2f}")
    print(f"{'snmp-stream':<14}{our_wall:>9.3f}{our_cpu:>9.3f}{our_cpu * 1e6 / per:>16.2f}")
    print(f"ratio snmp-stream / snmpbulkwalk: wall {our_wall / net_wall:.2f}x, client CPU {our_cpu / net_cpu:.2f}x")


if __name__ == "__main__":
    main()
