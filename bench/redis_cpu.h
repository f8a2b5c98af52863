/* redis_cpu: the CPU time Redis servers have used (INFO: used_cpu_sys +
 * used_cpu_user), masters and replicas apart, so a benchmark can report
 * Redis CPU seconds per operation over one phase. */
#ifndef SA_BENCH_REDIS_CPU_H
#define SA_BENCH_REDIS_CPU_H

#include <stddef.h>

#define REDIS_CPU_NODES_MAX 64

struct redis_cpu {
    double master_s;  /* summed over the nodes that answered role:master */
    double replica_s; /* summed over the others */
    int nodes;        /* how many answered */
};

/* Reads every node of nodes ("host:port,host:port,...", the syntax of
 * REDIS_CLUSTER_NODES) once. Returns 0 with out filled, or -1 with err when
 * the list is bad or a node did not answer (out then unusable). */
int redis_cpu_read(const char *nodes, struct redis_cpu *out, char *err, size_t errlen);

#endif
