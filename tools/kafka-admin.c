/* kafka-admin: the stack's small Kafka helper — creates topics (idempotent)
 * and waits for the broker — so no Kafka CLI jars are needed; and names the
 * topics of the contract (common/contract.h), so scripts need no copy.
 *   kafka-admin create-topics --bootstrap H:P[,H:P...] --partitions N
 *               [--replication-factor R] [--min-insync-replicas M] [TOPIC...]
 *     (no TOPIC: the contract's topics; R 1 and the broker's M by default)
 *   kafka-admin wait --bootstrap H:P [--timeout-ms N]
 *   kafka-admin topics */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "contract.h"
#include "kafka.h"
#include "log.h"
#include "timeutil.h"

#define ADMIN_TOPICS_MAX 15

static void admin_usage(void)
{
    fprintf(stderr, "usage: kafka-admin create-topics --bootstrap HOST:PORT[,...] [--partitions N] "
                    "[--replication-factor R] [--min-insync-replicas M] [TOPIC...]\n"
                    "       kafka-admin wait --bootstrap HOST:PORT [--timeout-ms N]\n"
                    "       kafka-admin topics\n");
}

static int admin_wait(const char *bootstrap, long timeout_ms)
{
    struct kafka_opts o = {.bootstrap = bootstrap, .client_id = "stock-alerts-admin"};
    char err[KAFKA_ERR_MAX];
    int64_t deadline = time_mono_ms() + timeout_ms;
    rd_kafka_t *rk = kafka_producer_new(&o, err, sizeof(err));
    int rc = 1;

    if (rk == NULL) {
        fprintf(stderr, "kafka-admin: %s\n", err);
        return 1;
    }
    while (time_mono_ms() < deadline) {
        if (kafka_ping(rk, 1000) == 0) {
            rc = 0;
            break;
        }
        time_sleep_ms(200);
    }
    kafka_producer_close(rk, 1000);
    return rc;
}

int main(int argc, char **argv)
{
    const char *topics[ADMIN_TOPICS_MAX + 1];
    const char *bootstrap = NULL;
    const char *cmd;
    long partitions = 6;
    long replication = 1;
    long min_isr = 0;
    long timeout_ms = 30000;
    int ntopics = 0;
    char err[KAFKA_ERR_MAX];

    log_init("kafka-admin", LOG_LVL_ERROR);
    if (argc < 2) {
        admin_usage();
        return 2;
    }
    cmd = argv[1];
    if (strcmp(cmd, "topics") == 0 && argc == 2) {
        for (int i = 0; contract_topics[i] != NULL; i++)
            printf("%s\n", contract_topics[i]);
        return 0;
    }
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--bootstrap") == 0 && i + 1 < argc) {
            bootstrap = argv[++i];
        } else if (strcmp(argv[i], "--partitions") == 0 && i + 1 < argc) {
            if (config_long(argv[++i], 1, 1000, &partitions) != 0) {
                fprintf(stderr, "kafka-admin: --partitions must be 1..1000\n");
                return 2;
            }
        } else if (strcmp(argv[i], "--replication-factor") == 0 && i + 1 < argc) {
            if (config_long(argv[++i], 1, 9, &replication) != 0) {
                fprintf(stderr, "kafka-admin: --replication-factor must be 1..9\n");
                return 2;
            }
        } else if (strcmp(argv[i], "--min-insync-replicas") == 0 && i + 1 < argc) {
            if (config_long(argv[++i], 1, 9, &min_isr) != 0) {
                fprintf(stderr, "kafka-admin: --min-insync-replicas must be 1..9\n");
                return 2;
            }
        } else if (strcmp(argv[i], "--timeout-ms") == 0 && i + 1 < argc) {
            if (config_long(argv[++i], 100, 600000, &timeout_ms) != 0) {
                fprintf(stderr, "kafka-admin: --timeout-ms must be 100..600000\n");
                return 2;
            }
        } else if (argv[i][0] != '-' && ntopics < ADMIN_TOPICS_MAX) {
            topics[ntopics++] = argv[i];
        } else {
            admin_usage();
            return 2;
        }
    }
    if (ntopics == 0) {
        for (; contract_topics[ntopics] != NULL && ntopics < ADMIN_TOPICS_MAX; ntopics++)
            topics[ntopics] = contract_topics[ntopics];
    }
    topics[ntopics] = NULL;
    if (bootstrap == NULL) {
        admin_usage();
        return 2;
    }
    if (strcmp(cmd, "wait") == 0)
        return admin_wait(bootstrap, timeout_ms);
    if (strcmp(cmd, "create-topics") != 0) {
        admin_usage();
        return 2;
    }
    if (kafka_create_topics_replicated(bootstrap, topics, (int)partitions, (int)replication,
                                       (int)min_isr, (int)timeout_ms, err, sizeof(err)) != 0) {
        fprintf(stderr, "kafka-admin: %s\n", err);
        return 1;
    }
    printf("topics ready:");
    for (int i = 0; i < ntopics; i++)
        printf(" %s", topics[i]);
    printf(" (partitions %ld, replication factor %ld)\n", partitions, replication);
    return 0;
}
