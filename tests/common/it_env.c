/* it_env: integration-test helpers. The harness's Redis is stopped and
 * started only through scripts/redis-ctl, the script ./stack uses, so its
 * pidfile stays right and ./stack stops whatever a test left running. */
#include "it_env.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

const char *it_kafka_bootstrap(void)
{
    const char *v = getenv("TEST_KAFKA_BOOTSTRAP");
    return v != NULL && *v != '\0' ? v : NULL;
}

void it_unique_name(char *out, size_t outlen, const char *prefix)
{
    snprintf(out, outlen, "%s-%d-%lld", prefix, (int)getpid(), (long long)time(NULL));
}

static const char *it_env_get(const char *name)
{
    const char *v = getenv(name);
    return v != NULL && *v != '\0' ? v : NULL;
}

int it_redis_port(void)
{
    const char *port = it_env_get("TEST_REDIS_PORT");
    char *end = NULL;
    long p;

    if (port == NULL || it_env_get("STACK_ROOT") == NULL || it_env_get("TEST_REDIS_DIR") == NULL)
        return -1;
    p = strtol(port, &end, 10);
    if (end == port || *end != '\0' || p < 1 || p > 65535)
        return -1;
    return (int)p;
}

/* Runs scripts/redis-ctl CMD PORT DIR and waits for it. */
static int it_redis_ctl(const char *cmd)
{
    char script[4096];
    int status = 0;
    pid_t pid;

    if (it_redis_port() < 0)
        return -1;
    snprintf(script, sizeof(script), "%s/scripts/redis-ctl", getenv("STACK_ROOT"));
    pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        execl(script, script, cmd, getenv("TEST_REDIS_PORT"), getenv("TEST_REDIS_DIR"),
              (char *)NULL);
        _exit(127);
    }
    if (waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

int it_redis_stop(void)
{
    return it_redis_ctl("stop");
}

int it_redis_kill(void)
{
    return it_redis_ctl("kill");
}

int it_redis_start(void)
{
    return it_redis_ctl("start");
}

int it_redis_answers(void)
{
    struct timeval tv = {0, 200000};
    redisContext *c;
    redisReply *r;
    int ok = 0;

    if (it_redis_port() < 0)
        return 0;
    c = redisConnectWithTimeout("127.0.0.1", it_redis_port(), tv);
    if (c == NULL)
        return 0;
    if (!c->err) {
        r = redisCommand(c, "PING");
        ok = r != NULL && r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0;
        if (r != NULL)
            freeReplyObject(r);
    }
    redisFree(c);
    return ok;
}
