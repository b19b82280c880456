/*
 * delayagent: a net-snmp snmpd extension module (dlmod) serving a synthetic table whose
 * answers arrive DELAYAGENT_DELAY_MS milliseconds late, without blocking the agent.
 * Benchmark infrastructure for snmp-stream (issue 3): on loopback there is no round-trip
 * time, so benchmarks with many targets would otherwise measure CPU, not concurrency.
 *
 * Table (under the enterprise OID 1.3.6.1.4.1.99999.1, i.e. TABLE.1.COLUMN.ROW):
 *   .1.1.R  INTEGER       R                       (the index, R = 1 .. ROWS)
 *   .1.2.R  OCTET STRING  "row-R"
 *   .1.3.R  Counter32     R * 1000 (mod 2^32)
 *   .1.4.R  Counter64     high = R, low = R       (R * 2^32 + R)
 *   .1.5.R  Gauge32       R % 1000
 *
 * Environment (read once, when snmpd loads the module):
 *   DELAYAGENT_ROWS      rows, default 100 (0 .. 100000000)
 *   DELAYAGENT_DELAY_MS  delay per request PDU in milliseconds, default 10 (0 = answer at once)
 *
 * Load it with `dlmod delayagent /path/to/delayagent.so` in snmpd.conf.
 *
 * How the delay works (see net-snmp's agent/mibgroup/examples/delayed_instance.c): the first
 * time the handler sees a PDU (GET, GETNEXT or GETBULK), it marks its requests delegated,
 * keeps a netsnmp_delegated_cache and registers a one-shot snmp_alarm_register_hr() alarm.
 * snmpd goes on serving other PDUs meanwhile. The alarm callback fills in the values, clears
 * `delegated`, and snmpd's main loop (netsnmp_check_outstanding_agent_requests) completes the
 * PDU. A GETBULK needs one handler call per repetition; only the first call of a PDU is
 * delayed (a marker in the PDU's agent_request_info), so every PDU costs one delay in all.
 */
#include <net-snmp/net-snmp-config.h>
#include <net-snmp/net-snmp-includes.h>
#include <net-snmp/agent/net-snmp-agent-includes.h>
#include <net-snmp/agent/bulk_to_next.h>

#include <stdlib.h>
#include <string.h>

#define N_COLUMNS 5
#define MARKER "delayagent:delayed"

static oid      table_oid[] = { 1, 3, 6, 1, 4, 1, 99999, 1 };
#define TABLE_LEN OID_LENGTH(table_oid)
/* TABLE.1.COLUMN.ROW */
#define ENTRY_LEN (TABLE_LEN + 1)
#define COLUMN_POS (TABLE_LEN + 1)
#define ROW_POS (TABLE_LEN + 2)
#define INSTANCE_LEN (TABLE_LEN + 3)

static unsigned long rows = 100;
static unsigned long delay_ms = 10;
static int      marker_data;    /* the marker's (unused) data: its address only */
static netsnmp_handler_registration *registration;

static unsigned long
env_number(const char *name, unsigned long fallback, unsigned long max)
{
    const char     *text = getenv(name);
    char           *end;
    unsigned long   value;

    if (!text || !*text)
        return fallback;
    value = strtoul(text, &end, 10);
    if (*end || value > max) {
        snmp_log(LOG_ERR, "delayagent: %s=%s is not a number in 0..%lu, using %lu\n",
                 name, text, max, fallback);
        return fallback;
    }
    return value;
}

/* Sets `vb` to the value of (column, row); both must be in range. */
static void
set_value(netsnmp_variable_list *vb, unsigned long column, unsigned long row)
{
    char            text[32];
    struct counter64 c64;

    switch (column) {
    case 1:
        snmp_set_var_typed_integer(vb, ASN_INTEGER, (long) row);
        break;
    case 2:
        snprintf(text, sizeof(text), "row-%lu", row);
        snmp_set_var_typed_value(vb, ASN_OCTET_STR, text, strlen(text));
        break;
    case 3:
        snmp_set_var_typed_integer(vb, ASN_COUNTER, (long) ((row * 1000UL) & 0xffffffffUL));
        break;
    case 4:
        c64.high = row & 0xffffffffUL;
        c64.low = row & 0xffffffffUL;
        snmp_set_var_typed_value(vb, ASN_COUNTER64, &c64, sizeof(c64));
        break;
    default:
        snmp_set_var_typed_integer(vb, ASN_GAUGE, (long) (row % 1000));
        break;
    }
}

/* Is `name` TABLE.1 followed by at least one more sub-identifier? */
static int
in_entry(const oid *name, size_t len)
{
    return len > ENTRY_LEN && memcmp(name, table_oid, sizeof(table_oid)) == 0 &&
        name[TABLE_LEN] == 1;
}

/* GET: the exact instance, or noSuchInstance / noSuchObject. */
static void
answer_get(netsnmp_variable_list *vb)
{
    if (!in_entry(vb->name, vb->name_length) || vb->name[COLUMN_POS] < 1 ||
        vb->name[COLUMN_POS] > N_COLUMNS) {
        snmp_set_var_typed_value(vb, SNMP_NOSUCHOBJECT, NULL, 0);
        return;
    }
    if (vb->name_length != INSTANCE_LEN || vb->name[ROW_POS] < 1 || vb->name[ROW_POS] > rows) {
        snmp_set_var_typed_value(vb, SNMP_NOSUCHINSTANCE, NULL, 0);
        return;
    }
    set_value(vb, vb->name[COLUMN_POS], vb->name[ROW_POS]);
}

/* GETNEXT: the first instance after vb->name, or nothing (the agent then moves on). */
static void
answer_getnext(netsnmp_variable_list *vb)
{
    oid             next[INSTANCE_LEN];
    oid             first[INSTANCE_LEN];
    unsigned long   column, row;

    memcpy(first, table_oid, sizeof(table_oid));
    first[TABLE_LEN] = 1;
    first[COLUMN_POS] = 1;
    first[ROW_POS] = 1;
    if (rows == 0)
        return;
    if (snmp_oid_compare(vb->name, vb->name_length, first, INSTANCE_LEN) < 0) {
        column = 1;
        row = 1;
    } else if (in_entry(vb->name, vb->name_length)) {
        /* name >= TABLE.1.1.1, so its column is >= 1 */
        column = vb->name[COLUMN_POS];
        if (column > N_COLUMNS)
            return;
        if (vb->name_length == COLUMN_POS + 1)
            row = 1;            /* TABLE.1.C itself */
        else if (vb->name[ROW_POS] < rows)
            row = vb->name[ROW_POS] + 1;        /* TABLE.1.C.R or below it */
        else {
            column++;
            row = 1;
        }
        if (column > N_COLUMNS)
            return;
    } else {
        return;                 /* past TABLE.1 */
    }
    memcpy(next, first, sizeof(first));
    next[COLUMN_POS] = column;
    next[ROW_POS] = row;
    snmp_set_var_objid(vb, next, INSTANCE_LEN);
    set_value(vb, column, row);
}

static void
answer(int mode, netsnmp_request_info *requests)
{
    netsnmp_request_info *request;

    for (request = requests; request; request = request->next) {
        if (request->processed)
            continue;
        if (mode == MODE_GET)
            answer_get(request->requestvb);
        else
            answer_getnext(request->requestvb);
    }
}

static void
delayed_answer(unsigned int clientreg, void *clientarg)
{
    netsnmp_delegated_cache *cache = netsnmp_handler_check_cache(clientarg);
    netsnmp_request_info *request;

    (void) clientreg;
    if (!cache) {
        /* The PDU is gone (it cannot, for UDP; be safe). */
        netsnmp_free_delegated_cache(clientarg);
        return;
    }
    answer(cache->reqinfo->mode, cache->requests);
    for (request = cache->requests; request; request = request->next)
        request->delegated = 0;
    /*
     * The bulk_to_next helper in front of this handler advances each GETBULK request to its
     * next repetition right after the handler returns, which was before the values existed;
     * do it now (exactly what it would have done on an undelayed answer).
     */
    if (cache->reqinfo->mode == MODE_GETBULK)
        netsnmp_bulk_to_next_fix_requests(cache->requests);
    netsnmp_free_delegated_cache(cache);
}

static int
delayagent_handler(netsnmp_mib_handler *handler, netsnmp_handler_registration *reginfo,
                   netsnmp_agent_request_info *reqinfo, netsnmp_request_info *requests)
{
    netsnmp_request_info *request;
    netsnmp_delegated_cache *cache;
    struct timeval  delay;

    if (reqinfo->mode != MODE_GET && reqinfo->mode != MODE_GETNEXT) {
        /* Read-only; the agent answers SETs with notWritable / noAccess itself. */
        return SNMP_ERR_NOERROR;
    }
    if (delay_ms == 0 || netsnmp_agent_get_list_data(reqinfo, MARKER)) {
        answer(reqinfo->mode, requests);        /* this PDU has had its delay */
        return SNMP_ERR_NOERROR;
    }
    netsnmp_agent_add_list_data(reqinfo, netsnmp_create_data_list(MARKER, &marker_data, NULL));
    cache = netsnmp_create_delegated_cache(handler, reginfo, reqinfo, requests, NULL);
    if (!cache) {
        answer(reqinfo->mode, requests);
        return SNMP_ERR_NOERROR;
    }
    delay.tv_sec = delay_ms / 1000;
    delay.tv_usec = (delay_ms % 1000) * 1000;
    if (snmp_alarm_register_hr(delay, 0, delayed_answer, cache) == 0) {
        snmp_log(LOG_ERR, "delayagent: could not register an alarm; answering at once\n");
        netsnmp_free_delegated_cache(cache);
        answer(reqinfo->mode, requests);
        return SNMP_ERR_NOERROR;
    }
    for (request = requests; request; request = request->next)
        request->delegated = 1;
    return SNMP_ERR_NOERROR;
}

void
init_delayagent(void)
{
    netsnmp_handler_registration *reg;

    if (registration)
        return;
    rows = env_number("DELAYAGENT_ROWS", rows, 100000000UL);
    delay_ms = env_number("DELAYAGENT_DELAY_MS", delay_ms, 3600000UL);
    reg = netsnmp_create_handler_registration("delayagent", delayagent_handler, table_oid,
                                              TABLE_LEN, HANDLER_CAN_RONLY);
    if (!reg || netsnmp_register_handler(reg) != MIB_REGISTERED_OK) {
        snmp_log(LOG_ERR, "delayagent: could not register .1.3.6.1.4.1.99999.1\n");
        return;
    }
    registration = reg;
    snmp_log(LOG_INFO, "delayagent: %lu rows x %d columns under .1.3.6.1.4.1.99999.1, "
             "%lu ms per request PDU\n", rows, N_COLUMNS, delay_ms);
}

void
deinit_delayagent(void)
{
    if (registration)
        netsnmp_unregister_handler(registration);
    registration = NULL;
}
