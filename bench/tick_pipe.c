/* tick_pipe: publishes each line of stdin ("KEY<TAB>JSON") to a Kafka topic
 * at once (linger 0), for the end-to-end alert latency benchmark: kcat -P
 * buffers its input, which would add its own delay to every sample.
 *
 *   tick_pipe BOOTSTRAP TOPIC    (exit 0 at EOF after a flush, 1 on error)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafka.h"
#include "log.h"

#define TICK_PIPE_LINE_MAX 8192

int main(int argc, char **argv)
{
    struct kafka_opts ko = {.client_id = "tick_pipe"};
    char err[KAFKA_ERR_MAX];
    char line[TICK_PIPE_LINE_MAX];
    rd_kafka_t *rk;
    int failed = 0;

    log_init("tick_pipe", LOG_LVL_WARN);
    if (argc != 3) {
        fprintf(stderr, "usage: tick_pipe BOOTSTRAP TOPIC < lines of KEY<TAB>JSON\n");
        return 2;
    }
    ko.bootstrap = argv[1];
    rk = kafka_producer_new(&ko, err, sizeof(err));
    if (rk == NULL) {
        log_error("kafka producer failed", "error=\"%s\"", err);
        return 1;
    }
    setvbuf(stdin, NULL, _IONBF, 0);
    while (fgets(line, sizeof(line), stdin) != NULL) {
        char *tab = strchr(line, '\t');
        size_t len = strcspn(line, "\n");
        if (tab == NULL || (size_t)(tab - line) >= len)
            continue;
        line[len] = '\0';
        if (kafka_produce(rk, argv[2], line, (size_t)(tab - line), tab + 1, strlen(tab + 1), NULL,
                          1000, NULL) != 0)
            failed++;
        rd_kafka_poll(rk, 0);
    }
    return kafka_producer_close(rk, 5000) == 0 && failed == 0 ? 0 : 1;
}
