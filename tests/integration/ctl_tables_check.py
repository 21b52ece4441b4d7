#!/usr/bin/python3
"""sculptctl's tables say what the API's JSON says (tests/integration/api.sh).

    ctl_tables_check.py host TABLE JSON       the Placement inventory block
    ctl_tables_check.py instances TABLE JSON  the CPU_WEIGHT and DOMAIN columns
    ctl_tables_check.py shape TABLE JSON      `instance show`'s shape line
    ctl_tables_check.py events TABLE JSON     `events`: one row per event, every column

TABLE is sculptctl's default output, JSON the same command's `-f json`
output (the api-harness runs without --live: both see the same state).
Numbers are compared as sculptctl renders them (api/ctl_table.c ctl_num).
"""
import json
import math
import sys


def fail(msg):
    print('ctl_tables_check: ' + msg, file=sys.stderr)
    sys.exit(1)


def num(v):
    """api/ctl_table.c ctl_num."""
    if not math.isfinite(v):
        return '-'
    if abs(v) >= 1000 or v == math.floor(v):
        return '%.0f' % v
    return '%.3g' % v


def rows(table, first_header):
    """The rows (lists of cells) of the table whose header starts with
    `first_header`, up to the next blank line."""
    lines = table.splitlines()
    for i, line in enumerate(lines):
        if line.split()[:1] == [first_header]:
            head = line.split()
            out = []
            for row in lines[i + 1:]:
                if not row.strip():
                    break
                out.append(row.split())
            return head, out
    fail('no table headed %s in:\n%s' % (first_header, table))


def check_host(table, doc):
    inv = doc.get('inventory')
    if not isinstance(inv, dict) or sorted(inv) != ['DISK_GB', 'MEMORY_MB', 'VCPU']:
        fail('GET /v1/host has no inventory of VCPU, MEMORY_MB, DISK_GB: %r' % inv)
    if 'Placement inventory' not in table:
        fail('no Placement inventory block in `sculptctl host`')
    head, got = rows(table, 'CLASS')
    if head != ['CLASS', 'TOTAL', 'RESERVED', 'MIN_UNIT', 'MAX_UNIT', 'STEP', 'RATIO', 'HELD',
                'ROOM', 'RECLAIMABLE', 'BOUND']:
        fail('inventory header %r' % head)
    want = [[rc] + ['%d' % it[k] for k in ('total', 'reserved', 'min_unit', 'max_unit',
                                             'step_size')]
            + [num(it[k]) for k in ('allocation_ratio', 'held', 'room', 'reclaimable')]
            + [it.get('bound') or 'ratio'] for rc, it in inv.items()]
    if got != want:
        fail('inventory table %r, the API says %r' % (got, want))
    rep = doc.get('inventory_reported', 'missing')
    if rep == 'missing':
        fail('GET /v1/host has no inventory_reported (null or what Placement got)')
    if rep is None and 'Placement has not been written to yet' not in table:
        fail('`sculptctl host` does not say Placement was never written to')
    if rep is not None:
        said = ('Placement has the same since %s' % rep['time'] in table
                if rep['inventory'] == inv else
                'what Placement got at %s' % rep['time'] in table)
        if not said:
            fail('`sculptctl host` does not show what Placement got (%r)' % rep)
    if not any(it['held'] > 0 for it in inv.values()):
        fail('no class holds anything: the harness\'s guests are not in the inventory')


def check_instances(table, doc):
    lines = table.splitlines()
    if not lines or 'CPU_WEIGHT' not in lines[0].split():
        fail('no CPU_WEIGHT column in `sculptctl instances`: %r' % lines[:1])
    # by position under the header: a name may hold spaces
    at = lines[0].index('CPU_WEIGHT')
    want = {i['uuid']: '%d' % i['shape']['cpu_weight'] for i in doc['instances']}
    seen = {l.split()[0]: l[at:].split()[0] for l in lines[1:] if l.strip()}
    if seen != want or not want:
        fail('CPU_WEIGHT column %r, the API says %r' % (seen, want))
    # the DOMAIN column: what virsh takes, as the API records it
    if 'DOMAIN' not in lines[0].split():
        fail('no DOMAIN column in `sculptctl instances`: %r' % lines[:1])
    at = lines[0].index('DOMAIN')
    want = {i['uuid']: i.get('domain') or '-' for i in doc['instances']}
    seen = {l.split()[0]: l[at:].split()[0] for l in lines[1:] if l.strip()}
    if seen != want:
        fail('DOMAIN column %r, the API says %r' % (seen, want))


def check_shape(table, doc):
    line = [l for l in table.splitlines() if l.startswith('shape ')]
    want = 'weight %d)' % doc['shape']['cpu_weight']
    if len(line) != 1 or want not in line[0]:
        fail('`instance show` shape line %r lacks `%s`' % (line, want))


def check_events(table, doc):
    lines = [l for l in table.splitlines() if l.strip()]
    head = ['TIME', 'INSTANCE', 'SOURCE', 'ACTION', 'CODE', 'MS', 'MESSAGE']
    if not lines or lines[0].split() != head:
        fail('`sculptctl events` header %r' % lines[:1])
    # cells by position under the header: actions and messages hold spaces
    starts = [lines[0].index(h) for h in head] + [None]
    seen = [[l[starts[i]:starts[i + 1]].strip() for i in range(len(head))]
            for l in lines[1:] if not l.startswith('(more than')]
    want = [[e['time'], e['instance'] or '-', e['source'], e['action'], e['code'],
             '-' if e['duration_ms'] is None else num(e['duration_ms']), e['message'] or '-']
            for e in doc['events']]
    if seen != want or not want:
        fail('`sculptctl events` rows %r, the API says %r' % (seen, want))
    more = any(l.startswith('(more than') for l in lines)
    if more != doc['more']:
        fail('`sculptctl events` says more: %s, the API: %s' % (more, doc['more']))


def main():
    kind, table_path, json_path = sys.argv[1:4]
    with open(table_path) as f:
        table = f.read()
    with open(json_path) as f:
        doc = json.load(f)
    {'host': check_host, 'instances': check_instances, 'shape': check_shape,
     'events': check_events}[kind](table, doc)


if __name__ == '__main__':
    main()
